//! The catalog's HTTP API and web UI: routes and handlers over a shared [`Catalog`].
//! Handlers only extract the request (path, query pairs, body), call [`crate::query`],
//! [`crate::proposal`] and the catalog, and encode the answer. Every answer is JSON; every
//! refusal is `{"error": "..."}` ([`ErrorBody`]) with 400 or 404.
//!
//! The only module of the crate that knows HTTP, and the only one that reads the clock
//! (product pages measure freshness now; OpenLineage events carry the time they were made).

use crate::entry::ProductId;
use crate::proposal::{self, ProposalError};
use crate::query::{
    self, ContractFormat, ImpactQuery, LineageQuery, OpenLineageQuery, QueryError, SearchQuery,
    TrinoRulesQuery,
};
use crate::views::ErrorBody;
use crate::{odcs, openlineage, Catalog};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use meshplane_governance::PolicyError;
use std::sync::{Arc, RwLock, RwLockReadGuard};
use thiserror::Error;

/// The web UI's files. The binary that ships them embeds them and hands them over.
#[derive(Clone, Copy, Debug)]
pub struct Ui {
    /// Served at `/`.
    pub index_html: &'static str,
    /// Served at `/ui/app.js`.
    pub app_js: &'static str,
    /// Served at `/ui/style.css`.
    pub style_css: &'static str,
}

/// What the handlers share.
#[derive(Clone)]
pub struct CatalogState {
    /// The catalog, fed by the controller's watches.
    pub catalog: Arc<RwLock<Catalog>>,
    /// Dataset namespace of Kafka topics in OpenLineage events.
    pub kafka_namespace: String,
}

