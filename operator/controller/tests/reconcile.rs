//! Reconciles of the Orders example against a scripted API server and object store, no
//! cluster: every request is checked in order (finalizer before anything external, the
//! status last; server-side applies and pruning LISTs as unordered groups), every answer
//! is scripted, and a request the script does not name fails the test.

mod support;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::runtime::controller::Action;
use meshplane_api::{DataProduct, DataProductStatus, DeletionPolicy};
use meshplane_controller::{reconcile, ReconcileError, FINALIZER};
use serde_json::Value;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use support::harness::{body_of, Finished, Harness, Step, WAIT};
use support::kube::*;
use support::{context, desired, orders, settings, UID};

/// How soon a healthy product is looked at again (the controller's `RESYNC`).
const RESYNC: Duration = Duration::from_secs(300);

async fn run(
    reconcile: impl Future<Output = Result<Action, ReconcileError>>,
) -> Result<Action, ReconcileError> {
    tokio::time::timeout(WAIT * 2, reconcile)
        .await
        .expect("the reconcile did not return")
}

fn find<'a>(status: &'a Value, type_: &str) -> &'a Value {
    status["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == type_))
        .unwrap_or_else(|| panic!("no {type_} condition in {status:#}"))
}

/// `(status, reason)` of condition `type_` in a status body.
fn condition<'a>(status: &'a Value, type_: &str) -> (&'a str, &'a str) {
    let found = find(status, type_);
    (
        found["status"].as_str().unwrap_or_default(),
        found["reason"].as_str().unwrap_or_default(),
    )
}

/// The message of condition `type_` in a status body.
fn message<'a>(status: &'a Value, type_: &str) -> &'a str {
    find(status, type_)["message"].as_str().unwrap_or_default()
}

fn has_condition(status: &Value, type_: &str) -> bool {
    status["conditions"]
        .as_array()
        .is_some_and(|cs| cs.iter().any(|c| c["type"] == type_))
}

/// The first reconcile's calls after the finalizer: bucket created, Secrets, applies,
/// pruning, topic and workload read back (a worker is available, told in an Event),
/// status written.
fn first_pass(product: &DataProduct) -> Vec<Step> {
    let desired = desired(product);
    let mut script = support::s3::bucket_created(&desired.bucket);
    script.push(event(
        product,
        "Normal",
        "BucketCreated",
        "bucket meshplane-orders-orders created",
    ));
    script.extend(secrets(true));
    script.push(applies(&desired));
    script.push(pruning_lists(product, &settings()));
    script.push(topic_ready());
    script.push(deployment(1));
    script.push(worker_available(product));
    script.push(status_patched(product));
    script
}

/// The Normal Event of a worker becoming available.
fn worker_available(product: &DataProduct) -> Step {
    event(
        product,
        "Normal",
        "WorkerAvailable",
        "1 ingestion worker(s) available",
    )
}

/// The product as stored after a first pass: finalizer on, the status it was given.
fn stored(product: &DataProduct, status: &Value) -> DataProduct {
    let mut stored = product.clone();
    stored.metadata.finalizers = Some(vec![FINALIZER.into()]);
    stored.metadata.resource_version = Some("102".into());
    stored.status = Some(
        serde_json::from_value::<DataProductStatus>(status.clone())
            .expect("the patched status is a DataProductStatus"),
    );
    stored
}

fn being_deleted(mut product: DataProduct, finalizers: &[&str]) -> DataProduct {
    product.metadata.finalizers = Some(finalizers.iter().map(|f| f.to_string()).collect());
    product.metadata.deletion_timestamp = Some(Time(Timestamp::now()));
    product
}

fn operations(finished: &Finished) -> Vec<&str> {
    finished.s3.iter().map(|r| r.operation.as_str()).collect()
}

