//! The HTTPS server: routes, body limits and hot-reloadable TLS. Handlers only decode and
//! call [`crate::review`].

use crate::review::{review, Endpoint};
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use std::sync::Arc;

/// Largest AdmissionReview accepted; the API server's own object limit is ~1.5 MiB.
pub const BODY_LIMIT: usize = 3 * 1024 * 1024;

/// Paths of the webhooks.
pub const MUTATE_PRODUCTS_PATH: &str = "/mutate/dataproducts";
/// Path of the DataProduct validating webhook.
pub const VALIDATE_PRODUCTS_PATH: &str = "/validate/dataproducts";
/// Path of the GovernancePolicy validating webhook.
pub const VALIDATE_POLICIES_PATH: &str = "/validate/governancepolicies";

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
