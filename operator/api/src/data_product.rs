//! The `DataProduct` custom resource: what a domain team declares to publish a product.

use crate::common::{Classification, FieldType, MaskingStrategy, SubjectKind};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A data product: one domain's governed dataset, with its source, schema, outputs,
/// retention, service levels and readers. Meshplane admits it against the cluster's
/// GovernancePolicies and provisions storage, ingestion, access and monitoring for it.
#[derive(CustomResource, Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[kube(
    group = "meshplane.dev",
    version = "v1alpha1",
    kind = "DataProduct",
    derive = "PartialEq",
    plural = "dataproducts",
    singular = "dataproduct",
    shortname = "dp",
    category = "meshplane",
    namespaced,
    status = "DataProductStatus",
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Classification","type":"string","jsonPath":".spec.classification"}"#,
    printcolumn = r#"{"name":"Source","type":"string","jsonPath":".status.source"}"#,
    printcolumn = r#"{"name":"Freshness SLO","type":"string","jsonPath":".spec.slo.freshness"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct DataProductSpec {
    /// Business domain that owns the product, e.g. `orders` or `payments`.
    #[schemars(length(min = 1))]
    pub domain: String,
    /// Accountable owner: a team handle or an email address. Shown in the catalog.
    #[schemars(length(min = 1))]
    pub owner: String,
    /// What the product contains and what it is for, in a sentence or two.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Free-form keywords for discovery in the catalog.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Where the product's data comes from. Set exactly one of `kafka`, `cdc`, `batch`, `products`.
    pub source: Source,
    /// The product's schema: the contract consumers rely on.
    pub schema: Schema,
    /// How consumers read the product.
    pub output: OutputPorts,
    /// How long data is kept before it expires, e.g. `90d`. Becomes the storage lifecycle
    /// rule; governance caps it per classification and for personal data.
    #[schemars(regex(pattern = r"^[0-9]+(s|m|h|d|w)$"))]
    pub retention: String,
    /// Sensitivity of the product as a whole. Set by governance to at least the highest
    /// classification of any field; may be declared higher.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classification: Option<Classification>,
    /// Encryption at rest of the product's storage. Governance may require it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<Encryption>,
    /// Service levels the product promises its consumers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slo: Option<ServiceLevels>,
    /// Who may read the product.
    #[serde(default)]
    pub access: Access,
    /// Quality checks run on every record before it is written; failures go to the dead letter.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub quality: Vec<QualityCheck>,
    /// What happens to the stored data and topics when this resource is deleted.
    /// `Retain` (the default) keeps them; `Delete` removes them.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,
}

/// Where data comes from. Exactly one member is set.
#[derive(Serialize, Deserialize, KubeSchema, Clone, Debug, PartialEq, Default)]
#[x_kube(validation = kube::core::Rule::new(
    "[has(self.kafka), has(self.cdc), has(self.batch), has(self.products)].filter(x, x).size() == 1"
).message("set exactly one of kafka, cdc, batch, products"))]
#[serde(rename_all = "camelCase")]
pub struct Source {
    /// Events from a Kafka topic (sub-second products).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kafka: Option<KafkaSource>,
    /// Change data capture from an operational database (Debezium).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cdc: Option<CdcSource>,
    /// A scheduled pull from an HTTP API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<BatchSource>,
    /// A transformation of other data products, run in dependency order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub products: Option<ProductsSource>,
}

/// The kinds of source, for display and filtering.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    /// [`KafkaSource`].
    Kafka,
    /// [`CdcSource`].
    Cdc,
    /// [`BatchSource`].
    Batch,
    /// [`ProductsSource`].
    Products,
}

impl SourceKind {
    /// The lowercase name used in YAML.
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Kafka => "kafka",
            SourceKind::Cdc => "cdc",
            SourceKind::Batch => "batch",
            SourceKind::Products => "products",
        }
    }
}

