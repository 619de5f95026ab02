//! The DataProduct reconciler. Each reconcile runs the same steps:
//! decide (governance engine) → plan (planner) → provision storage (S3) → apply the
//! Kubernetes children (server-side apply) → report status. Only the effects crate does
//! I/O; [`conditions`] is pure.
#![forbid(unsafe_code)]

pub mod conditions;
pub mod metrics;
mod reconcile;

pub use reconcile::{run, Context, ReconcileError};
