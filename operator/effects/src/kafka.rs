//! Topics through the Kafka admin API, for clusters without Strimzi ("direct" mode):
//! created if absent, partitions grown and topic configs kept equal to the planner's
//! [`TopicSpec`], deleted on request.

use meshplane_planner::TopicSpec;
use rdkafka::admin::{
    AdminClient, AdminOptions, AlterConfig, NewPartitions, NewTopic, ResourceSpecifier,
    TopicReplication,
};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::metadata::Metadata;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;

/// How long one admin request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// A Kafka admin request failed.
#[derive(Debug, Error)]
pub enum KafkaAdminError {
    /// The admin client could not be created.
    #[error("failed to create a Kafka admin client for {bootstrap}: {source}")]
    Client {
        /// Bootstrap servers.
        bootstrap: String,
        /// Cause.
        source: KafkaError,
    },
    /// Reading cluster metadata failed (brokers unreachable).
    #[error("failed to read Kafka metadata for topic {topic}: {source}")]
    Metadata {
        /// Topic.
        topic: String,
        /// Cause.
        source: KafkaError,
    },
    /// Creating the topic failed.
    #[error("failed to create topic {topic}: {reason}")]
    Create {
        /// Topic.
        topic: String,
        /// The broker's reason.
        reason: String,
    },
    /// Adding partitions failed.
    #[error("failed to grow topic {topic} to {partitions} partitions: {reason}")]
    Partitions {
        /// Topic.
        topic: String,
        /// Wanted count.
        partitions: i32,
        /// The broker's reason.
        reason: String,
    },
    /// Reading or changing topic configuration failed.
    #[error("failed to configure topic {topic}: {reason}")]
    Config {
        /// Topic.
        topic: String,
        /// The broker's reason.
        reason: String,
    },
    /// Deleting the topic failed.
    #[error("failed to delete topic {topic}: {reason}")]
    Delete {
        /// Topic.
        topic: String,
        /// The broker's reason.
        reason: String,
    },
}

/// What [`KafkaAdmin::ensure_topic`] had to do.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TopicReport {
    /// The topic did not exist and was created.
    pub created: bool,
    /// Partitions were added (from, to).
    pub grown: Option<(i32, i32)>,
    /// Config keys set back to the declared values.
    pub reconfigured: Vec<String>,
    /// The topic has more partitions than declared; Kafka cannot shrink a topic.
    pub extra_partitions: Option<i32>,
}

/// A Kafka admin client.
pub struct KafkaAdmin {
    admin: Arc<AdminClient<DefaultClientContext>>,
    bootstrap: String,
}

fn reason(e: impl std::fmt::Display) -> String {
    e.to_string()
}

impl KafkaAdmin {
    /// Connects lazily to the bootstrap servers.
    pub fn new(bootstrap: &str) -> Result<Self, KafkaAdminError> {
        let admin = ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .set("socket.timeout.ms", "10000")
            .create()
            .map_err(|source| KafkaAdminError::Client {
                bootstrap: bootstrap.into(),
                source,
            })?;
        Ok(KafkaAdmin {
            admin: Arc::new(admin),
            bootstrap: bootstrap.into(),
        })
    }

    /// The bootstrap servers this client talks to.
    pub fn bootstrap(&self) -> &str {
        &self.bootstrap
    }

    fn options() -> AdminOptions {
        AdminOptions::new().request_timeout(Some(REQUEST_TIMEOUT))
    }

    async fn metadata(&self, topic: &str) -> Result<Metadata, KafkaAdminError> {
        let admin = self.admin.clone();
        let topic_name = topic.to_string();
        // librdkafka's metadata call blocks; keep it off the async workers.
        tokio::task::spawn_blocking(move || {
            admin
                .inner()
                .fetch_metadata(Some(&topic_name), REQUEST_TIMEOUT)
        })
        .await
        .unwrap_or(Err(KafkaError::Canceled))
        .map_err(|source| KafkaAdminError::Metadata {
            topic: topic.into(),
            source,
        })
    }

    /// Partition count of a topic, `None` when it does not exist.
    pub async fn partitions(&self, topic: &str) -> Result<Option<i32>, KafkaAdminError> {
        let metadata = self.metadata(topic).await?;
        Ok(metadata
            .topics()
            .iter()
            .find(|t| t.name() == topic)
            .filter(|t| t.error().is_none())
            .map(|t| t.partitions().len() as i32))
    }