impl Source {
    /// The kinds that are set; a valid source has exactly one.
    pub fn kinds(&self) -> Vec<SourceKind> {
        let mut kinds = Vec::new();
        if self.kafka.is_some() {
            kinds.push(SourceKind::Kafka);
        }
        if self.cdc.is_some() {
            kinds.push(SourceKind::Cdc);
        }
        if self.batch.is_some() {
            kinds.push(SourceKind::Batch);
        }
        if self.products.is_some() {
            kinds.push(SourceKind::Products);
        }
        kinds
    }

    /// A one-line description, e.g. `kafka:orders.events`.
    pub fn summary(&self) -> String {
        if let Some(k) = &self.kafka {
            format!("kafka:{}", k.topic)
        } else if let Some(c) = &self.cdc {
            format!("cdc:{}", c.tables.join(","))
        } else if let Some(b) = &self.batch {
            format!("batch:{}", b.schedule)
        } else if let Some(p) = &self.products {
            let names: Vec<&str> = p.inputs.iter().map(|i| i.name.as_str()).collect();
            format!("products:{}", names.join(","))
        } else {
            "none".to_string()
        }
    }
}

/// A Kafka topic the product is fed from.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct KafkaSource {
    /// Name of the source topic, e.g. `orders.events`.
    #[schemars(length(min = 1, max = 249))]
    pub topic: String,
    /// Partitions of the topic when Meshplane creates it. Existing topics keep theirs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 10000))]
    pub partitions: Option<i32>,
    /// Encoding of the events. Only `json` is supported.
    #[serde(default)]
    pub format: EventFormat,
    /// Ingestion workers consuming the topic together as one consumer group, each taking a
    /// share of its partitions (default 1). Cannot exceed `partitions` when that is set:
    /// workers beyond the partition count would stay idle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1000))]
    pub consumers: Option<i32>,
}

/// Encoding of source events.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum EventFormat {
    /// One JSON object per message.
    #[default]
    Json,
}

/// Change data capture from a database table list.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CdcSource {
    /// The database engine. Only `postgres` is supported.
    pub database: DatabaseKind,
    /// Secret (in the product's namespace) with keys `host`, `port`, `dbname`, `user`, `password`.
    pub connection_secret_ref: SecretReference,
    /// Tables to capture, as `schema.table`.
    #[schemars(length(min = 1))]
    pub tables: Vec<String>,
}

/// A database engine for change data capture.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum DatabaseKind {
    /// PostgreSQL with logical replication (`pgoutput`).
    Postgres,
}

/// A reference to a Secret in the product's namespace.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SecretReference {
    /// Name of the Secret.
    #[schemars(length(min = 1))]
    pub name: String,
}

/// A scheduled pull from an HTTP API.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct BatchSource {
    /// URL answering with a JSON array of records (or JSON lines).
    #[schemars(length(min = 1))]
    pub url: String,
    /// When to pull, as a cron expression (e.g. `0 * * * *` for hourly). Part of the product's contract.
    #[schemars(length(min = 1))]
    pub schedule: String,
    /// Optional Secret whose `token` key is sent as a bearer token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_secret_ref: Option<SecretReference>,
}

/// A product derived from other products by a SQL transformation.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ProductsSource {
    /// The input products; the transform runs after all of them have refreshed.
    #[schemars(length(min = 1))]
    pub inputs: Vec<ProductReference>,
    /// SQL over the inputs, each available as a table named after the product.
    #[schemars(length(min = 1))]
    pub transform: String,
    /// When to run, as a cron expression; omitted means whenever an input refreshes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
}

/// A reference to another DataProduct.
#[derive(
    Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord,
)]
#[serde(rename_all = "camelCase")]
pub struct ProductReference {
    /// Name of the DataProduct.
    #[schemars(length(min = 1))]
    pub name: String,
    /// Namespace of the DataProduct; defaults to this product's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// The product's schema.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct Schema {
    /// The fields of every record, in output column order.
    pub fields: Vec<Field>,
}

