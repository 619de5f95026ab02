//! The provisioning planner: `(admitted product, platform settings) → desired state`.
//!
//! Pure and deterministic: the same product and settings always give the same names,
//! specs and manifests, so a reconcile can be repeated or interrupted at any point. The
//! effects layer applies what this returns; nothing here performs I/O.
#![forbid(unsafe_code)]

pub mod external;
pub mod kubernetes;
pub mod labels;
pub mod monitoring;
pub mod names;
pub mod settings;

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
    /// Kubernetes manifests, in apply order.
    pub objects: Vec<serde_json::Value>,
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
    let ingest_plan = kubernetes::ingest_plan(product, settings, &bucket, &topics)?;
    let objects = kubernetes::objects(product, settings, &bucket, &topics, &ingest_plan)?;
    Ok(DesiredState {
        bucket,
        topics,
        ingest_plan,
        objects,
    })
}

pub(crate) fn product_key(product: &DataProduct) -> String {
    format!(
        "{}/{}",
        product.metadata.namespace.as_deref().unwrap_or("default"),
        product.metadata.name.as_deref().unwrap_or_default()
    )
}