#[tokio::test]
async fn the_first_reconcile_of_orders_adds_the_finalizer_provisions_everything_and_reports_ready()
{
    let product = orders();
    let desired = desired(&product);
    let mut script = vec![finalizer_added(&product)];
    script.extend(first_pass(&product));
    let harness = Harness::start(script);
    let ctx = context(&harness);

    let result = run(reconcile(Arc::new(product), ctx.clone())).await;
    drop(ctx);
    let finished = harness.finish().await;

    assert_eq!(
        result.expect("the reconcile succeeds"),
        Action::requeue(RESYNC)
    );
    // The whole order is the script's (checked by finish); the two ends spelled out:
    assert_eq!(
        finished.seen.first().map(|s| s.what.as_str()),
        Some(FINALIZER_PATCH)
    );
    assert_eq!(
        finished.seen.last().map(|s| s.what.as_str()),
        Some(STATUS_PATCH)
    );
    assert_eq!(
        operations(&finished).first(),
        Some(&"HeadBucket"),
        "the bucket is looked up first"
    );
    let create = &finished.s3[1];
    assert_eq!(
        (create.operation.as_str(), create.method.as_str()),
        ("CreateBucket", "PUT")
    );
    assert!(
        create.uri.contains("/meshplane-orders-orders"),
        "{}",
        create.uri
    );

    // Among the applies: the source KafkaTopic in the topic operator's namespace and the
    // ingestion Deployment.
    let applied: Vec<&str> = finished
        .seen
        .iter()
        .filter(|s| s.what.starts_with("the apply of "))
        .map(|s| s.what.as_str())
        .collect();
    assert_eq!(applied.len(), desired.children.manifests().len());
    assert!(applied.contains(&"the apply of KafkaTopic kafka/orders-events"));
    assert!(applied.contains(&"the apply of Deployment orders/orders-ingest"));

    // Orphans are looked for in the product's namespace and in the topic operator's.
    let listed = |what: &str| finished.seen.iter().any(|s| s.what == what);
    assert!(listed("the pruning LIST of deployments in orders"));
    assert!(listed("the pruning LIST of kafkatopics in orders"));
    assert!(listed("the pruning LIST of kafkatopics in kafka"));

    // Secrets: the workers' key pair, a fresh 256-bit masking key, the readers' location
    // and keys (owned by the product).
    let s3_secret = finished.body("the creation of Secret meshplane-s3-credentials");
    assert_eq!(s3_secret["stringData"]["access-key-id"], "worker-key-id");
    let masking = finished.body("the creation of Secret meshplane-masking-key");
    let key = masking["stringData"]["key"].as_str().unwrap_or_default();
    assert!(
        key.len() == 64 && key.chars().all(|c| c.is_ascii_hexdigit()),
        "masking key {key:?}"
    );
    let read = finished.body("the creation of Secret orders-read-credentials");
    assert_eq!(read["stringData"]["bucket"], "meshplane-orders-orders");
    assert_eq!(read["stringData"]["access-key-id"], "reader-key-id");
    assert_eq!(read["metadata"]["ownerReferences"][0]["uid"], UID);

    let status = &finished.body(STATUS_PATCH)["status"];
    assert_eq!(condition(status, "Ready"), ("True", "Provisioned"));
    assert_eq!(condition(status, "Reconciling").0, "False");
    assert_eq!(condition(status, "Stalled").0, "False");
    assert_eq!(condition(status, "PolicyCompliant").0, "True");
    assert_eq!(condition(status, "StorageReady"), ("True", "BucketReady"));
    assert_eq!(
        message(status, "StorageReady"),
        "bucket meshplane-orders-orders created; no Iceberg catalog is configured: the table is not created"
    );
    assert_eq!(condition(status, "TopicReady"), ("True", "KafkaTopicReady"));
    assert_eq!(
        condition(status, "IngestionReady"),
        ("True", "WorkerAvailable")
    );
    assert_eq!(condition(status, "MonitoringReady").0, "True");
    assert!(status["conditions"]
        .as_array()
        .is_some_and(|cs| cs.iter().all(|c| c["observedGeneration"] == 1)));
    assert_eq!(status["observedGeneration"], 1);
    assert_eq!(status["endpoints"]["bucket"], "meshplane-orders-orders");
    assert_eq!(status["endpoints"]["topic"], "orders.events");
    assert!(status["complianceTags"]
        .as_array()
        .is_some_and(|t| t.iter().any(|t| t == "gdpr")));
    assert!(status.get("violations").is_none(), "{status:#}");
}

