//! Specs of what lives outside the cluster: the bucket and the topics.

use crate::settings::PlatformSettings;
use crate::{names, product_key, PlanError};
use meshplane_api::duration;
use meshplane_api::{DataProduct, EncryptionAlgorithm};
use serde::Serialize;
use std::collections::BTreeMap;

/// The product's bucket and how it must be configured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BucketSpec {
    /// Bucket name (DNS-safe, ≤ 63).
    pub name: String,
    /// Prefix of the table inside the bucket.
    pub table_prefix: String,
    /// Prefix of rejected records.
    pub dead_letter_prefix: String,
    /// Default server-side encryption (`AES256` or `aws:kms`), if encrypted.
    pub encryption: Option<String>,
    /// KMS key for `aws:kms`.
    pub kms_key_id: Option<String>,
    /// Lifecycle expiration of every object, in days (the product's retention).
    pub expiration_days: u64,
    /// Bucket tags: product, domain, owner, classification and compliance tags.
    pub tags: BTreeMap<String, String>,
}

/// What a topic is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum TopicRole {
    /// Raw events the product is built from.
    Source,
    /// Masked events the product republishes.
    StreamOutput,
}

impl TopicRole {
    /// The value of the topic-role label.
    pub fn label(self) -> &'static str {
        match self {
            TopicRole::Source => "source",
            TopicRole::StreamOutput => "stream",
        }
    }
}

/// A topic and its configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TopicSpec {
    /// Topic name.
    pub name: String,
    /// What it is for.
    pub role: TopicRole,
    /// Partitions (only ever increased on existing topics).
    pub partitions: i32,
    /// Replication factor.
    pub replicas: i32,
    /// Topic configuration, e.g. `retention.ms`.
    pub config: BTreeMap<String, String>,
}

/// The product's bucket.
pub fn bucket(product: &DataProduct, settings: &PlatformSettings) -> Result<BucketSpec, PlanError> {
    let spec = &product.spec;
    let namespace = product.metadata.namespace.as_deref().unwrap_or("default");
    let name = product.metadata.name.as_deref().unwrap_or_default();
    let retention = duration::parse(&spec.retention).map_err(|source| PlanError::Duration {
        product: product_key(product),
        field: "spec.retention",
        source,
    })?;
    let (encryption, kms_key_id) = match &spec.encryption {
        Some(e) if e.enabled => (Some(e.algorithm.as_str().to_string()), e.kms_key_id.clone()),
        Some(_) => (None, None),
        // Admission sets encryption; a product admitted without it is still encrypted.
        None => (Some(EncryptionAlgorithm::Aes256.as_str().to_string()), None),
    };
    let mut tags = BTreeMap::from([
        (
            "meshplane.dev/product".to_string(),
            format!("{namespace}.{name}"),
        ),
        ("meshplane.dev/domain".to_string(), spec.domain.clone()),
        ("meshplane.dev/owner".to_string(), spec.owner.clone()),
        (
            "meshplane.dev/classification".to_string(),
            spec.classification
                .map(|c| c.as_str())
                .unwrap_or("unclassified")
                .to_string(),
        ),
    ]);
    let labels = product.metadata.labels.clone().unwrap_or_default();
    for key in labels.keys() {
        if let Some(tag) = key.strip_prefix("compliance.meshplane.dev/") {
            tags.insert(
                format!("meshplane.dev/compliance.{tag}"),
                "true".to_string(),
            );
        }
    }
    Ok(BucketSpec {
        name: names::bucket(&settings.bucket_prefix, namespace, name),
        table_prefix: "table".to_string(),
        dead_letter_prefix: "_rejected".to_string(),
        encryption,
        kms_key_id,
        expiration_days: duration::whole_days_ceil(retention).max(1),
        tags,
    })
}

/// The topic change data capture writes a product's rows to.
pub fn cdc_topic(product: &DataProduct) -> String {
    format!(
        "meshplane.cdc.{}.{}",
        product.metadata.namespace.as_deref().unwrap_or("default"),
        product.metadata.name.as_deref().unwrap_or_default()
    )
}

/// The product's topics: its Kafka (or CDC) source and its stream output port.
pub fn topics(
    product: &DataProduct,
    settings: &PlatformSettings,
) -> Result<Vec<TopicSpec>, PlanError> {
    let spec = &product.spec;
    let retention = duration::parse(&spec.retention).map_err(|source| PlanError::Duration {
        product: product_key(product),
        field: "spec.retention",
        source,
    })?;
    let raw_retention_ms = retention
        .as_secs()
        .min(settings.max_source_topic_retention_seconds)
        * 1000;
    let mut topics = Vec::new();
    let source_name = match (&spec.source.kafka, &spec.source.cdc) {
        (Some(k), _) => Some((k.topic.clone(), k.partitions)),
        (None, Some(_)) => Some((cdc_topic(product), None)),
        _ => None,
    };
    if let Some((name, partitions)) = source_name {
        topics.push(TopicSpec {
            name,
            role: TopicRole::Source,
            partitions: partitions.unwrap_or(settings.default_partitions),
            replicas: settings.topic_replicas,
            config: BTreeMap::from([
                ("retention.ms".to_string(), raw_retention_ms.to_string()),
                ("cleanup.policy".to_string(), "delete".to_string()),
            ]),
        });
    }
    if let Some(stream) = &spec.output.stream {
        topics.push(TopicSpec {
            name: stream.topic.clone(),
            role: TopicRole::StreamOutput,
            partitions: spec
                .source
                .kafka
                .as_ref()
                .and_then(|k| k.partitions)
                .unwrap_or(settings.default_partitions),
            replicas: settings.topic_replicas,
            config: BTreeMap::from([
                (
                    "retention.ms".to_string(),
                    (retention.as_secs() * 1000).to_string(),
                ),
                ("cleanup.policy".to_string(), "delete".to_string()),
            ]),
        });
    }
    Ok(topics)
}
