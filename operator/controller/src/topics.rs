//! The topic step: direct mode provisions topics through the Kafka admin API; Strimzi
//! mode reads back what the topic operator says about the applied `KafkaTopic`s.

use crate::context::{event, Context};
use crate::error::ReconcileError;
use crate::status::TopicsReport;
use kube::runtime::events::EventType;
use meshplane_api::DataProduct;
use meshplane_effects::strimzi::{topic_state, TopicState};
use meshplane_planner::{names, TopicMode, TopicSpec};

/// Provisions (direct) or checks (Strimzi) the product's topics.
pub async fn ensure_topics(
    ctx: &Context,
    product: &DataProduct,
    topics: &[TopicSpec],
) -> Result<TopicsReport, ReconcileError> {
    if topics.is_empty() {
        return Ok(TopicsReport {
            ready: true,
            reason: "NoTopic",
            message: "the product's source has no topic".into(),
        });
    }
    let names: Vec<&str> = topics.iter().map(|t| t.name.as_str()).collect();
    match &ctx.settings.topic_mode {
        TopicMode::Direct => {
            let admin = ctx.kafka.as_ref().ok_or(ReconcileError::NoKafkaAdmin)?;
            for topic in topics {
                let report = admin.ensure_topic(topic).await?;
                if report.created {
                    let note = format!(
                        "topic {} created with {} partitions",
                        topic.name, topic.partitions
                    );
                    event(
                        ctx,
                        product,
                        EventType::Normal,
                        "TopicCreated",
                        "Provision",
                        note,
                    )
                    .await;
                }
                if !report.reconfigured.is_empty() || report.grown.is_some() {
                    let note = format!(
                        "topic {} drift repaired: {}{}",
                        topic.name,
                        report.reconfigured.join(", "),
                        report
                            .grown
                            .map(|(from, to)| format!(" partitions {from} -> {to}"))
                            .unwrap_or_default()
                    );
                    event(
                        ctx,
                        product,
                        EventType::Warning,
                        "DriftRepaired",
                        "Repair",
                        note,
                    )
                    .await;
                }
                if let Some(extra) = report.extra_partitions {
                    let note = format!(
                        "topic {} has {extra} partitions, more than the {} declared; Kafka cannot remove partitions",
                        topic.name, topic.partitions
                    );
                    event(
                        ctx,
                        product,
                        EventType::Warning,
                        "ExtraPartitions",
                        "Provision",
                        note,
                    )
                    .await;
                }
            }
            Ok(TopicsReport {
                ready: true,
                reason: "TopicsProvisioned",
                message: format!("topics {} exist as declared", names.join(", ")),
            })
        }
        TopicMode::Strimzi { namespace, .. } => {
            let product_namespace = product.metadata.namespace.clone().unwrap_or_default();
            let namespace = namespace.clone().unwrap_or(product_namespace);
            let mut waiting = Vec::new();
            for topic in topics {
                let resource = names::kafka_topic_resource(&topic.name);
                match topic_state(&ctx.client, &namespace, &resource).await? {
                    TopicState::Ready => {}
                    TopicState::Failed(message) => {
                        return Ok(TopicsReport {
                            ready: false,
                            reason: "KafkaTopicFailed",
                            message: format!("KafkaTopic {namespace}/{resource}: {message}"),
                        })
                    }
                    TopicState::Pending(message) => {
                        waiting.push(format!("{namespace}/{resource} ({message})"))
                    }
                }
            }
            Ok(if waiting.is_empty() {
                TopicsReport {
                    ready: true,
                    reason: "KafkaTopicReady",
                    message: format!("the topic operator reports {} ready", names.join(", ")),
                }
            } else {
                TopicsReport {
                    ready: false,
                    reason: "WaitingForTopicOperator",
                    message: format!("waiting for KafkaTopic {}", waiting.join(", ")),
                }
            })
        }
    }
}
