//! Strimzi KafkaTopics of the product's topics (Strimzi topic mode only).

use crate::external::TopicSpec;
use crate::meta::child_meta;
use crate::names;
use crate::settings::{PlatformSettings, TopicMode};
use meshplane_api::DataProduct;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Label on a KafkaTopic saying which of the product's topics it is (`source`, `stream`).
pub const TOPIC_ROLE_LABEL: &str = "meshplane.dev/topic-role";

/// One KafkaTopic per topic, in the topic operator's namespace when one is configured.
pub fn topic_objects(
    product: &DataProduct,
    settings: &PlatformSettings,
    topics: &[TopicSpec],
) -> Vec<Value> {
    let TopicMode::Strimzi { cluster, namespace } = &settings.topic_mode else {
        return Vec::new();
    };
    topics
        .iter()
        .map(|topic| {
            let mut meta = child_meta(product, names::kafka_topic_resource(&topic.name), "topic");
            if let Some(ns) = namespace {
                if Some(ns) != product.metadata.namespace.as_ref() {
                    // Owner references cannot cross namespaces; the finalizer cleans these up.
                    meta.owner_references = None;
                }
                meta.namespace = Some(ns.clone());
            }
            let labels = meta.labels.get_or_insert_with(BTreeMap::new);
            labels.insert("strimzi.io/cluster".into(), cluster.clone());
            labels.insert(TOPIC_ROLE_LABEL.into(), topic.role.label().into());
            json!({
                "apiVersion": "kafka.strimzi.io/v1beta2",
                "kind": "KafkaTopic",
                "metadata": meta,
                "spec": {
                    "topicName": topic.name,
                    "partitions": topic.partitions,
                    "replicas": topic.replicas,
                    "config": topic.config,
                }
            })
        })
        .collect()
}
