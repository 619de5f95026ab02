//! Pruning decides from the planner's desired children which found objects are orphans.

use meshplane_api::load::{load_all, Resource};
use meshplane_api::{DataProduct, DeletionPolicy};
use meshplane_governance::Engine;
use meshplane_planner::prune::{orphans, targets, FoundChild, Orphan};
use meshplane_planner::{plan, ChildId, PlatformSettings, TopicMode};
use std::collections::BTreeMap;

fn admitted(example: &str) -> DataProduct {
    let mut products = Vec::new();
    let mut policies = Vec::new();
    for text in [example, include_str!("../../../examples/policy.yaml")] {
        for r in load_all(text, "fixture").unwrap() {
            match r {
                Resource::DataProduct(p) => products.push(*p),
                Resource::GovernancePolicy(p) => policies.push(*p),
            }
        }
    }
    let decision = Engine::new(&policies).unwrap().evaluate(&products[0]);
    assert!(decision.allowed, "{:?}", decision.violations);
    let mut effective = decision.effective;
    effective.metadata.uid = Some("uid-1".into());
    effective
}

fn found(manifest: &serde_json::Value) -> FoundChild {
    FoundChild {
        id: ChildId::of(manifest),
        labels: serde_json::from_value(manifest["metadata"]["labels"].clone()).unwrap_or_default(),
        owner_uids: manifest["metadata"]["ownerReferences"]
            .as_array()
            .map(|o| {
                o.iter()
                    .map(|r| r["uid"].as_str().unwrap().to_string())
                    .collect()
            })
            .unwrap_or_default(),
        deleting: false,
    }
}

fn strimzi() -> PlatformSettings {
    PlatformSettings {
        topic_mode: TopicMode::Strimzi {
            cluster: "events".into(),
            namespace: Some("kafka".into()),
        },
        ..PlatformSettings::default()
    }
}

#[test]
fn switching_the_source_from_kafka_to_batch_makes_the_deployment_an_orphan() {
    let orders = include_str!("../../../examples/orders.yaml");
    let before = plan(&admitted(orders), &PlatformSettings::default()).unwrap();
    let batch = orders.replace(
        "    kafka:\n      topic: orders.events\n      partitions: 6\n      format: json\n",
        "    batch:\n      url: https://api.example.com/orders\n      schedule: \"0 * * * *\"\n",
    );
    assert_ne!(batch, orders, "the fixture edit must apply");
    let product = admitted(&batch);
    let after = plan(&product, &PlatformSettings::default()).unwrap();
    let existing: Vec<FoundChild> = before.children.manifests().iter().map(found).collect();
    let orphaned = orphans(&product, &existing, &after.children.ids());
    // The source's KafkaTopic goes too, released first: the topic keeps its data
    // (orders retains its data, and other applications write the topic). So do the SLO
    // alerts: a batch pull exports no series to alert on yet.
    assert_eq!(
        orphaned,
        vec![
            Orphan::ReleaseTopic(ChildId {
                kind: "KafkaTopic".into(),
                namespace: "kafka".into(),
                name: "orders-events".into(),
            }),
            Orphan::Delete(ChildId {
                kind: "Deployment".into(),
                namespace: "orders".into(),
                name: "orders-ingest".into(),
            }),
            Orphan::Delete(ChildId {
                kind: "PrometheusRule".into(),
                namespace: "orders".into(),
                name: "orders-slo".into(),
            }),
        ]
    );
}

#[test]
fn nothing_desired_is_pruned_and_objects_of_other_products_are_left_alone() {
    let product = admitted(include_str!("../../../examples/orders.yaml"));
    let desired = plan(&product, &strimzi()).unwrap();
    let existing: Vec<FoundChild> = desired.children.manifests().iter().map(found).collect();
    assert_eq!(
        orphans(&product, &existing, &desired.children.ids()),
        vec![]
    );

    // Same product name in another namespace: another product's child.
    let mut stranger = found(&desired.children.manifests()[0]);
    stranger.id.name = "orders-old".into();
    stranger.owner_uids = vec!["uid-2".into()];
    stranger
        .labels
        .insert("meshplane.dev/product-namespace".into(), "elsewhere".into());
    assert_eq!(
        orphans(&product, &[stranger], &desired.children.ids()),
        vec![]
    );
}

#[test]
fn a_removed_stream_port_prunes_its_kafka_topic_and_a_retained_source_topic_is_released() {
    let mut with_stream = admitted(include_str!("../../../examples/orders.yaml"));
    with_stream.spec.output.stream = Some(meshplane_api::StreamOutput {
        topic: "orders.events.masked".into(),
    });
    let before = plan(&with_stream, &strimzi()).unwrap();
    let mut without = with_stream.clone();
    without.spec.output.stream = None;
    let after = plan(&without, &strimzi()).unwrap();
    let existing: Vec<FoundChild> = before.children.manifests().iter().map(found).collect();
    let orphaned = orphans(&without, &existing, &after.children.ids());
    assert_eq!(orphaned.len(), 1, "{orphaned:?}");
    let Orphan::Delete(id) = &orphaned[0] else {
        panic!("a stream topic is deleted, not released: {orphaned:?}")
    };
    assert_eq!(
        (id.kind.as_str(), id.namespace.as_str()),
        ("KafkaTopic", "kafka")
    );

    // The source topic of a product that retains its data is released, not deleted.
    let mut batch = without.clone();
    batch.spec.deletion_policy = DeletionPolicy::Retain;
    batch.spec.source.kafka = None;
    batch.spec.source.batch = Some(meshplane_api::BatchSource {
        url: "https://api.example.com/orders".into(),
        schedule: "0 * * * *".into(),
        credentials_secret_ref: None,
    });
    let after = plan(&batch, &strimzi()).unwrap();
    let orphaned = orphans(&batch, &existing, &after.children.ids());
    assert!(
        orphaned
            .iter()
            .any(|o| matches!(o, Orphan::ReleaseTopic(id) if id.kind == "KafkaTopic")),
        "{orphaned:?}"
    );
}

#[test]
fn pruning_looks_in_the_topic_operators_namespace_too() {
    let product = admitted(include_str!("../../../examples/orders.yaml"));
    let places: BTreeMap<String, usize> =
        targets(&product, &strimzi())
            .iter()
            .fold(BTreeMap::new(), |mut m, t| {
                *m.entry(t.namespace.clone()).or_insert(0) += 1;
                m
            });
    assert_eq!(places.get("orders"), Some(&11));
    assert_eq!(places.get("kafka"), Some(&1));
    let direct = PlatformSettings {
        topic_mode: TopicMode::Direct,
        ..PlatformSettings::default()
    };
    assert_eq!(targets(&product, &direct).len(), 11);
}