#[tokio::test]
async fn a_refresh_whose_status_is_unchanged_writes_no_status_and_one_that_changes_it_does() {
    let product = orders();
    let mut script = vec![finalizer_added(&product)];
    script.extend(first_pass(&product));
    // Within the resync period, nothing changed: only the workload is looked at again...
    script.push(Step::Mark("second reconcile".into()));
    script.push(deployment(1));
    // ...and when it reports something new (the worker is lost, no pod left to say why),
    // a Warning is recorded and the status is written: not Ready any more.
    script.push(Step::Mark("third reconcile".into()));
    script.push(deployment(0));
    script.push(worker_pods(vec![]));
    script.push(event(
        &product,
        "Warning",
        "WorkerUnavailable",
        "no worker pod yet",
    ));
    script.push(status_patched(&product));
    // The worker is back: the refresh makes the product Ready again.
    script.push(Step::Mark("fourth reconcile".into()));
    script.push(deployment(1));
    script.push(event_repeated(&product, "Normal", "WorkerAvailable"));
    script.push(status_patched(&product));
    let harness = Harness::start(script);
    let ctx = context(&harness);

    run(reconcile(Arc::new(product.clone()), ctx.clone()))
        .await
        .expect("the first reconcile succeeds");
    let first = body_of(&harness.seen(), STATUS_PATCH)["status"].clone();
    let stored_first = Arc::new(stored(&product, &first));

    harness.mark("second reconcile");
    let second = run(reconcile(stored_first.clone(), ctx.clone())).await;
    harness.mark("third reconcile");
    let third = run(reconcile(stored_first, ctx.clone())).await;
    let lost = harness
        .seen()
        .iter()
        .filter(|s| s.what == STATUS_PATCH)
        .map(|s| s.body["status"].clone())
        .nth(1)
        .expect("the third reconcile wrote the status");
    harness.mark("fourth reconcile");
    let fourth = run(reconcile(Arc::new(stored(&product, &lost)), ctx.clone())).await;
    drop(ctx);
    let finished = harness.finish().await;

    // The timeline (checked by finish) has no status patch between the marks.
    for (n, result) in [("second", second), ("third", third), ("fourth", fourth)] {
        assert_eq!(
            result.unwrap_or_else(|e| panic!("the {n} reconcile fails: {e}")),
            Action::requeue(RESYNC)
        );
    }
    let patches: Vec<&Value> = finished
        .seen
        .iter()
        .filter(|s| s.what == STATUS_PATCH)
        .map(|s| &s.body["status"])
        .collect();
    assert_eq!(
        patches.len(),
        3,
        "one status patch each for the first, third and fourth"
    );
    assert_eq!(
        condition(patches[1], "IngestionReady"),
        ("False", "WorkerUnavailable")
    );
    assert_eq!(message(patches[1], "IngestionReady"), "no worker pod yet");
    assert_eq!(
        condition(patches[1], "Ready"),
        ("False", "WorkerUnavailable")
    );
    assert_eq!(
        condition(patches[1], "Reconciling"),
        ("True", "WorkerUnavailable")
    );
    assert_eq!(condition(patches[1], "Stalled").0, "False");
    assert_eq!(
        condition(patches[1], "StorageReady"),
        condition(&first, "StorageReady"),
        "a refresh leaves the rest alone"
    );
    assert_eq!(condition(patches[2], "Ready"), ("True", "Provisioned"));
    assert_eq!(condition(patches[2], "Reconciling").0, "False");
    assert_eq!(
        condition(patches[2], "IngestionReady"),
        ("True", "WorkerAvailable")
    );
}

