//! The HTTP API, called with `oneshot` on the router (no network): status codes, JSON
//! answers and refusals over the example products, policies and a hostile product.

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use meshplane_api::load::{load_all, Resource};
use meshplane_catalog::{router, Catalog, CatalogState, Ui};
use serde_json::Value;
use tower::ServiceExt;

const EXAMPLES: [&str; 6] = [
    include_str!("../../../examples/orders.yaml"),
    include_str!("../../../examples/payments.yaml"),
    include_str!("../../../examples/customer-profile.yaml"),
    include_str!("../../../examples/exchange-rates.yaml"),
    include_str!("../../../examples/daily-revenue.yaml"),
    include_str!("../../../examples/policy.yaml"),
];

/// Markup in every text field; e2e/tests/test_catalog.py applies the same file.
const HOSTILE: &str = include_str!("../../meshplane/tests/fixtures/hostile-product.json");

/// The handlers serve whatever UI they are given; these stand-ins are enough to check
/// the headers.
const UI: Ui = Ui {
    index_html: "<!doctype html><title>catalog</title>",
    app_js: "\"use strict\";",
    style_css: "body {}",
};

fn app() -> Router {
    let mut catalog = Catalog::new();
    let mut policies = Vec::new();
    for text in EXAMPLES.iter().chain([&HOSTILE]) {
        for r in load_all(text, "example").unwrap() {
            match r {
                Resource::DataProduct(p) => catalog.upsert(*p),
                Resource::GovernancePolicy(p) => policies.push(*p),
            }
        }
    }
    catalog.set_policies(&policies).unwrap();
    router(
        CatalogState {
            catalog: std::sync::Arc::new(std::sync::RwLock::new(catalog)),
            kafka_namespace: "kafka://kafka:9092".into(),
        },
        UI,
    )
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

async fn get_text(uri: &str) -> (StatusCode, String, String) {
    let response = app()
        .oneshot(Request::get(uri).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let content_type = response.headers()[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .to_owned();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        content_type,
        String::from_utf8(bytes.to_vec()).unwrap(),
    )
}

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
async fn the_trino_rules_name_the_catalog_and_platform_user_given_literally() {
    let (status, body) =
        get_json("/api/access/trino-rules?catalog=lake&platformUser=svc.maint").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body["catalogs"][0],
        serde_json::json!({"user": "svc\\.maint", "catalog": "lake", "allow": "all"})
    );
    // No product has a table in this catalog's fixtures: only the platform's rule.
    assert_eq!(body["tables"].as_array().unwrap().len(), 1, "{body}");
}

#[tokio::test]
async fn every_endpoint_refuses_parameters_it_does_not_define() {
    for (uri, message) in [
        (
            "/api/lineage?node=topic:orders.events&depth=99",
            "parameter `depth`: `99` is not a whole number in 1..=32",
        ),
        (
            "/api/lineage/openlineage?product=orders",
            "parameter `product`: `orders` is not namespace/name",
        ),
        (
            "/api/products/orders/orders/contract?format=xml",
            "parameter `format`: `xml` is not json or yaml",
        ),
        (
            "/api/compliance?q=x",
            "unknown parameter `q`; this endpoint takes none",
        ),
        (
            "/api/access/trino-rules?catalog=",
            "parameter `catalog`: must not be empty",
        ),
        (
            "/api/access/trino-rules?user=x",
            "unknown parameter `user`; known: catalog, platformUser",
        ),
    ] {
        let (status, body) = get_json(uri).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}");
        assert_eq!(body, serde_json::json!({ "error": message }), "{uri}");
    }
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
    let (status, body) = get_json("/api/lineage/openlineage?product=orders/nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"], "no DataProduct orders/nope in the catalog");
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
    let (status, content_type, yaml) =
        get_text("/api/products/orders/orders/contract?format=yaml").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type, "application/yaml");
    assert!(yaml.contains("kind: DataContract"), "{yaml}");
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
    let (status, events) = get_json("/api/lineage/openlineage?product=finance/daily-revenue").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(events.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_proposed_policy_is_checked_against_every_product() {
    let policy = include_str!("fixtures/pii-30-days.yaml");
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
    let (status, content_type, script) = get_text("/ui/app.js").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type, "text/javascript; charset=utf-8");
    assert_eq!(script, UI.app_js);
    let (status, compliance) = get_json("/api/compliance").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(compliance["products"], 6);
}