/// One field of the schema.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Field {
    /// Field name as it appears in events and in the table, e.g. `customer_id`.
    #[schemars(length(min = 1, max = 128))]
    pub name: String,
    /// Logical type.
    #[serde(rename = "type")]
    pub field_type: FieldType,
    /// Whether the field may be absent or null. Non-nullable fields are required in every record.
    #[serde(default = "default_true")]
    pub nullable: bool,
    /// What the field means, for consumers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Sensitivity of the field. Governance fills it in when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classification: Option<Classification>,
    /// Whether the field holds personal data. Governance also detects PII by field name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pii: Option<bool>,
    /// How the value is masked in outputs. Governance sets a default for PII fields.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub masking: Option<MaskingStrategy>,
}

fn default_true() -> bool {
    true
}

impl Field {
    /// Whether the field is declared or detected as personal data.
    pub fn is_pii(&self) -> bool {
        self.pii.unwrap_or(false)
    }
}

/// How consumers read the product.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct OutputPorts {
    /// The product's partitioned table in object storage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<TableOutput>,
    /// A governed topic that republishes masked events (sub-second consumers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<StreamOutput>,
}

/// A partitioned table of Parquet files.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TableOutput {
    /// File format. Only `parquet` is supported.
    #[serde(default)]
    pub format: TableFormat,
    /// How files are laid out in time partitions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partitioning: Option<Partitioning>,
    /// How often new data becomes visible in the table, e.g. `5m`.
    #[schemars(regex(pattern = r"^[0-9]+(s|m|h|d|w)$"))]
    pub update_interval: String,
}

/// Table file format.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum TableFormat {
    /// Apache Parquet with zstd compression.
    #[default]
    Parquet,
}

/// Time partitioning of the table (`dt=YYYY-MM-DD/hr=HH`).
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Partitioning {
    /// The timestamp field whose value places a record in a partition.
    #[schemars(length(min = 1))]
    pub field: String,
    /// Partition size: `hour` (`dt=/hr=`) or `day` (`dt=`).
    #[serde(default)]
    pub granularity: Granularity,
}

/// Size of a time partition.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Granularity {
    /// One partition per hour.
    #[default]
    Hour,
    /// One partition per day.
    Day,
}

/// A masked event stream.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct StreamOutput {
    /// Name of the output topic, e.g. `orders.events.masked`.
    #[schemars(length(min = 1, max = 249))]
    pub topic: String,
}

/// Encryption at rest.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Encryption {
    /// Whether stored objects are encrypted at rest.
    pub enabled: bool,
    /// Server-side encryption algorithm: `AES256` (SSE-S3) or `aws:kms` (SSE-KMS).
    #[serde(default)]
    pub algorithm: EncryptionAlgorithm,
    /// KMS key id when `algorithm` is `aws:kms`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_key_id: Option<String>,
}

/// A server-side encryption algorithm of S3. Ordered by strength of key control.
#[derive(
    Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Default,
)]
pub enum EncryptionAlgorithm {
    /// SSE-S3: keys managed by the object store.
    #[default]
    #[serde(rename = "AES256")]
    Aes256,
    /// SSE-KMS: keys managed by a key management service.
    #[serde(rename = "aws:kms")]
    AwsKms,
}

impl EncryptionAlgorithm {
    /// The S3 name of the algorithm.
    pub fn as_str(self) -> &'static str {
        match self {
            EncryptionAlgorithm::Aes256 => "AES256",
            EncryptionAlgorithm::AwsKms => "aws:kms",
        }
    }
}

