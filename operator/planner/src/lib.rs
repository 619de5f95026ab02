//! The provisioning planner: `(admitted product, platform settings) → desired state`.
//!
//! Pure and deterministic: the same product and settings always give the same names,
//! specs and manifests, so a reconcile can be repeated or interrupted at any point. The
//! effects layer applies what this returns; nothing here performs I/O.
#![forbid(unsafe_code)]

//! Where things live: [`children`] (the typed children and the table of their kinds),
//! [`meta`] (names, labels, owner references), [`workload`] (the worker's plan, pods,
//! Deployment or CronJob), [`access`] (worker and reader RBAC), [`monitoring`], [`cdc`]
//! (the Debezium connector), [`topics`] (Strimzi KafkaTopics) and [`external`] (what
//! lives outside the cluster: bucket and Kafka topics).

pub mod access;
pub mod cdc;
pub mod children;
pub mod external;
pub mod grants;
pub mod iceberg;
pub mod labels;
pub mod maintenance;
pub mod meta;
pub mod monitoring;
pub mod names;
pub mod prune;
pub mod settings;
pub mod topics;
pub mod workload;

pub use children::{child_kind, ChildId, ChildKind, Children, Workload, CHILD_KINDS};
pub use external::{BucketSpec, TopicRole, TopicSpec};
pub use settings::{PlatformSettings, TopicMode};

use meshplane_api::ingest_plan::IngestPlan;
use meshplane_api::DataProduct;
use thiserror::Error;

/// Everything a product needs, as data.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DesiredState {
    /// The product's bucket.
    pub bucket: BucketSpec,
    /// Topics (source, and the stream output port if any).
    pub topics: Vec<TopicSpec>,
    /// The worker's plan.
    pub ingest_plan: IngestPlan,
    /// Kubernetes children (shown as `objects`, the manifests in apply order).
    #[serde(rename = "objects", serialize_with = "serialize_manifests")]
    pub children: Children,
}

fn serialize_manifests<S: serde::Serializer>(
    children: &Children,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serde::Serialize::serialize(&children.manifests(), serializer)
}

/// Why a product cannot be planned. Admission rejects these first; the planner still
/// refuses rather than guessing.
#[derive(Debug, Error, PartialEq)]
pub enum PlanError {
    /// A required part of the product is missing.
    #[error("product {product} cannot be planned: {what}")]
    Incomplete {
        /// `namespace/name`.
        product: String,
        /// What is missing.
        what: String,
    },
    /// A duration does not parse.
    #[error("product {product}: {field}: {source}")]
    Duration {
        /// `namespace/name`.
        product: String,
        /// Path of the field.
        field: &'static str,
        /// Parser error.
        source: meshplane_api::duration::DurationError,
    },
}

/// Plans a product that governance admitted (its effective form, with defaults applied).
pub fn plan(product: &DataProduct, settings: &PlatformSettings) -> Result<DesiredState, PlanError> {
    let bucket = external::bucket(product, settings)?;
    let topics = external::topics(product, settings)?;
    let ingest_plan = workload::ingest_plan(product, settings, &bucket, &topics)?;
    let (worker_account, worker_role, worker_binding) = access::worker_access(product, settings);
    let (reader_role, reader_binding) = access::reader_access(product);
    let monitoring::Monitoring {
        service_monitor,
        slo_rules,
        dashboard,
    } = monitoring::objects(product, settings, &bucket)?;
    let plan_map = workload::plan_config_map(product, &ingest_plan);
    let workload = workload::workload(product, settings, &plan_map);
    let maintenance = maintenance::cron_job(product, settings, &plan_map);
    let children = Children {
        kafka_topics: topics::topic_objects(product, settings, &topics),
        cdc_connector: product
            .spec
            .source
            .cdc
            .as_ref()
            .map(|cdc| cdc::kafka_connector(product, settings, cdc)),
        plan: plan_map,
        worker_account,
        worker_role,
        worker_binding,
        reader_role,
        reader_binding,
        workload,
        maintenance,
        metrics_service: workload::metrics_service(product, settings),
        service_monitor,
        slo_rules,
        dashboard,
    };
    Ok(DesiredState {
        bucket,
        topics,
        ingest_plan,
        children,
    })
}

pub(crate) fn product_key(product: &DataProduct) -> String {
    format!(
        "{}/{}",
        product.metadata.namespace.as_deref().unwrap_or("default"),
        product.metadata.name.as_deref().unwrap_or_default()
    )
}
