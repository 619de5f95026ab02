//! The effects layer: the only code that performs I/O against Kubernetes. Everything it
//! applies is computed by the pure crates (governance, planner, admission builders).
#![forbid(unsafe_code)]

pub mod apply;
pub mod policies;
pub mod s3;
pub mod webhook;

/// The field manager of every object Meshplane applies.
pub const FIELD_MANAGER: &str = "meshplane";
