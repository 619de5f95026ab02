//! The HTTPS server: routes, body limits and hot-reloadable TLS. Handlers only decode and
//! call [`crate::review`].

use crate::access::{admit, ApproverCheck};
use crate::review::{review, Endpoint, ReviewError};
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use kube::core::admission::{AdmissionRequest, AdmissionReview};
use kube::core::DynamicObject;
use std::sync::Arc;

/// Largest AdmissionReview accepted; the API server's own object limit is ~1.5 MiB.
pub const BODY_LIMIT: usize = 3 * 1024 * 1024;

/// Paths of the webhooks.
pub const MUTATE_PRODUCTS_PATH: &str = "/mutate/dataproducts";
/// Path of the DataProduct validating webhook.
pub const VALIDATE_PRODUCTS_PATH: &str = "/validate/dataproducts";
/// Path of the GovernancePolicy validating webhook.
pub const VALIDATE_POLICIES_PATH: &str = "/validate/governancepolicies";

/// Path of the AccessRequest mutating webhook.
pub const MUTATE_ACCESS_REQUESTS_PATH: &str = "/mutate/accessrequests";

/// Asks the cluster whether an approver may approve a product (a SubjectAccessReview);
/// `Err` says why it could not be asked.
#[async_trait::async_trait]
pub trait ApproverAuthorizer: Send + Sync {
    /// Whether `check.user` may `approve` the product.
    async fn may_approve(&self, check: &ApproverCheck) -> Result<bool, String>;
}

/// What the handlers share: the engine built from the policies in force.
pub type AdmissionState = meshplane_governance::SharedEngine;

/// The webhook routes (public so tests call them without a network).
pub fn router(state: Arc<AdmissionState>) -> Router {
    Router::new()
        .route(
            MUTATE_PRODUCTS_PATH,
            post(|s, b| handle(s, b, Endpoint::MutateProduct)),
        )
        .route(
            VALIDATE_PRODUCTS_PATH,
            post(|s, b| handle(s, b, Endpoint::ValidateProduct)),
        )
        .route(
            VALIDATE_POLICIES_PATH,
            post(|s, b| handle(s, b, Endpoint::ValidatePolicy)),
        )
        .route("/healthz", get(|| async { "ok" }))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}

async fn handle(
    State(state): State<Arc<AdmissionState>>,
    body: Bytes,
    endpoint: Endpoint,
) -> Response {
    let engine = state.engine();
    match review(&body, endpoint, &engine) {
        Ok(answer) => match serde_json::to_vec(&answer) {
            Ok(json) => ([(header::CONTENT_TYPE, "application/json")], json).into_response(),
            Err(e) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("failed to encode the answer: {e}"),
            )
                .into_response(),
        },
        Err(e) => {
            tracing::warn!(error = %e, ?endpoint, "bad admission request");
            (StatusCode::BAD_REQUEST, e.to_string()).into_response()
        }
    }
}

/// The AccessRequest webhook's route, which checks approvers with `authorizer`.
pub fn access_router(authorizer: Arc<dyn ApproverAuthorizer>) -> Router {
    Router::new()
        .route(MUTATE_ACCESS_REQUESTS_PATH, post(handle_access))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(authorizer)
}

async fn handle_access(
    State(authorizer): State<Arc<dyn ApproverAuthorizer>>,
    body: Bytes,
) -> Response {
    let request: Result<AdmissionRequest<DynamicObject>, ReviewError> =
        serde_json::from_slice::<AdmissionReview<DynamicObject>>(&body)
            .map_err(ReviewError::Malformed)
            .and_then(|r| r.try_into().map_err(|_| ReviewError::NoRequest));
    let request = match request {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, "bad admission request for an AccessRequest");
            return (StatusCode::BAD_REQUEST, e.to_string()).into_response();
        }
    };
    let admission = admit(&request);
    let may_approve = match admission.check() {
        Some(check) => authorizer.may_approve(check).await,
        None => Ok(true),
    };
    let answer = admission.finish(may_approve).into_review();
    match serde_json::to_vec(&answer) {
        Ok(json) => ([(header::CONTENT_TYPE, "application/json")], json).into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("failed to encode the answer: {e}"),
        )
            .into_response(),
    }
}
