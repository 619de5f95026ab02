//! The DataProduct reconciler. Each reconcile runs the same named steps, each returning a
//! report: finalizer → decide (governance engine) → plan (planner) → storage (S3) →
//! secrets → children (server-side apply, then pruning of orphans) → topics → workload;
//! then [`status::derive_status`] computes every condition from the reports, and the
//! status is written only when it changed.
//!
//! Layout: [`context`] (clients and state between reconciles), [`error`], [`status`]
//! (pure), [`workers`] (pure: why no worker is available, from its pods), `steps` (one
//! module per step), `reconcile` (the order of the steps), `watch` (what triggers a
//! reconcile). Only the effects crate does I/O.
#![forbid(unsafe_code)]

pub mod access;
mod cleanup;
pub mod completeness;
pub mod conditions;
pub mod context;
pub mod error;
pub mod metrics;
mod reconcile;
mod secrets;
pub mod slo;
pub mod slo_history;
pub mod status;
mod steps;
mod topics;
mod watch;
pub mod workers;

pub use cleanup::{FINALIZER, MAX_CLEANUP_ATTEMPTS};
pub use context::Context;
pub use error::ReconcileError;
pub use reconcile::reconcile;
pub use secrets::Credentials;
pub use watch::run;
