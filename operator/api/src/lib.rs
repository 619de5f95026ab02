//! Meshplane's API: the `DataProduct`, `GovernancePolicy` and `AccessRequest` custom
//! resources, the ingestion plan the controller hands to workers, and strict loading of
//! all of them from YAML.
//!
//! This crate holds types only. It never talks to a cluster, Kafka or S3, so the
//! governance engine, the planner and offline tools can depend on it freely.
#![forbid(unsafe_code)]

pub mod access_request;
pub mod common;
pub mod data_product;
pub mod duration;
pub mod governance_policy;
pub mod ingest_plan;
pub mod load;

pub use access_request::{
    AccessPhase, AccessRequest, AccessRequestSpec, AccessRequestStatus, AccessSubject, Grant,
    ProductReference, ServiceLevelState,
};
pub use common::{Classification, FieldType, MaskingStrategy, SubjectKind};
pub use data_product::*;
pub use governance_policy::*;

/// The API group of every Meshplane resource.
pub const GROUP: &str = "meshplane.dev";
/// The served and stored version of every Meshplane resource.
pub const VERSION: &str = "v1alpha1";
/// `apiVersion` of every Meshplane resource.
pub const API_VERSION: &str = "meshplane.dev/v1alpha1";

/// The CustomResourceDefinitions of every Meshplane resource, as one multi-document YAML
/// stream (what `meshplane crds` prints and `crds/` holds).
pub fn crds_yaml() -> String {
    use kube::CustomResourceExt;
    [
        DataProduct::crd(),
        GovernancePolicy::crd(),
        AccessRequest::crd(),
    ]
    .iter()
    .map(|crd| serde_yaml::to_string(crd).expect("CRDs serialize"))
    .collect::<Vec<_>>()
    .join("---\n")
}
