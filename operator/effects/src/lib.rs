//! The effects layer: the only code that performs I/O (Kubernetes, S3, Kafka). Everything it
//! applies is computed by the pure crates (governance, planner, admission builders).
#![forbid(unsafe_code)]

pub mod apply;
pub mod authentication;
pub mod authorization;
pub mod catalog_feed;
pub mod grants;
pub mod iceberg;
pub mod identity;
pub mod kafka;
pub mod leader;
pub mod policies;
pub mod policy_status;
pub mod product_status;
pub mod prometheus;
pub mod s3;
pub mod secrets;
pub mod strimzi;
pub mod trino;
pub mod webhook;

/// The field manager of every object Meshplane applies.
pub const FIELD_MANAGER: &str = "meshplane";
