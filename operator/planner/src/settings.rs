//! What the platform team configures once for all products (Helm values / flags).

use serde::{Deserialize, Serialize};

/// How topics are provisioned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum TopicMode {
    /// Strimzi `KafkaTopic` resources, reconciled by Strimzi's topic operator.
    Strimzi {
        /// Name of the `Kafka` cluster resource (the `strimzi.io/cluster` label).
        cluster: String,
        /// Namespace the topic operator watches; `None` puts topics beside the product.
        namespace: Option<String>,
    },
    /// Topics created and updated directly through the Kafka admin API.
    Direct,
}

/// Platform-wide settings. A settings file may name only what differs from the defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PlatformSettings {
    /// Image of the `meshplane` binary, run as the ingestion worker.
    pub image: String,
    /// Prefix of every bucket name, e.g. `meshplane`.
    pub bucket_prefix: String,
    /// Kafka bootstrap servers the workers use.
    pub kafka_bootstrap_servers: String,
    /// How topics are provisioned.
    pub topic_mode: TopicMode,
    /// Replication factor of created topics.
    pub topic_replicas: i32,
    /// Partitions of created topics when the product names none.
    pub default_partitions: i32,
    /// Longest time raw (unmasked) events stay in a source topic; the table keeps the rest.
    pub max_source_topic_retention_seconds: u64,
    /// S3 endpoint URL the workers use (empty for AWS).
    pub s3_endpoint: String,
    /// S3 region.
    pub s3_region: String,
    /// Secret (in each product namespace) with `access-key-id` / `secret-access-key` the
    /// namespace's workers share, when keys are not issued per product.
    pub s3_credentials_secret: String,
    /// Each product's workers get their own keys, able to write that product's bucket only,
    /// in the Secret [`crate::names::worker_credentials`] (issued by the controller through
    /// the object store's IAM API); false: they share [`Self::s3_credentials_secret`].
    pub worker_keys_per_product: bool,
    /// Secret (in each product namespace) with the HMAC `key` used to pseudonymise PII.
    pub masking_key_secret: String,
    /// Port of the workers' metrics and health endpoints.
    pub worker_metrics_port: u16,
    /// When the node pulls the worker image: `IfNotPresent`, `Always` or `Never` (images
    /// imported into the node, as in air-gapped clusters).
    pub image_pull_policy: String,
    /// CPU each worker requests (a Kubernetes quantity).
    pub worker_cpu_request: String,
    /// Memory each worker requests.
    pub worker_memory_request: String,
    /// Memory limit of each worker.
    pub worker_memory_limit: String,
    /// Kind of Iceberg catalog: `sql` (PostgreSQL) or `rest`.
    pub catalog_type: String,
    /// Name of the Iceberg catalog engines use.
    pub catalog_name: String,
    /// Warehouse of the catalog (root location, or the REST catalog's warehouse).
    pub catalog_warehouse: String,
    /// Secret (in each product namespace) with the catalog's `uri` (and, for REST,
    /// optional `credential` / `token`) for workers.
    pub catalog_secret: String,
    /// Trino coordinator that runs each product's table maintenance (e.g.
    /// `http://trino.trino.svc:8080`); empty: no maintenance job (tables are not compacted
    /// and retention is not applied, which the product's status says).
    pub maintenance_trino_url: String,
    /// Trino's catalog holding the products' tables.
    pub maintenance_trino_catalog: String,
    /// Cron schedule of the maintenance jobs.
    pub maintenance_schedule: String,
    /// How long snapshots are kept (time travel) before maintenance expires them, e.g. `7d`.
    pub maintenance_keep_snapshots: String,
    /// Age after which files no snapshot references are removed, e.g. `7d`; longer than
    /// any worker holds a written, uncommitted file.
    pub maintenance_orphan_age: String,
    /// How long every SLO alert's condition must hold before it fires (Prometheus `for`,
    /// e.g. `2m`); empty: each alert's own (freshness 5m, rejecting 15m, ingestion down 10m).
    pub alert_for: String,
    /// Whether the platform's Prometheus scrapes the query port
    /// (`meshplane_query_duration_seconds{product}`): then each product's dashboard has a
    /// query-latency panel and a product with `spec.slo.queryLatencyP99` an alert on it.
    pub query_latency_scraped: bool,
}

impl Default for PlatformSettings {
    fn default() -> Self {
        PlatformSettings {
            image: "ghcr.io/meshplane/meshplane:0.1.0".into(),
            bucket_prefix: "meshplane".into(),
            kafka_bootstrap_servers: "kafka-kafka-bootstrap.kafka.svc:9092".into(),
            topic_mode: TopicMode::Strimzi {
                cluster: "kafka".into(),
                namespace: Some("kafka".into()),
            },
            topic_replicas: 3,
            default_partitions: 3,
            max_source_topic_retention_seconds: 7 * 86_400,
            s3_endpoint: String::new(),
            s3_region: "us-east-1".into(),
            s3_credentials_secret: "meshplane-s3-credentials".into(),
            worker_keys_per_product: false,
            masking_key_secret: "meshplane-masking-key".into(),
            worker_metrics_port: 9464,
            image_pull_policy: "IfNotPresent".into(),
            worker_cpu_request: "250m".into(),
            worker_memory_request: "256Mi".into(),
            worker_memory_limit: "1Gi".into(),
            catalog_type: "sql".into(),
            catalog_name: "meshplane".into(),
            catalog_warehouse: "s3://meshplane-warehouse".into(),
            catalog_secret: "meshplane-catalog".into(),
            maintenance_trino_url: String::new(),
            maintenance_trino_catalog: "meshplane".into(),
            maintenance_schedule: "30 * * * *".into(),
            maintenance_keep_snapshots: "7d".into(),
            maintenance_orphan_age: "7d".into(),
            alert_for: String::new(),
            query_latency_scraped: false,
        }
    }
}
