//! Support for the reconcile tests: the scripted mock ([`harness`]), the calls the
//! controller makes to the API server ([`kube`]) and to S3 ([`s3`]), and the Orders
//! example as the product under test.

pub mod harness;
pub mod kube;
pub mod s3;

use meshplane_api::load::{load_all, Resource};
use meshplane_api::DataProduct;
use meshplane_controller::{Context, Credentials};
use meshplane_governance::{Engine, SharedEngine};
use meshplane_planner::{plan, DesiredState, PlatformSettings, TopicMode};
use std::sync::Arc;

/// The product's namespace in examples/orders.yaml.
pub const NAMESPACE: &str = "orders";
/// The namespace the topic operator watches (KafkaTopics live there, not beside the product).
pub const TOPICS_NAMESPACE: &str = "kafka";
/// The uid the product is given, as the API server would.
pub const UID: &str = "5f0c1c6e-8a1b-4c55-9d0e-0123456789ab";

fn example(file: &str) -> Vec<Resource> {
    let path = format!("{}/../../examples/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    load_all(&text, &path).unwrap_or_else(|e| panic!("{e}"))
}

/// examples/orders.yaml as the API server would hand it over: uid, generation and
/// resourceVersion set, no finalizer, no status.
pub fn orders() -> DataProduct {
    let mut product = match example("orders.yaml").as_slice() {
        [Resource::DataProduct(product)] => (**product).clone(),
        other => panic!("orders.yaml: expected one DataProduct, got {}", other.len()),
    };
    product.metadata.uid = Some(UID.into());
    product.metadata.generation = Some(1);
    product.metadata.resource_version = Some("100".into());
    product
}

/// The engine with examples/policy.yaml (platform-baseline, Enforce) in force.
pub fn engine() -> Arc<SharedEngine> {
    let policies: Vec<_> = example("policy.yaml")
        .into_iter()
        .map(|r| match r {
            Resource::GovernancePolicy(p) => *p,
            Resource::DataProduct(_) => panic!("policy.yaml holds a DataProduct"),
        })
        .collect();
    Arc::new(SharedEngine::new(
        Engine::new(&policies).expect("examples/policy.yaml compiles"),
    ))
}

/// Strimzi topic mode (no Kafka admin client needed), topics in their own namespace.
pub fn settings() -> PlatformSettings {
    PlatformSettings {
        topic_mode: TopicMode::Strimzi {
            cluster: "kafka".into(),
            namespace: Some(TOPICS_NAMESPACE.into()),
        },
        s3_endpoint: "http://s3.test".into(),
        ..PlatformSettings::default()
    }
}

/// Worker and reader key pairs, so every Secret the controller can create is created.
pub fn credentials() -> Credentials {
    Credentials {
        worker: Some(("worker-key-id".into(), "worker-secret".into())),
        reader: Some(("reader-key-id".into(), "reader-secret".into())),
        // The catalog URI Secret is exercised against the real stack.
        catalog_uri: None,
    }
}

/// A fresh context (no state from earlier reconciles) on the harness's clients.
pub fn context(harness: &harness::Harness) -> Arc<Context> {
    Arc::new(Context::new(
        harness.client.clone(),
        engine(),
        settings(),
        harness.s3.clone(),
        None,
        credentials(),
    ))
}

/// What the planner makes of an admitted product: the oracle for the children applied,
/// the bucket configured and the topics read back.
pub fn desired(product: &DataProduct) -> DesiredState {
    let decision = engine().engine().evaluate(product);
    assert!(
        decision.allowed,
        "the product is expected to be compliant: {:?}",
        decision.violations
    );
    let mut desired = plan(&decision.effective, &settings()).expect("the product plans");
    // The versions the mock API server gives the workers' Secrets (`kube::secrets`).
    meshplane_planner::workload::pin_secret_versions(
        &mut desired.children.workload,
        kube::PINNED_SECRET_VERSIONS,
    );
    desired
}