#[tokio::test]
async fn a_first_pass_whose_worker_image_is_missing_is_provisioned_but_not_ready_and_says_why() {
    let product = orders();
    let mut script = vec![finalizer_added(&product)];
    script.extend(first_pass(&product));
    let at = script.len() - 3;
    // The Deployment has no available replica: its pod says why.
    script.splice(
        at..,
        [
            deployment(0),
            worker_pods(vec![waiting_worker_pod(
                "orders-ingest-6d5f7c9b8-x2k4q",
                "meshplane:dev",
                "ErrImageNeverPull",
                "Container image \"meshplane:dev\" is not present with pull policy of Never",
            )]),
            event(
                &product,
                "Warning",
                "WorkerImageMissing",
                "pod orders-ingest-6d5f7c9b8-x2k4q: image meshplane:dev",
            ),
            status_patched(&product),
        ],
    );
    let harness = Harness::start(script);
    let ctx = context(&harness);

    let result = run(reconcile(Arc::new(product), ctx.clone())).await;
    drop(ctx);
    let finished = harness.finish().await;

    assert_eq!(
        result.expect("a worker that does not start is not a reconcile error"),
        Action::requeue(RESYNC)
    );
    let status = &finished.body(STATUS_PATCH)["status"];
    assert_eq!(condition(status, "Ready"), ("False", "WorkerImageMissing"));
    assert_eq!(
        condition(status, "Reconciling"),
        ("True", "WorkerImageMissing")
    );
    assert_eq!(condition(status, "Stalled").0, "False");
    assert_eq!(
        condition(status, "IngestionReady"),
        ("False", "WorkerImageMissing")
    );
    let why = message(status, "Ready");
    assert!(
        why.contains(
            "image meshplane:dev of container ingest cannot be pulled (ErrImageNeverPull)"
        ),
        "{why}"
    );
    assert_eq!(condition(status, "StorageReady").0, "True");
    assert_eq!(condition(status, "TopicReady").0, "True");
}

#[tokio::test]
async fn a_full_pass_whose_status_is_unchanged_writes_no_status() {
    let mut product = orders();
    product.metadata.finalizers = Some(vec![FINALIZER.into()]);
    let desired = desired(&product);
    let full_pass = |secrets_exist: bool| {
        let mut steps = support::s3::bucket_as_specified(&desired.bucket);
        steps.extend(secrets(!secrets_exist));
        steps.push(applies(&desired));
        steps.push(pruning_lists(&product, &settings()));
        steps.push(topic_ready());
        steps.push(deployment(1));
        steps
    };
    // The finalizer is on already; the bucket exists as specified (no event, no repair).
    // The worker is available for the first time: an Event says so, once.
    let mut script = full_pass(false);
    script.push(worker_available(&product));
    script.push(status_patched(&product));
    // A new process (nothing remembered): a full pass again, the same reports, no status.
    script.push(Step::Mark("after a restart".into()));
    script.extend(full_pass(true));
    let harness = Harness::start(script);

    let ctx = context(&harness);
    run(reconcile(Arc::new(product.clone()), ctx.clone()))
        .await
        .expect("the first pass succeeds");
    drop(ctx);
    let first = body_of(&harness.seen(), STATUS_PATCH)["status"].clone();
    assert_eq!(condition(&first, "StorageReady"), ("True", "BucketReady"));
    assert_eq!(
        message(&first, "StorageReady"),
        "bucket meshplane-orders-orders encrypted, dead letters expiring after 90 days; no Iceberg catalog is configured: the table is not created"
    );

    harness.mark("after a restart");
    let ctx = context(&harness);
    let again = run(reconcile(Arc::new(stored(&product, &first)), ctx.clone())).await;
    drop(ctx);
    let finished = harness.finish().await;

    assert_eq!(
        again.expect("the second pass succeeds"),
        Action::requeue(RESYNC)
    );
    assert_eq!(
        finished
            .seen
            .iter()
            .filter(|s| s.what == STATUS_PATCH)
            .count(),
        1,
        "only the first pass writes the status"
    );
    assert!(
        !operations(&finished).iter().any(|o| o.starts_with("Put")),
        "nothing is written to a bucket that matches: {:?}",
        operations(&finished)
    );
}

