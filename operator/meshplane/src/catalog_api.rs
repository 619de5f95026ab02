//! The catalog's HTTP API and web UI, served by every controller replica from its watch
//! caches. Every answer is JSON; every refusal is `{"error": "..."}` with 400 or 404.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use meshplane_api::load::{load_all, Resource};
use meshplane_catalog::lineage::MAX_DEPTH;
use meshplane_catalog::query::{ImpactQuery, SearchQuery};
use meshplane_catalog::{odcs, openlineage, Catalog, ProductId, QueryError};
use meshplane_effects::catalog_feed::SharedCatalog;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::RwLockReadGuard;

/// Largest policy document accepted by the policy impact endpoint.
const MAX_POLICY_BYTES: usize = 256 * 1024;

/// What the handlers share.
#[derive(Clone)]
pub struct CatalogState {
    /// The catalog, fed by the watches.
    pub catalog: SharedCatalog,
    /// Dataset namespace of Kafka topics in OpenLineage events.
    pub kafka_namespace: String,
}

impl CatalogState {
    fn read(&self) -> RwLockReadGuard<'_, Catalog> {
        self.catalog
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

type Pairs = Result<Query<Vec<(String, String)>>, QueryRejection>;

/// A refusal.
pub struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(serde_json::json!({ "error": self.1 }))).into_response()
    }
}

impl From<QueryError> for ApiError {
    fn from(e: QueryError) -> ApiError {
        ApiError(StatusCode::BAD_REQUEST, e.to_string())
    }
}

