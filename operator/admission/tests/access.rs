//! The AccessRequest webhook on AdmissionReview JSON, through its router (no network).
//! Whether an approver holds the `approve` verb is answered by a fixed table standing in
//! for the API server's SubjectAccessReview (the e2e tests ask the real one).

use axum::body::Body;
use axum::http::Request;
use http_body_util::BodyExt;
use meshplane_admission::access::ApproverCheck;
use meshplane_admission::server::MUTATE_ACCESS_REQUESTS_PATH;
use meshplane_admission::{access_router, ApproverAuthorizer};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use tower::ServiceExt;

/// Stands in for SubjectAccessReview: the users allowed to approve, and every check asked.
struct FixedApprovers {
    allowed: Vec<&'static str>,
    asked: Mutex<Vec<ApproverCheck>>,
    unreachable: bool,
}

#[async_trait::async_trait]
impl ApproverAuthorizer for FixedApprovers {
    async fn may_approve(&self, check: &ApproverCheck) -> Result<bool, String> {
        self.asked.lock().unwrap().push(check.clone());
        if self.unreachable {
            return Err("connection refused".into());
        }
        Ok(self
            .allowed
            .contains(&check.user.username.as_deref().unwrap_or_default()))
    }
}

fn approvers(allowed: Vec<&'static str>) -> Arc<FixedApprovers> {
    Arc::new(FixedApprovers {
        allowed,
        asked: Mutex::default(),
        unreachable: false,
    })
}

fn object(annotations: Value) -> Value {
    json!({
        "apiVersion": "meshplane.dev/v1alpha1",
        "kind": "AccessRequest",
        "metadata": {"name": "reporting-orders", "namespace": "analytics", "uid": "u-1", "annotations": annotations},
        "spec": {
            "product": {"name": "orders", "namespace": "orders"},
            "subject": {"kind": "User", "name": "report-bot"},
            "purpose": "weekly revenue report"
        }
    })
}

fn review(operation: &str, user: &str, new: Value, old: Option<Value>) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "r-1",
            "kind": {"group": "meshplane.dev", "version": "v1alpha1", "kind": "AccessRequest"},
            "resource": {"group": "meshplane.dev", "version": "v1alpha1", "resource": "accessrequests"},
            "name": "reporting-orders",
            "namespace": "analytics",
            "operation": operation,
            "userInfo": {"username": user, "groups": ["system:authenticated"]},
            "object": new,
            "oldObject": old,
            "dryRun": false
        }
    }))
    .unwrap()
}

async fn answer(authorizer: Arc<FixedApprovers>, body: Vec<u8>) -> Value {
    let response = access_router(authorizer)
        .oneshot(
            Request::post(MUTATE_ACCESS_REQUESTS_PATH)
                .header("content-type", "application/json")
                .body(Body::from(body))
                .unwrap(),
        )
        .await
        .unwrap();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    serde_json::from_slice::<Value>(&bytes).unwrap()["response"].clone()
}

/// The JSONPatch of an answer: kube-core writes its bytes as a JSON array of numbers.
fn patch(response: &Value) -> Value {
    let bytes: Vec<u8> = response["patch"]
        .as_array()
        .expect("a patch")
        .iter()
        .map(|b| b.as_u64().unwrap() as u8)
        .collect();
    serde_json::from_slice(&bytes).unwrap()
}

/// `user` sets the approval on a request alice filed.
async fn approves(authorizer: Arc<FixedApprovers>, user: &str) -> Value {
    let approved = object(
        json!({"meshplane.dev/requested-by": "alice", "meshplane.dev/approval": "approved"}),
    );
    answer(
        authorizer,
        review("UPDATE", user, approved, Some(object(filed_by("alice")))),
    )
    .await
}

/// The denial's message.
fn message(response: &Value) -> &str {
    response["status"]["message"].as_str().unwrap_or_default()
}

fn filed_by(user: &str) -> Value {
    json!({"meshplane.dev/requested-by": user})
}

#[tokio::test]
async fn a_new_request_is_stamped_with_its_requester() {
    let response = answer(
        approvers(vec![]),
        review("CREATE", "alice", object(json!({})), None),
    )
    .await;
    assert_eq!(response["allowed"], true);
    let ops = patch(&response);
    assert!(
        ops.as_array().unwrap().iter().any(|op| op["value"]
            .get("meshplane.dev/requested-by")
            .is_some_and(|v| v == "alice")
            || op["value"] == "alice"),
        "{ops}"
    );
}