#[tokio::test]
async fn a_product_an_enforce_policy_rejects_gets_a_warning_and_a_stalled_status_and_nothing_else()
{
    let mut product = orders();
    // PII kept for two years; platform-baseline allows 365 days.
    product.spec.retention = "730d".into();
    let script = vec![
        finalizer_added(&product),
        event(&product, "Warning", "PolicyViolation", "retention"),
        status_patched(&product),
    ];
    let harness = Harness::start(script);
    let ctx = context(&harness);

    let result = run(reconcile(Arc::new(product), ctx.clone())).await;
    drop(ctx);
    let finished = harness.finish().await;

    assert_eq!(
        result.expect("a non-compliant product is not an error"),
        Action::await_change()
    );
    assert!(finished.s3.is_empty(), "no bucket call: {:?}", finished.s3);
    let status = &finished.body(STATUS_PATCH)["status"];
    assert_eq!(
        condition(status, "PolicyCompliant"),
        ("False", "PolicyViolation")
    );
    assert_eq!(condition(status, "Stalled"), ("True", "PolicyViolation"));
    assert_eq!(condition(status, "Ready"), ("False", "PolicyViolation"));
    assert_eq!(condition(status, "Reconciling").0, "False");
    for provisioned in [
        "StorageReady",
        "TopicReady",
        "IngestionReady",
        "MonitoringReady",
    ] {
        assert!(
            !has_condition(status, provisioned),
            "{provisioned} in {status:#}"
        );
    }
    let violations = status["violations"].as_array().expect("violations listed");
    assert!(
        violations
            .iter()
            .any(|v| v.as_str().is_some_and(|v| v.contains("retention"))),
        "{violations:?}"
    );
    assert!(
        status.get("endpoints").is_none(),
        "nothing planned: {status:#}"
    );
}

#[tokio::test]
async fn deleting_a_retained_product_releases_its_kafka_topic_keeps_the_bucket_and_drops_the_finalizer(
) {
    let product = being_deleted(orders(), &[FINALIZER, "example.com/keep"]);
    assert_eq!(product.spec.deletion_policy, DeletionPolicy::Retain);
    let script = vec![
        topic_unmanaged(),
        topic_deleted(),
        event(
            &product,
            "Normal",
            "CleanedUp",
            "retained bucket meshplane-orders-orders and topics [orders.events]",
        ),
        finalizers_set(&product, &["example.com/keep"]),
    ];
    let harness = Harness::start(script);
    let ctx = context(&harness);

    let result = run(reconcile(Arc::new(product), ctx.clone())).await;
    drop(ctx);
    let finished = harness.finish().await;

    assert_eq!(
        result.expect("the clean-up succeeds"),
        Action::await_change()
    );
    assert!(
        finished.s3.is_empty(),
        "the bucket is kept: {:?}",
        finished.s3
    );
}

#[tokio::test]
async fn deleting_a_product_with_policy_delete_removes_its_kafka_topic_and_bucket_then_the_finalizer(
) {
    let mut product = being_deleted(orders(), &[FINALIZER]);
    product.spec.deletion_policy = DeletionPolicy::Delete;
    let mut script = vec![topic_deleted()];
    script.extend(support::s3::bucket_emptied_and_deleted(
        "meshplane-orders-orders",
        &[
            "table/event_time_hour=2024-01-01-00/part-0.parquet",
            "_rejected/0.json",
        ],
    ));
    script.push(event(
        &product,
        "Normal",
        "CleanedUp",
        "deleted bucket meshplane-orders-orders and topics [orders.events]",
    ));
    script.push(finalizers_set(&product, &[]));
    let harness = Harness::start(script);
    let ctx = context(&harness);

    let result = run(reconcile(Arc::new(product), ctx.clone())).await;
    drop(ctx);
    let finished = harness.finish().await;

    assert_eq!(
        result.expect("the clean-up succeeds"),
        Action::await_change()
    );
    assert_eq!(
        operations(&finished),
        [
            "ListObjectsV2",
            "DeleteObjects",
            "ListObjectsV2",
            "DeleteBucket"
        ]
    );
    let delete = &finished.s3[3];
    assert_eq!(delete.method, "DELETE");
    assert!(
        delete.uri.contains("/meshplane-orders-orders"),
        "{}",
        delete.uri
    );
}