fn pairs(query: Pairs) -> Result<Vec<(String, String)>, ApiError> {
    query.map(|Query(p)| p).map_err(|e| {
        ApiError(
            StatusCode::BAD_REQUEST,
            format!("malformed query string: {e}"),
        )
    })
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

/// The routes: UI at `/`, API under `/api/`.
pub fn router(state: CatalogState) -> Router {
    Router::new()
        .route(
            "/",
            get(|| async { html(include_str!("../ui/index.html")) }),
        )
        .route(
            "/ui/app.js",
            get(|| async {
                asset(
                    "text/javascript; charset=utf-8",
                    include_str!("../ui/app.js"),
                )
            }),
        )
        .route(
            "/ui/style.css",
            get(|| async { asset("text/css; charset=utf-8", include_str!("../ui/style.css")) }),
        )
        .route("/api/search", get(search))
        .route("/api/products/{namespace}/{name}", get(product))
        .route("/api/products/{namespace}/{name}/contract", get(contract))
        .route("/api/lineage", get(lineage))
        .route("/api/lineage/openlineage", get(openlineage_events))
        .route("/api/impact", get(impact))
        .route("/api/impact/policy", post(policy_impact))
        .route("/api/compliance", get(compliance))
        .fallback(|| async { ApiError(StatusCode::NOT_FOUND, "no such page or endpoint".into()) })
        .with_state(state)
}

fn html(body: &'static str) -> Response {
    asset("text/html; charset=utf-8", body)
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

fn product_id(namespace: String, name: String) -> ProductId {
    ProductId::new(namespace, name)
}

fn not_found(id: &ProductId) -> ApiError {
    ApiError(
        StatusCode::NOT_FOUND,
        format!("no DataProduct {id} in the catalog"),
    )
}

async fn product(
    State(s): State<CatalogState>,
    Path((namespace, name)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let id = product_id(namespace, name);
    let page = s.read().page(&id, now()).ok_or_else(|| not_found(&id))?;
    Ok(Json(page).into_response())
}

async fn contract(
    State(s): State<CatalogState>,
    Path((namespace, name)): Path<(String, String)>,
    query: Pairs,
) -> Result<Response, ApiError> {
    let pairs = pairs(query)?;
    let mut yaml = false;
    for (key, value) in &pairs {
        match (key.as_str(), value.as_str()) {
            ("format", "yaml") => yaml = true,
            ("format", "json") => yaml = false,
            ("format", other) => {
                return Err(bad(format!(
                    "parameter `format`: `{other}` is not json or yaml"
                )))
            }
            (other, _) => return Err(bad(format!("unknown parameter `{other}`; known: format"))),
        }
    }
    let id = product_id(namespace, name);
    let doc = s
        .read()
        .get(&id)
        .map(odcs::contract)
        .ok_or_else(|| not_found(&id))?;
    if yaml {
        let text = serde_yaml::to_string(&doc)
            .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
        return Ok(([(header::CONTENT_TYPE, "application/yaml")], text).into_response());
    }
    Ok(Json(doc).into_response())
}

fn bad(message: String) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, message)
}

async fn lineage(State(s): State<CatalogState>, query: Pairs) -> Result<Response, ApiError> {
    let pairs = pairs(query)?;
    let mut node = None;
    let mut depth = 5usize;
    for (key, value) in &pairs {
        match key.as_str() {
            "node" if value.len() <= 512 => node = Some(value.clone()),
            "node" => return Err(bad("parameter `node` is longer than 512 characters".into())),
            "product" => match ProductId::parse(value) {
                Some(id) => node = Some(format!("product:{id}")),
                None => {
                    return Err(bad(format!(
                        "parameter `product`: `{value}` is not namespace/name"
                    )))
                }
            },
            "depth" => {
                depth = value
                    .parse()
                    .ok()
                    .filter(|d| (1..=MAX_DEPTH).contains(d))
                    .ok_or_else(|| {
                        bad(format!(
                            "parameter `depth`: `{value}` is not a whole number in 1..={MAX_DEPTH}"
                        ))
                    })?;
            }
            other => {
                return Err(bad(format!(
                    "unknown parameter `{other}`; known: node, product, depth"
                )))
            }
        }
    }
    let node = node.ok_or_else(|| {
        bad("give `node` (e.g. topic:orders.events) or `product` (namespace/name)".into())
    })?;
    let view = s.read().lineage(&node, depth).ok_or_else(|| {
        ApiError(
            StatusCode::NOT_FOUND,
            format!("no product mentions `{node}`"),
        )
    })?;
    Ok(Json(view).into_response())
}

async fn openlineage_events(
    State(s): State<CatalogState>,
    query: Pairs,
) -> Result<Response, ApiError> {
    let pairs = pairs(query)?;
    let mut only = None;
    for (key, value) in &pairs {
        match key.as_str() {
            "product" => {
                only = Some(ProductId::parse(value).ok_or_else(|| {
                    bad(format!(
                        "parameter `product`: `{value}` is not namespace/name"
                    ))
                })?)
            }
            other => return Err(bad(format!("unknown parameter `{other}`; known: product"))),
        }
    }
    let catalog = s.read();
    if let Some(id) = &only {
        if catalog.get(id).is_none() {
            return Err(not_found(id));
        }
    }
    let ns = openlineage::Namespaces {
        kafka: s.kafka_namespace.clone(),
    };
    Ok(Json(openlineage::job_events(
        &catalog,
        only.as_ref(),
        &now_rfc3339(),
        &ns,
    ))
    .into_response())
}

async fn impact(State(s): State<CatalogState>, query: Pairs) -> Result<Response, ApiError> {
    let pairs = pairs(query)?;
    let query = ImpactQuery::from_pairs(borrowed(&pairs))?;
    Ok(Json(s.read().impact(&query)).into_response())
}

async fn policy_impact(State(s): State<CatalogState>, body: String) -> Result<Response, ApiError> {
    if body.len() > MAX_POLICY_BYTES {
        return Err(bad(format!(
            "the policy is {} bytes; at most {MAX_POLICY_BYTES} are accepted",
            body.len()
        )));
    }
    let resources = load_all(&body, "request body").map_err(|e| bad(e.to_string()))?;
    let policy = match resources.as_slice() {
        [Resource::GovernancePolicy(p)] => p,
        _ => {
            return Err(bad(
                "send exactly one GovernancePolicy (YAML or JSON)".into()
            ))
        }
    };
    let problems = meshplane_governance::validate_policy(policy);
    if !problems.is_empty() {
        let list: Vec<String> = problems.iter().map(ToString::to_string).collect();
        return Err(bad(format!("the policy is invalid: {}", list.join("; "))));
    }
    let impact = s
        .read()
        .policy_impact(policy)
        .map_err(|e| bad(e.to_string()))?;
    Ok(Json(impact).into_response())
}

/// The compliance view: products by compliance tag and classification, and what the
/// policies in force reject.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Compliance {
    products: usize,
    by_compliance_tag: BTreeMap<String, Vec<String>>,
    by_classification: BTreeMap<String, Vec<String>>,
    with_pii: Vec<String>,
    non_compliant: Vec<NonCompliant>,
}

#[derive(Serialize)]
struct NonCompliant {
    id: String,
    violations: Vec<String>,
}

