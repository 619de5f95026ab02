//! Asking the API server who a bearer token belongs to: TokenReviews (ServiceAccount
//! tokens, and whatever else the cluster's authenticators accept, such as OIDC).

use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec};
use kube::api::PostParams;
use kube::{Api, Client};
use thiserror::Error;

/// A token that could not be reviewed or was not accepted.
#[derive(Debug, Error)]
pub enum TokenReviewError {
    /// The API server could not be asked.
    #[error("the TokenReview failed: {0}")]
    Request(#[source] kube::Error),
    /// The API server did not authenticate the token.
    #[error("the token was not accepted by the cluster{}", .0.as_deref().map(|e| format!(": {e}")).unwrap_or_default())]
    Rejected(Option<String>),
}

/// The identity a token authenticates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reviewed {
    /// User name, e.g. `system:serviceaccount:analytics:reader`.
    pub username: String,
    /// Groups.
    pub groups: Vec<String>,
}

/// Reviews tokens through `client` (its identity needs `create` on tokenreviews).
#[derive(Clone)]
pub struct TokenReviews {
    client: Client,
}

impl TokenReviews {
    /// Reviews through `client`.
    pub fn new(client: Client) -> Self {
        TokenReviews { client }
    }

    /// Who `token` is.
    pub async fn review(&self, token: &str) -> Result<Reviewed, TokenReviewError> {
        let review = TokenReview {
            spec: TokenReviewSpec {
                token: Some(token.to_string()),
                audiences: None,
            },
            ..TokenReview::default()
        };
        let api: Api<TokenReview> = Api::all(self.client.clone());
        let answer = api
            .create(&PostParams::default(), &review)
            .await
            .map_err(TokenReviewError::Request)?;
        let status = answer.status.unwrap_or_default();
        match (status.authenticated, status.user) {
            (Some(true), Some(user)) => Ok(Reviewed {
                username: user.username.unwrap_or_default(),
                groups: user.groups.unwrap_or_default(),
            }),
            _ => Err(TokenReviewError::Rejected(status.error)),
        }
    }
}