    /// Current values of the topic's configs.
    pub async fn config(&self, topic: &str) -> Result<BTreeMap<String, String>, KafkaAdminError> {
        let results = self
            .admin
            .describe_configs([&ResourceSpecifier::Topic(topic)], &Self::options())
            .await
            .map_err(|e| KafkaAdminError::Config {
                topic: topic.into(),
                reason: reason(e),
            })?;
        let mut config = BTreeMap::new();
        for result in results {
            let resource = result.map_err(|e| KafkaAdminError::Config {
                topic: topic.into(),
                reason: reason(e),
            })?;
            for entry in resource.entries {
                if let Some(value) = entry.value {
                    config.insert(entry.name, value);
                }
            }
        }
        Ok(config)
    }

    /// Makes the topic exist with at least the declared partitions and the declared configs.
    pub async fn ensure_topic(&self, spec: &TopicSpec) -> Result<TopicReport, KafkaAdminError> {
        let mut report = TopicReport::default();
        match self.partitions(&spec.name).await? {
            None => {
                let config: Vec<(&str, &str)> = spec
                    .config
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                let mut topic = NewTopic::new(
                    &spec.name,
                    spec.partitions,
                    TopicReplication::Fixed(spec.replicas),
                );
                for (k, v) in &config {
                    topic = topic.set(k, v);
                }
                let results = self
                    .admin
                    .create_topics([&topic], &Self::options())
                    .await
                    .map_err(|e| KafkaAdminError::Create {
                        topic: spec.name.clone(),
                        reason: reason(e),
                    })?;
                for result in results {
                    match result {
                        Ok(_) => report.created = true,
                        // Created concurrently (another replica, a retry): fall through to
                        // the config check below on the next reconcile.
                        Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                        Err((_, code)) => {
                            return Err(KafkaAdminError::Create {
                                topic: spec.name.clone(),
                                reason: code.to_string(),
                            })
                        }
                    }
                }
                return Ok(report);
            }
            Some(current) if current < spec.partitions => {
                let grow = NewPartitions::new(&spec.name, spec.partitions as usize);
                let results = self
                    .admin
                    .create_partitions([&grow], &Self::options())
                    .await
                    .map_err(|e| KafkaAdminError::Partitions {
                        topic: spec.name.clone(),
                        partitions: spec.partitions,
                        reason: reason(e),
                    })?;
                for result in results {
                    result.map_err(|(_, code)| KafkaAdminError::Partitions {
                        topic: spec.name.clone(),
                        partitions: spec.partitions,
                        reason: code.to_string(),
                    })?;
                }
                report.grown = Some((current, spec.partitions));
            }
            Some(current) if current > spec.partitions => report.extra_partitions = Some(current),
            Some(_) => {}
        }
        let current = self.config(&spec.name).await?;
        let drifted: Vec<&String> = spec
            .config
            .iter()
            .filter(|(k, v)| current.get(*k) != Some(*v))
            .map(|(k, _)| k)
            .collect();
        if !drifted.is_empty() {
            // AlterConfigs replaces the topic's whole dynamic config: send every declared key.
            let mut alter = AlterConfig::new(ResourceSpecifier::Topic(&spec.name));
            for (k, v) in &spec.config {
                alter = alter.set(k, v);
            }
            let results = self
                .admin
                .alter_configs([&alter], &Self::options())
                .await
                .map_err(|e| KafkaAdminError::Config {
                    topic: spec.name.clone(),
                    reason: reason(e),
                })?;
            for result in results {
                result.map_err(|(_, code)| KafkaAdminError::Config {
                    topic: spec.name.clone(),
                    reason: code.to_string(),
                })?;
            }
            report.reconfigured = drifted.into_iter().cloned().collect();
        }
        Ok(report)
    }

    /// Deletes the topic; a topic that does not exist is already deleted.
    pub async fn delete_topic(&self, topic: &str) -> Result<(), KafkaAdminError> {
        let results = self
            .admin
            .delete_topics(&[topic], &Self::options())
            .await
            .map_err(|e| KafkaAdminError::Delete {
                topic: topic.into(),
                reason: reason(e),
            })?;
        for result in results {
            match result {
                Ok(_) | Err((_, RDKafkaErrorCode::UnknownTopicOrPartition)) => {}
                Err((_, code)) => {
                    return Err(KafkaAdminError::Delete {
                        topic: topic.into(),
                        reason: code.to_string(),
                    })
                }
            }
        }
        Ok(())
    }
}
