//! The ingestion plan: everything a `meshplane ingest` worker needs to turn a source into
//! the product's governed table, written by the planner into a ConfigMap. Credentials are
//! never part of it; they come from Secrets through the environment.

use crate::common::{Classification, FieldType, MaskingStrategy};
use crate::data_product::{Granularity, QualityCheck};
use serde::{Deserialize, Serialize};

/// Key of the plan inside its ConfigMap.
pub const PLAN_CONFIGMAP_KEY: &str = "plan.json";

/// A worker's complete instructions.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IngestPlan {
    /// `namespace/name` of the product.
    pub product: String,
    /// Where records come from.
    pub source: PlanSource,
    /// Bucket of the table.
    pub bucket: String,
    /// Key prefix of the table (no leading or trailing `/`).
    pub table_prefix: String,
    /// Key prefix of rejected records.
    pub dead_letter_prefix: String,
    /// Fields with their effective types and masking.
    pub fields: Vec<PlannedField>,
    /// Field that places records in time partitions, if any.
    pub partition_field: Option<String>,
    /// Partition size.
    pub granularity: Granularity,
    /// Seconds after which an open file is closed and uploaded.
    pub flush_interval_seconds: u64,
    /// Quality checks to run on every record.
    pub quality: Vec<QualityCheck>,
    /// Masked output topic, if any.
    pub stream_topic: Option<String>,
    /// Server-side encryption to request on every object (`AES256` or `aws:kms`).
    pub encryption: Option<String>,
    /// KMS key for `aws:kms`.
    pub kms_key_id: Option<String>,
    /// The product's Apache Iceberg table.
    pub iceberg: IcebergTablePlan,
    /// How long rows stay in the table, in seconds (the product's `spec.retention`):
    /// maintenance deletes the time partitions that ended longer ago than this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_seconds: Option<u64>,
}

/// The Iceberg table a product's rows are committed to. Its schema is the plan's `fields`
/// (masked fields as strings), its partition spec the hour or day of `partitionField`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IcebergTablePlan {
    /// Catalog namespace: the product's domain.
    pub namespace: String,
    /// Table name: the product's name with `-` as `_`.
    pub name: String,
    /// Table location, `s3://<bucket>/<tablePrefix>`.
    pub location: String,
    /// Table properties the controller sets (file format and size, compression, no column
    /// metrics for personal data, the owning product).
    pub properties: std::collections::BTreeMap<String, String>,
}

/// Where a worker reads from. Exactly one member is set.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PlanSource {
    /// A Kafka topic (also the target of change data capture).
    pub kafka: Option<KafkaPlan>,
    /// An HTTP endpoint pulled on a schedule.
    pub http: Option<HttpPlan>,
    /// Other products' tables and a SQL transform.
    pub products: Option<ProductsPlan>,
}

/// Consuming a topic.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KafkaPlan {
    /// Bootstrap servers.
    pub bootstrap_servers: String,
    /// Topic to consume.
    pub topic: String,
    /// Consumer group, stable across restarts so committed offsets are found again.
    pub consumer_group: String,
    /// Whether records are Debezium change events (the row is in `payload.after`).
    pub change_events: bool,
}

/// Pulling an HTTP endpoint.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HttpPlan {
    /// URL answering with a JSON array or JSON lines.
    pub url: String,
}

/// Transforming other products.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProductsPlan {
    /// Input tables.
    pub inputs: Vec<PlanInput>,
    /// SQL over the inputs.
    pub transform: String,
}

/// One input table.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PlanInput {
    /// `namespace/name` of the input product.
    pub product: String,
    /// Table name in the SQL (the product name with `-` as `_`).
    pub table: String,
    /// Bucket of its table.
    pub bucket: String,
    /// Key prefix of its table.
    pub prefix: String,
}

/// A field as the worker handles it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PlannedField {
    /// Field name.
    pub name: String,
    /// Logical type.
    #[serde(rename = "type")]
    pub field_type: FieldType,
    /// Whether it may be null or absent.
    pub nullable: bool,
    /// Effective classification.
    pub classification: Classification,
    /// Whether it is personal data.
    pub pii: bool,
    /// Effective masking.
    pub masking: MaskingStrategy,
}