impl CatalogState {
    fn read(&self) -> RwLockReadGuard<'_, Catalog> {
        // A panicked writer leaves a catalog that is still whole (each change is one call).
        self.catalog
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Why a request is refused.
#[derive(Debug, Error)]
pub enum ApiError {
    /// The query string does not decode into pairs.
    #[error("malformed query string: {0}")]
    MalformedQuery(QueryRejection),
    /// A parameter is unknown or its value malformed.
    #[error(transparent)]
    Query(#[from] QueryError),
    /// The proposed policy cannot be read.
    #[error(transparent)]
    Proposal(#[from] ProposalError),
    /// The proposed policy cannot be compiled.
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// No such product.
    #[error("no DataProduct {0} in the catalog")]
    NoProduct(ProductId),
    /// No product mentions the lineage node.
    #[error("no product mentions `{0}`")]
    NoNode(String),
    /// No route matches.
    #[error("no such page or endpoint")]
    NoRoute,
    /// The contract does not render as YAML.
    #[error(transparent)]
    Yaml(#[from] serde_yaml::Error),
}

impl ApiError {
    /// The status answered.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::MalformedQuery(_)
            | ApiError::Query(_)
            | ApiError::Proposal(_)
            | ApiError::Policy(_) => StatusCode::BAD_REQUEST,
            ApiError::NoProduct(_) | ApiError::NoNode(_) | ApiError::NoRoute => {
                StatusCode::NOT_FOUND
            }
            ApiError::Yaml(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: self.to_string(),
        };
        (self.status(), Json(body)).into_response()
    }
}

/// The query string as pairs, in order; a malformed one is refused rather than ignored.
type Pairs = Result<Query<Vec<(String, String)>>, QueryRejection>;

fn pairs(query: Pairs) -> Result<Vec<(String, String)>, ApiError> {
    query.map(|Query(p)| p).map_err(ApiError::MalformedQuery)
}

fn borrowed(pairs: &[(String, String)]) -> impl Iterator<Item = (&str, &str)> {
    pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn now_rfc3339() -> String {
    jiff::Timestamp::now().to_string()
}

/// The routes: UI at `/`, API under `/api/` (public so tests call them without a network).
pub fn router(state: CatalogState, ui: Ui) -> Router {
    Router::new()
        .route(
            "/",
            get(move || async move { asset("text/html; charset=utf-8", ui.index_html) }),
        )
        .route(
            "/ui/app.js",
            get(move || async move { asset("text/javascript; charset=utf-8", ui.app_js) }),
        )
        .route(
            "/ui/style.css",
            get(move || async move { asset("text/css; charset=utf-8", ui.style_css) }),
        )
        .route("/api/search", get(search))
        .route("/api/products/{namespace}/{name}", get(product))
        .route("/api/products/{namespace}/{name}/contract", get(contract))
        .route("/api/lineage", get(lineage))
        .route("/api/lineage/openlineage", get(openlineage_events))
        .route("/api/impact", get(impact))
        .route("/api/impact/policy", post(policy_impact))
        .route("/api/compliance", get(compliance))
        .route("/api/access/trino-rules", get(trino_rules))
        .fallback(|| async { ApiError::NoRoute })
        .with_state(state)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            // The UI builds its DOM with textContent; the policy forbids inline script anyway.
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; img-src 'self' data:; style-src 'self'",
            ),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}

async fn search(State(s): State<CatalogState>, query: Pairs) -> Result<Response, ApiError> {
    let pairs = pairs(query)?;
    let query = SearchQuery::from_pairs(borrowed(&pairs))?;
    Ok(Json(s.read().search(&query)).into_response())
}

async fn product(
    State(s): State<CatalogState>,
    Path((namespace, name)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let id = ProductId::new(namespace, name);
    let page = s.read().page(&id, now());
    Ok(Json(page.ok_or(ApiError::NoProduct(id))?).into_response())
}

async fn contract(
    State(s): State<CatalogState>,
    Path((namespace, name)): Path<(String, String)>,
    query: Pairs,
) -> Result<Response, ApiError> {
    let pairs = pairs(query)?;
    let format = ContractFormat::from_pairs(borrowed(&pairs))?;
    let id = ProductId::new(namespace, name);
    let doc = s.read().get(&id).map(odcs::contract);
    let doc = doc.ok_or(ApiError::NoProduct(id))?;
    Ok(match format {
        ContractFormat::Json => Json(doc).into_response(),
        ContractFormat::Yaml => (
            [(header::CONTENT_TYPE, "application/yaml")],
            serde_yaml::to_string(&doc)?,
        )
            .into_response(),
    })
}

async fn lineage(State(s): State<CatalogState>, query: Pairs) -> Result<Response, ApiError> {
    let pairs = pairs(query)?;
    let query = LineageQuery::from_pairs(borrowed(&pairs))?;
    let view = s.read().lineage(&query.node, query.depth);
    Ok(Json(view.ok_or(ApiError::NoNode(query.node))?).into_response())
}

async fn openlineage_events(
    State(s): State<CatalogState>,
    query: Pairs,
) -> Result<Response, ApiError> {
    let pairs = pairs(query)?;
    let query = OpenLineageQuery::from_pairs(borrowed(&pairs))?;
    let catalog = s.read();
    if let Some(id) = &query.product {
        if catalog.get(id).is_none() {
            return Err(ApiError::NoProduct(id.clone()));
        }
    }
    let ns = openlineage::Namespaces {
        kafka: s.kafka_namespace.clone(),
    };
    let events = openlineage::job_events(&catalog, query.product.as_ref(), &now_rfc3339(), &ns);
    Ok(Json(events).into_response())
}

async fn impact(State(s): State<CatalogState>, query: Pairs) -> Result<Response, ApiError> {
    let pairs = pairs(query)?;
    let query = ImpactQuery::from_pairs(borrowed(&pairs))?;
    Ok(Json(s.read().impact(&query)).into_response())
}

async fn policy_impact(State(s): State<CatalogState>, body: String) -> Result<Response, ApiError> {
    let policy = proposal::parse(&body, "request body")?;
    let impact = s.read().policy_impact(&policy)?;
    Ok(Json(impact).into_response())
}

/// The grants as Trino file-based access-control rules (`security.config-file` may be
/// this URL, with `security.refresh-period`).
async fn trino_rules(State(s): State<CatalogState>, query: Pairs) -> Result<Response, ApiError> {
    let query = TrinoRulesQuery::from_pairs(borrowed(&pairs(query)?))?;
    let scope = crate::trino_rules::TrinoRulesScope {
        catalog: query.catalog,
        platform_user: query.platform_user,
    };
    let grants = s.read().trino_grants();
    Ok(Json(crate::trino_rules::rules(&scope, &grants)).into_response())
}

async fn compliance(State(s): State<CatalogState>, query: Pairs) -> Result<Response, ApiError> {
    query::no_parameters(borrowed(&pairs(query)?))?;
    Ok(Json(s.read().compliance()).into_response())
}
