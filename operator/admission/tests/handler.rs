//! The webhook's HTTP handlers on AdmissionReview JSON fixtures, through the public
//! router (no network): what the API server would receive for each request.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use meshplane_admission::server::{
    BODY_LIMIT, MUTATE_PRODUCTS_PATH, VALIDATE_POLICIES_PATH, VALIDATE_PRODUCTS_PATH,
};
use meshplane_admission::{router, AdmissionState};
use meshplane_api::load::{load_all, Resource};
use meshplane_governance::Engine;
use proptest::prelude::*;
use serde_json::Value;
use std::sync::Arc;
use tower::ServiceExt;

fn state() -> Arc<AdmissionState> {
    let policies: Vec<_> = [
        include_str!("../../../examples/policy.yaml"),
        include_str!("../../../examples/audit-policy.yaml"),
    ]
    .iter()
    .flat_map(|t| load_all(t, "policy").unwrap())
    .map(|r| match r {
        Resource::GovernancePolicy(p) => *p,
        Resource::DataProduct(_) => unreachable!(),
    })
    .collect();
    Arc::new(AdmissionState::new(Engine::new(&policies).unwrap()))
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

async fn post(path: &str, body: Vec<u8>) -> (StatusCode, Vec<u8>) {
    let response = router(state())
        .oneshot(
            Request::post(path)
                .header("content-type", "application/json")
                .body(Body::from(body))
                .unwrap(),
        )
        .await
        .unwrap();
    let status = response.status();
    (
        status,
        response
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec(),
    )
}

async fn answer(path: &str, name: &str) -> Value {
    let (status, body) = post(path, fixture(name)).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    let review: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(review["kind"], "AdmissionReview");
    assert_eq!(review["apiVersion"], "admission.k8s.io/v1");
    review["response"].clone()
}

/// kube-core encodes the patch bytes as a JSON array of numbers, which the API server
/// (Go's encoding/json) decodes into its `[]byte` field like a base64 string.
fn patch_of(response: &Value) -> Vec<Value> {
    let bytes: Vec<u8> = response["patch"]
        .as_array()
        .expect("a patch")
        .iter()
        .map(|b| b.as_u64().unwrap() as u8)
        .collect();
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test]
async fn the_orders_product_is_patched_with_masking_classification_encryption_and_labels() {
    let response = answer(MUTATE_PRODUCTS_PATH, "create-orders.json").await;
    assert_eq!(response["uid"], "u-create-orders");
    assert_eq!(response["allowed"], true);
    assert_eq!(response["patchType"], "JSONPatch");
    let ops = patch_of(&response);
    let has =
        |path: &str, value: Value| ops.iter().any(|o| o["path"] == path && o["value"] == value);
    assert!(
        has("/spec/schema/fields/2/masking", "hash".into()),
        "{ops:#?}"
    );
    assert!(
        has("/spec/schema/fields/3/masking", "hash".into()),
        "{ops:#?}"
    );
    assert!(
        has("/spec/classification", "confidential".into()),
        "{ops:#?}"
    );
    assert!(
        ops.iter().any(|o| o["path"] == "/spec/encryption"),
        "{ops:#?}"
    );
    assert!(
        ops.iter()
            .any(|o| o["path"].as_str().unwrap().starts_with("/metadata/labels")),
        "{ops:#?}"
    );
    assert!(
        response.get("warnings").is_none(),
        "warnings come from the validating webhook only"
    );
}

#[tokio::test]
async fn a_dry_run_gets_the_same_answer() {
    let real = answer(MUTATE_PRODUCTS_PATH, "create-orders.json").await;
    let dry = answer(MUTATE_PRODUCTS_PATH, "create-orders-dry-run.json").await;
    assert_eq!(real["patch"], dry["patch"]);
    let dry = answer(VALIDATE_PRODUCTS_PATH, "create-orders-dry-run.json").await;
    assert_eq!(dry["allowed"], true);
}

#[tokio::test]
async fn the_orders_product_is_admitted_with_audit_warnings() {
    let response = answer(VALIDATE_PRODUCTS_PATH, "create-orders.json").await;
    assert_eq!(response["allowed"], true);
    let warnings = response["warnings"].as_array().unwrap();
    assert!(warnings[0]
        .as_str()
        .unwrap()
        .starts_with("policy freshness-checks-preview (Audit): spec.quality"));
}

#[tokio::test]
async fn pii_kept_too_long_is_denied_with_the_engines_message() {
    let response = answer(VALIDATE_PRODUCTS_PATH, "create-pii-over-retention.json").await;
    assert_eq!(response["allowed"], false);
    let message = response["status"]["message"].as_str().unwrap();
    assert!(
        message.contains("DataProduct orders/orders-archive violates governance"),
        "{message}"
    );
    assert!(message.contains("retention 730d exceeds the maximum 365d for personal data (PII field `customer_email`)"), "{message}");
    assert!(message.contains("policy platform-baseline"), "{message}");
}

#[tokio::test]
async fn user_id_is_denied_naming_customer_id() {
    let response = answer(VALIDATE_PRODUCTS_PATH, "create-user-id.json").await;
    assert_eq!(response["allowed"], false);
    assert!(response["status"]["message"]
        .as_str()
        .unwrap()
        .contains("the organisation's term is `customer_id`"));
}

#[tokio::test]
async fn an_update_that_leaves_a_noncompliant_spec_alone_is_allowed_with_warnings() {
    let response = answer(
        VALIDATE_PRODUCTS_PATH,
        "update-unchanged-noncompliant-spec.json",
    )
    .await;
    assert_eq!(response["allowed"], true);
    assert!(response["warnings"][0]
        .as_str()
        .unwrap()
        .contains("not enforced on an unchanged spec"));
    let mutate = answer(
        MUTATE_PRODUCTS_PATH,
        "update-unchanged-noncompliant-spec.json",
    )
    .await;
    assert!(
        mutate.get("patch").is_none(),
        "nothing is rewritten on an unchanged spec"
    );
}

#[tokio::test]
async fn an_update_that_changes_a_noncompliant_spec_is_denied() {
    let response = answer(
        VALIDATE_PRODUCTS_PATH,
        "update-changed-noncompliant-spec.json",
    )
    .await;
    assert_eq!(response["allowed"], false);
}

#[tokio::test]
async fn deletes_are_allowed() {
    let response = answer(VALIDATE_PRODUCTS_PATH, "delete-product.json").await;
    assert_eq!(response["allowed"], true);
}

#[tokio::test]
async fn a_wrong_kind_is_denied_saying_what_was_expected() {
    let response = answer(VALIDATE_PRODUCTS_PATH, "wrong-kind-pod.json").await;
    assert_eq!(response["allowed"], false);
    assert_eq!(
        response["status"]["message"],
        "this webhook reviews meshplane.dev DataProduct resources, not /v1 Pod"
    );
}

#[tokio::test]
async fn a_product_that_does_not_decode_is_denied_naming_the_value() {
    let response = answer(VALIDATE_PRODUCTS_PATH, "undecodable-product.json").await;
    assert_eq!(response["allowed"], false);
    let message = response["status"]["message"].as_str().unwrap();
    assert!(
        message.contains("DataProduct orders cannot be read") && message.contains("uuid"),
        "{message}"
    );
}

#[tokio::test]
async fn an_invalid_policy_is_denied_naming_the_pattern() {
    let response = answer(VALIDATE_POLICIES_PATH, "create-invalid-policy.json").await;
    assert_eq!(response["allowed"], false);
    let message = response["status"]["message"].as_str().unwrap();
    assert!(
        message.contains("spec.piiDetection.fieldPatterns[5]") && message.contains("([unclosed"),
        "{message}"
    );
    let response = answer(VALIDATE_POLICIES_PATH, "create-valid-policy.json").await;
    assert_eq!(response["allowed"], true);
}

#[tokio::test]
async fn a_policy_whose_patterns_are_too_large_together_is_denied_naming_the_field() {
    let response = answer(VALIDATE_POLICIES_PATH, "create-oversized-policy.json").await;
    assert_eq!(response["allowed"], false);
    let message = response["status"]["message"].as_str().unwrap();
    assert!(
        message.contains("GovernancePolicy strict is invalid")
            && message.contains("spec.piiDetection.fieldPatterns: the combined patterns exceed the regex size limit"),
        "{message}"
    );
}

#[tokio::test]
async fn a_policy_valid_alone_but_too_large_with_the_policies_in_force_is_denied() {
    // As many policies with a wide field name pattern as build into one engine; the
    // fixture's `wide-12` is one too many.
    let wide = |i: usize| {
        let yaml = format!(
            "apiVersion: meshplane.dev/v1alpha1\nkind: GovernancePolicy\nmetadata: {{ name: wide-{i:02} }}\nspec: {{ naming: {{ fieldNamePattern: '\\w{{30}}x{i}' }} }}\n"
        );
        match load_all(&yaml, "policy").unwrap().pop() {
            Some(Resource::GovernancePolicy(p)) => *p,
            _ => unreachable!(),
        }
    };
    let in_force = (1..12)
        .map(|n| (1..=n).map(wide).collect::<Vec<_>>())
        .map_while(|policies| Engine::new(&policies).ok())
        .last()
        .expect("one wide policy builds");
    let response = router(Arc::new(AdmissionState::new(in_force)))
        .oneshot(
            Request::post(VALIDATE_POLICIES_PATH)
                .header("content-type", "application/json")
                .body(Body::from(fixture("create-wide-naming-policy.json")))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let review: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(review["response"]["allowed"], false);
    let message = review["response"]["status"]["message"].as_str().unwrap();
    assert!(
        message
            .contains("GovernancePolicy wide-12 cannot be put in force with the policies in force")
            && message.contains("wide-01")
            && message.contains(
                "spec.naming.fieldNamePattern: the combined patterns exceed the regex size limit"
            ),
        "{message}"
    );
    // Alone, or with the usual policies, it is fine.
    let response = answer(VALIDATE_POLICIES_PATH, "create-wide-naming-policy.json").await;
    assert_eq!(response["allowed"], true, "{response}");
}

#[tokio::test]
async fn malformed_truncated_and_requestless_bodies_get_400() {
    let whole = fixture("create-orders.json");
    for body in [
        b"not json".to_vec(),
        whole[..whole.len() / 2].to_vec(),
        fixture("no-request.json"),
        Vec::new(),
    ] {
        let (status, text) = post(VALIDATE_PRODUCTS_PATH, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(
            String::from_utf8_lossy(&text).contains("AdmissionReview"),
            "{}",
            String::from_utf8_lossy(&text)
        );
    }
}

#[tokio::test]
async fn an_oversized_body_is_refused_with_413() {
    let (status, _) = post(VALIDATE_PRODUCTS_PATH, vec![b' '; BODY_LIMIT + 1]).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Fuzzing the decode-and-review path: any body gets an answer, never a panic.
    #[test]
    fn any_mutilation_of_a_review_gets_an_answer(cut in 0usize..4000, junk in prop::collection::vec(any::<u8>(), 0..16)) {
        let whole = fixture("create-orders.json");
        let cut = cut.min(whole.len());
        let mut body = whole[..cut].to_vec();
        body.extend(junk);
        body.extend_from_slice(&whole[cut..]);
        let engine = state().engine();
        for endpoint in [meshplane_admission::Endpoint::MutateProduct, meshplane_admission::Endpoint::ValidateProduct, meshplane_admission::Endpoint::ValidatePolicy] {
            let _ = meshplane_admission::review(&body, endpoint, &engine);
        }
    }
}

#[tokio::test]
async fn an_update_that_removes_or_retypes_a_field_is_denied_naming_each_field() {
    let response = answer(VALIDATE_PRODUCTS_PATH, "update-breaking-schema.json").await;
    assert_eq!(response["allowed"], false);
    let message = response["status"]["message"].as_str().unwrap();
    assert!(
        message.contains("(currency): removing a field is not supported"),
        "{message}"
    );
    assert!(
        message.contains("(order_total): its table column is double; the change makes it string"),
        "{message}"
    );
    assert!(
        message.contains("(coupon): a field added to an existing table must be nullable"),
        "{message}"
    );
}

#[tokio::test]
async fn an_update_that_adds_a_nullable_field_is_allowed() {
    let response = answer(VALIDATE_PRODUCTS_PATH, "update-additive-schema.json").await;
    assert_eq!(response["allowed"], true, "{response}");
}