async fn compliance(State(s): State<CatalogState>, query: Pairs) -> Result<Response, ApiError> {
    if let Some((key, _)) = pairs(query)?.first() {
        return Err(bad(format!(
            "unknown parameter `{key}`; this endpoint takes none"
        )));
    }
    let catalog = s.read();
    let mut view = Compliance {
        products: catalog.len(),
        by_compliance_tag: BTreeMap::new(),
        by_classification: BTreeMap::new(),
        with_pii: vec![],
        non_compliant: vec![],
    };
    for entry in catalog.entries() {
        let id = entry.id.to_string();
        for tag in &entry.compliance_tags {
            view.by_compliance_tag
                .entry(tag.clone())
                .or_default()
                .push(id.clone());
        }
        view.by_classification
            .entry(entry.classification.as_str().to_owned())
            .or_default()
            .push(id.clone());
        if entry.has_pii {
            view.with_pii.push(id.clone());
        }
        if !entry.violations.is_empty() {
            let violations = entry
                .violations
                .iter()
                .map(|f| format!("{}: {}", f.path, f.message))
                .collect();
            view.non_compliant.push(NonCompliant { id, violations });
        }
    }
    for list in view
        .by_compliance_tag
        .values_mut()
        .chain(view.by_classification.values_mut())
    {
        list.sort();
    }
    view.with_pii.sort();
    view.non_compliant.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(Json(view).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    const EXAMPLES: [&str; 6] = [
        include_str!("../../../examples/orders.yaml"),
        include_str!("../../../examples/payments.yaml"),
        include_str!("../../../examples/customer-profile.yaml"),
        include_str!("../../../examples/exchange-rates.yaml"),
        include_str!("../../../examples/daily-revenue.yaml"),
        include_str!("../../../examples/policy.yaml"),
    ];

    fn app() -> Router {
        let mut catalog = Catalog::new();
        let mut policies = Vec::new();
        for text in EXAMPLES
            .iter()
            .chain([&include_str!("../tests/fixtures/hostile-product.json")])
        {
            for r in load_all(text, "example").unwrap() {
                match r {
                    Resource::DataProduct(p) => catalog.upsert(*p),
                    Resource::GovernancePolicy(p) => policies.push(*p),
                }
            }
        }
        catalog.set_policies(&policies).unwrap();
        router(CatalogState {
            catalog: std::sync::Arc::new(std::sync::RwLock::new(catalog)),
            kafka_namespace: "kafka://kafka:9092".into(),
        })
    }

    async fn call(request: Request<Body>) -> (StatusCode, Value) {
        let response = app().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    async fn get_json(uri: &str) -> (StatusCode, Value) {
        call(Request::get(uri).body(Body::empty()).unwrap()).await
    }

    use serde_json::Value;

    #[tokio::test]
    async fn search_answers_with_ranked_hits() {
        let (status, body) = get_json("/api/search?q=payment").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["hits"][0]["id"], "payments/payment-failed-events");
        assert_eq!(body["hits"][0]["hasPii"], true);
    }

    #[tokio::test]
    async fn bad_questions_get_400_naming_the_problem() {
        let (status, body) = get_json("/api/search?colour=red").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(
            body["error"]
                .as_str()
                .unwrap()
                .contains("unknown parameter `colour`"),
            "{body}"
        );
        let (status, body) = get_json("/api/impact?retentionOver=soon").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(
            body["error"]
                .as_str()
                .unwrap()
                .starts_with("parameter `retentionOver`"),
            "{body}"
        );
        let long = "a".repeat(300);
        let (status, _) = get_json(&format!("/api/search?q={long}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let (status, body) = get_json("/api/lineage?depth=3").await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    }

    #[tokio::test]
    async fn unknown_products_and_paths_get_404() {
        let (status, body) = get_json("/api/products/orders/nope").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(body["error"], "no DataProduct orders/nope in the catalog");
        assert_eq!(get_json("/api/nothing").await.0, StatusCode::NOT_FOUND);
        assert_eq!(
            get_json("/api/lineage?node=topic:unknown").await.0,
            StatusCode::NOT_FOUND
        );
    }

    #[tokio::test]
    async fn the_product_page_and_contract_are_served() {
        let (status, page) = get_json("/api/products/orders/orders").await;
        assert_eq!(status, StatusCode::OK);
        let email = page["fields"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == "customer_email")
            .unwrap();
        assert_eq!(email["masking"], "hash");
        assert_eq!(page["consumers"][0], "finance/daily-revenue");
        let (status, contract) = get_json("/api/products/orders/orders/contract").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(contract["kind"], "DataContract");
    }

    #[tokio::test]
    async fn impact_and_lineage_answer_from_metadata() {
        let (_, body) = get_json("/api/impact?pii=true&compliance=gdpr").await;
        let ids: Vec<&str> = body["products"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].as_str().unwrap())
            .collect();
        assert_eq!(
            ids,
            [
                "customers/customer-profile",
                "orders/orders",
                "payments/payment-failed-events"
            ]
        );
        let (_, view) = get_json("/api/lineage?node=topic%3Aorders.events").await;
        let ids: Vec<&str> = view["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["id"].as_str().unwrap())
            .collect();
        assert_eq!(
            ids,
            [
                "topic:orders.events",
                "product:orders/orders",
                "product:finance/daily-revenue"
            ]
        );
        let (status, events) =
            get_json("/api/lineage/openlineage?product=finance/daily-revenue").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(events.as_array().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_proposed_policy_is_checked_against_every_product() {
        let policy = include_str!("../../catalog/tests/fixtures/pii-30-days.yaml");
        let (status, body) = call(
            Request::post("/api/impact/policy")
                .body(Body::from(policy))
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["rejected"].as_array().unwrap().len(), 3);
        let (status, body) = call(
            Request::post("/api/impact/policy")
                .body(Body::from("kind: ["))
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(
            body["error"].as_str().unwrap().contains("request body"),
            "{body}"
        );
    }

    #[tokio::test]
    async fn the_ui_is_served_with_a_strict_content_security_policy() {
        let response = app()
            .oneshot(Request::get("/").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let csp = response.headers()[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap();
        assert!(
            csp.contains("default-src 'self'") && !csp.contains("unsafe-inline"),
            "{csp}"
        );
        let (status, compliance) = get_json("/api/compliance").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(compliance["products"], 6);
    }
}
