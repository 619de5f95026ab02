//! The DataProduct reconciler. Each reconcile runs the same steps:
//! decide (governance engine) → plan (planner) → provision storage (S3) → apply the
//! Kubernetes children (server-side apply) → report status. Only the effects crate does
//! I/O; [`conditions`] is pure.
#![forbid(unsafe_code)]

mod cleanup;
pub mod conditions;
pub mod metrics;
mod reconcile;
mod secrets;
mod topics;

pub use cleanup::{FINALIZER, MAX_CLEANUP_ATTEMPTS};
pub use reconcile::{run, Context, ReconcileError};
pub use secrets::Credentials;