#[tokio::test]
async fn a_request_cannot_be_filed_already_approved() {
    let response = answer(
        approvers(vec![]),
        review(
            "CREATE",
            "alice",
            object(json!({"meshplane.dev/approval": "approved"})),
            None,
        ),
    )
    .await;
    assert_eq!(response["allowed"], false);
    assert!(message(&response).contains("cannot be filed already decided"));
}

#[tokio::test]
async fn an_approver_with_the_verb_approves_and_is_recorded() {
    let authorizer = approvers(vec!["orders-owner"]);
    let response = approves(authorizer.clone(), "orders-owner").await;
    assert_eq!(response["allowed"], true, "{response}");
    let ops = patch(&response).to_string();
    assert!(
        ops.contains("decided-by") && ops.contains("orders-owner"),
        "{ops}"
    );
    let asked = authorizer.asked.lock().unwrap();
    assert_eq!(asked.len(), 1);
    assert_eq!(
        (asked[0].namespace.as_str(), asked[0].product.as_str()),
        ("orders", "orders")
    );
    assert_eq!(
        asked[0].attributes(),
        ("approve", "meshplane.dev", "dataproducts")
    );
}

#[tokio::test]
async fn an_approver_without_the_verb_is_refused_naming_what_is_missing() {
    let response = approves(approvers(vec!["orders-owner"]), "mallory").await;
    assert_eq!(response["allowed"], false);
    let message = message(&response);
    assert!(
        message.contains("mallory may not decide access to DataProduct orders/orders")
            && message.contains("\"approve\""),
        "{message}"
    );
}

#[tokio::test]
async fn the_requester_cannot_approve_their_own_request() {
    let authorizer = approvers(vec!["alice"]);
    let response = approves(authorizer.clone(), "alice").await;
    assert_eq!(response["allowed"], false);
    assert!(message(&response).contains("alice filed this request and cannot decide it"));
    // Refused before the cluster is even asked.
    assert!(authorizer.asked.lock().unwrap().is_empty());
}

#[tokio::test]
async fn the_subject_cannot_approve_access_for_itself() {
    let response = approves(approvers(vec!["report-bot"]), "report-bot").await;
    assert_eq!(response["allowed"], false);
    assert!(message(&response).contains("is the subject of this request"));
}

#[tokio::test]
async fn recorded_annotations_and_the_spec_cannot_be_forged_or_changed() {
    let cases = [
        // Someone writes the decider without a decision.
        (
            json!({"meshplane.dev/requested-by": "alice", "meshplane.dev/decided-by": "orders-owner"}),
            "decided-by is recorded by Meshplane",
        ),
        // The requester is rewritten.
        (
            json!({"meshplane.dev/requested-by": "bob"}),
            "requested-by is recorded by Meshplane",
        ),
        // A decision that is neither approved nor denied.
        (
            json!({"meshplane.dev/requested-by": "alice", "meshplane.dev/approval": "yes"}),
            "must be \"approved\" or \"denied\"",
        ),
    ];
    for (annotations, expected) in cases {
        let response = answer(
            approvers(vec!["orders-owner"]),
            review(
                "UPDATE",
                "orders-owner",
                object(annotations),
                Some(object(filed_by("alice"))),
            ),
        )
        .await;
        assert_eq!(response["allowed"], false, "{expected}");
        let message = message(&response);
        assert!(message.contains(expected), "{message}");
    }
    let mut changed = object(filed_by("alice"));
    changed["spec"]["purpose"] = json!("something else");
    let response = answer(
        approvers(vec![]),
        review("UPDATE", "alice", changed, Some(object(filed_by("alice")))),
    )
    .await;
    assert!(message(&response).contains("cannot change once filed"));
}

#[tokio::test]
async fn when_the_approver_cannot_be_checked_the_decision_is_refused() {
    let authorizer = Arc::new(FixedApprovers {
        allowed: vec!["orders-owner"],
        asked: Mutex::default(),
        unreachable: true,
    });
    let response = approves(authorizer, "orders-owner").await;
    assert_eq!(response["allowed"], false);
    assert!(message(&response).contains("could not be checked: connection refused"));
}

#[tokio::test]
async fn a_malformed_review_is_a_400_and_an_unchanged_update_passes() {
    let response = access_router(approvers(vec![]))
        .oneshot(
            Request::post(MUTATE_ACCESS_REQUESTS_PATH)
                .body(Body::from("{not json"))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let response = answer(
        approvers(vec![]),
        review(
            "UPDATE",
            "meshplane-controller",
            object(filed_by("alice")),
            Some(object(filed_by("alice"))),
        ),
    )
    .await;
    assert_eq!(response["allowed"], true);
    assert!(response.get("patch").is_none_or(Value::is_null));
}