impl std::fmt::Display for EncryptionAlgorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Service levels promised to consumers.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct ServiceLevels {
    /// Maximum age of the newest data in the table, e.g. `10m`. Alerted on when breached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[0-9]+(s|m|h|d|w)$"))]
    pub freshness: Option<String>,
    /// Target availability of the outputs, in percent (e.g. `99.9`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0, max = 100.0))]
    pub availability: Option<f64>,
    /// Target share of source records that pass quality checks, in percent (e.g. `99.5`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0, max = 100.0))]
    pub completeness: Option<f64>,
    /// Target 99th percentile query latency on the table, e.g. `2s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[0-9]+(s|m|h|d|w)$"))]
    pub query_latency_p99: Option<String>,
    /// Who to page when a service level is breached (a team handle or escalation policy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub support: Option<String>,
}

/// Who may read the product.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct Access {
    /// Subjects granted read access to the product's outputs.
    #[serde(default)]
    pub readers: Vec<Subject>,
}

/// An identity that may read a product.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "camelCase")]
pub struct Subject {
    /// `User`, `Group` or `ServiceAccount`.
    pub kind: SubjectKind,
    /// Name of the user, group or service account.
    #[schemars(length(min = 1))]
    pub name: String,
    /// Namespace of a ServiceAccount.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Why this subject reads the product (shown to auditors).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<String>,
}

impl Subject {
    /// `kind:name` (or `ServiceAccount:namespace/name`), the form policies match against.
    pub fn qualified_name(&self) -> String {
        match (&self.kind, &self.namespace) {
            (SubjectKind::ServiceAccount, Some(ns)) => format!("ServiceAccount:{ns}/{}", self.name),
            (kind, _) => format!("{kind}:{}", self.name),
        }
    }
}

/// A quality check on every record.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct QualityCheck {
    /// Name of the check, unique in the product; shown in dead-letter reasons.
    #[schemars(length(min = 1))]
    pub name: String,
    /// What the check verifies.
    #[serde(rename = "type")]
    pub check_type: QualityCheckType,
    /// The field checked (all but `freshness` and `schema` need one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Smallest allowed value, for `range`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// Largest allowed value, for `range`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// Regular expression the value must match, for `pattern`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// Allowed values, for `accepted`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
}

/// Kinds of quality check.
#[derive(
    Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord,
)]
#[serde(rename_all = "camelCase")]
pub enum QualityCheckType {
    /// Every record matches the declared schema (types, required fields).
    Schema,
    /// The field is present and not null.
    NotNull,
    /// The field's numeric value lies within `min`..=`max`.
    Range,
    /// The field's text matches `pattern`.
    Pattern,
    /// The field's value is one of `values`.
    Accepted,
    /// The field's value is unique within a file.
    Unique,
    /// The newest data is younger than the freshness SLO.
    Freshness,
}

impl QualityCheckType {
    /// The name used in YAML.
    pub fn as_str(self) -> &'static str {
        match self {
            QualityCheckType::Schema => "schema",
            QualityCheckType::NotNull => "notNull",
            QualityCheckType::Range => "range",
            QualityCheckType::Pattern => "pattern",
            QualityCheckType::Accepted => "accepted",
            QualityCheckType::Unique => "unique",
            QualityCheckType::Freshness => "freshness",
        }
    }
}

/// What happens to external data when the product is deleted.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum DeletionPolicy {
    /// Keep the bucket, its data and the topics.
    #[default]
    Retain,
    /// Delete the bucket with its data, and the topics Meshplane created.
    Delete,
}