#[tokio::test]
async fn an_unreachable_object_store_fails_the_reconcile_as_storage_and_reports_provisioning_failed(
) {
    let product = orders();
    let script = vec![
        finalizer_added(&product),
        // Connection refused, one attempt: nothing after the storage step runs.
        Step::S3Attempt("HeadBucket".into()),
        status_patched(&product),
        event(
            &product,
            "Warning",
            "ProvisioningFailed",
            "failed to look up bucket meshplane-orders-orders",
        ),
    ];
    let harness = Harness::start_with_unreachable_s3(script);
    let ctx = context(&harness);

    let result = run(reconcile(Arc::new(product), ctx.clone())).await;
    drop(ctx);
    let finished = harness.finish().await;

    let error = result.expect_err("the reconcile fails");
    assert_eq!(error.metric_label(), "storage", "{error}");
    assert_eq!(finished.s3.len(), 1, "retries are off: {:?}", finished.s3);
    assert!(
        finished.s3[0].uri.starts_with("http://127.0.0.1:1/"),
        "{:?}",
        finished.s3
    );
    let status = &finished.body(STATUS_PATCH)["status"];
    assert_eq!(condition(status, "Ready"), ("False", "ProvisioningFailed"));
    let why = message(status, "Ready");
    assert!(
        why.contains("failed to look up bucket meshplane-orders-orders"),
        "{why}"
    );
    assert_eq!(
        condition(status, "Reconciling"),
        ("True", "ProvisioningFailed")
    );
    assert_eq!(condition(status, "PolicyCompliant").0, "True");
    assert!(!has_condition(status, "StorageReady"), "{status:#}");
}

/// The harness itself: a script that differs from what the controller does fails.
mod the_mock_fails_the_test {
    use super::*;

    /// The first reconcile's script with `edit` applied, run to the end.
    async fn first_reconcile_with(edit: impl FnOnce(&mut Vec<Step>)) {
        let product = orders();
        let mut script = vec![finalizer_added(&product)];
        script.extend(first_pass(&product));
        edit(&mut script);
        let harness = Harness::start(script);
        let ctx = context(&harness);
        let _ = run(reconcile(Arc::new(product), ctx.clone())).await;
        drop(ctx);
        harness.finish().await;
    }

    #[tokio::test]
    #[should_panic(expected = "unexpected request after the last scripted one: PATCH")]
    async fn on_a_request_it_was_not_told_of() {
        first_reconcile_with(|script| {
            script.pop(); // the status patch
        })
        .await;
    }

    #[tokio::test]
    #[should_panic(expected = "no request came")]
    async fn on_a_request_that_never_comes() {
        first_reconcile_with(|script| script.push(deployment(1))).await;
    }

    #[tokio::test]
    #[should_panic(expected = "expected the status patch")]
    async fn on_requests_out_of_order() {
        first_reconcile_with(|script| {
            let status = script.pop().expect("the status patch");
            let at = script.len() - 2;
            assert!(matches!(script[at], Step::Kube(_)), "the deployment GET");
            script.insert(at, status);
        })
        .await;
    }

    #[tokio::test]
    #[should_panic(expected = "calls out of order at position 1")]
    async fn on_kubernetes_and_s3_calls_interleaved_otherwise() {
        // Each side's own order is kept; only the Event moves before the bucket calls.
        first_reconcile_with(|script| {
            let event = script.remove(9);
            assert!(
                matches!(event, Step::Kube(_)),
                "step 9 is the BucketCreated Event"
            );
            script.insert(1, event);
        })
        .await;
    }

    #[tokio::test]
    #[should_panic(expected = "In order matching was enforced")]
    async fn on_s3_operations_out_of_order() {
        first_reconcile_with(|script| script.swap(1, 2)).await;
    }

    #[tokio::test]
    #[should_panic(expected = "no rules matched")]
    async fn on_an_s3_call_it_was_not_told_of() {
        first_reconcile_with(|script| {
            script.drain(1..9); // every bucket call
        })
        .await;
    }
}
