//! The named steps of a reconcile, in order: finalizer ([`crate::cleanup`]), [`decide`],
//! plan (the planner, a pure call), [`storage`], secrets ([`crate::secrets`]),
//! [`children`] (apply and prune), topics ([`crate::topics`]), [`workload`]. Each returns a
//! typed report; [`crate::status::derive_status`] turns the reports into the status.

pub mod children;
pub mod decide;
pub mod storage;
pub mod workload;
