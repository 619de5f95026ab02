//! Meshplane's admission webhooks.
//!
//! [`review`] turns an AdmissionReview into the governance engine's answer — a JSONPatch
//! of the engine's defaults (mutating), a denial listing every violation (validating),
//! Audit findings as warnings — and [`server`] serves it over HTTPS. The handlers only
//! parse; every rule lives in `meshplane-governance`, the same engine the controller,
//! `meshplane plan` and the catalog use.
#![forbid(unsafe_code)]

pub mod access;
pub mod certs;
pub mod configuration;
pub mod review;
pub mod server;

pub use review::{review, Endpoint, ReviewError};
pub use server::{access_router, router, AdmissionState, ApproverAuthorizer};