/// Observed state of a DataProduct, written by the controller only.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct DataProductStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// kstatus conditions (`Ready`, `Reconciling`, `Stalled`) and one per capability
    /// (`PolicyCompliant`, `StorageReady`, `TopicReady`, `IngestionReady`, `MonitoringReady`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The source in one line, e.g. `kafka:orders.events`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Compliance tags derived by governance, e.g. `gdpr`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub compliance_tags: Vec<String>,
    /// Where the product lives, for consumers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoints: Option<ProductEndpoints>,
    /// Governance findings against the policies in force (empty when compliant).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub violations: Vec<String>,
    /// RFC 3339 time of the newest event the ingestion worker committed to the table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_event_time: Option<String>,
    /// The product's Apache Iceberg table in the platform's catalog.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<ProductTable>,
    /// The last completeness measurement (from the platform's Prometheus), judged by the
    /// `CompletenessSLOMet` condition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measured_completeness: Option<MeasuredCompleteness>,
    /// The object-store keys the product's ingestion workers write with, when the platform
    /// issues them per product (an IAM endpoint is configured); absent when the workers
    /// share the namespace's `meshplane-s3-credentials` Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker_credentials: Option<WorkerCredentials>,
    /// The last changes of the SLO conditions (`FreshnessSLOMet`, `CompletenessSLOMet`),
    /// oldest first, the last 20: when each SLO was met, breached or not measurable, and
    /// what was measured then.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub slo_history: Vec<SloTransition>,
}

/// How many SLO changes `status.sloHistory` keeps (older ones are dropped); the field's
/// documentation says 20 too.
pub const SLO_HISTORY_LIMIT: usize = 20;

/// One change of an SLO condition.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SloTransition {
    /// The service level: `freshness` or `completeness`.
    pub slo: String,
    /// The condition's status from then on: `True` (met), `False` (breached) or `Unknown`.
    pub status: String,
    /// The condition's reason, e.g. `FreshnessSLOBreached` or `PrometheusUnavailable`.
    pub reason: String,
    /// The condition's message at the change, with what was measured.
    pub message: String,
    /// When the condition changed.
    pub at: k8s_openapi::apimachinery::pkg::apis::meta::v1::Time,
}

/// Keys that can read and write one product's bucket (its table and its dead letters) and
/// nothing else. Deleting the Secret rotates them: new keys are issued at the product's
/// next full reconcile, the old ones are deleted and the workers roll onto the new ones.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct WorkerCredentials {
    /// The Secret in the product's namespace holding `access-key-id` and
    /// `secret-access-key`, read by the workers only.
    pub secret: String,
    /// The object-store user the keys belong to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// The access key id in use (not secret; for audit logs of the object store).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<String>,
    /// When these keys were issued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issued_at: Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>,
}

/// The share of a window's source records that passed the quality checks.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct MeasuredCompleteness {
    /// Rows written as a percentage of records consumed (written plus rejected), to two
    /// decimals.
    pub percent: f64,
    /// Records consumed in the window (Prometheus's `increase`, an estimate).
    pub records: u64,
    /// Records rejected to the dead letter in the window (an estimate, as `records`).
    pub rejected: u64,
    /// The window, e.g. `1h`.
    pub window: String,
    /// RFC 3339 time the window ended.
    pub measured_at: String,
}

/// Where engines open the product's table, and its state when last looked at.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct ProductTable {
    /// Name of the Iceberg catalog engines are configured with, e.g. `meshplane`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catalog: Option<String>,
    /// `namespace.table` in the catalog (namespace: the product's domain).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identifier: Option<String>,
    /// Table location, `s3://<bucket>/<prefix>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// Current snapshot id (absent before the first commit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_snapshot_id: Option<i64>,
    /// Current metadata file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata_location: Option<String>,
    /// How the table is maintained (retention, compaction, snapshot expiry), or that it
    /// is not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maintenance: Option<String>,
}

/// Locations of the product's outputs.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct ProductEndpoints {
    /// Bucket holding the table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket: Option<String>,
    /// Key prefix of the table in the bucket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// Source topic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    /// Masked output topic, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_topic: Option<String>,
    /// Name of the dashboard ConfigMap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dashboard: Option<String>,
}

/// Labels every product carries after admission, keyed `compliance.meshplane.dev/<tag>`.
pub fn compliance_label_key(tag: &str) -> String {
    format!("compliance.meshplane.dev/{tag}")
}

/// Annotations and labels are string maps.
pub type StringMap = BTreeMap<String, String>;
