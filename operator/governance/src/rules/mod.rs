//! The rule families of a GovernancePolicy, one module each. A family's module owns all
//! of it: validating and compiling its part of the spec, the defaults it gives what a
//! product leaves unset, and the checks it makes on the effective product. The order in
//! which families run is fixed elsewhere ([`crate::policy`], [`crate::defaults`],
//! [`crate::checks`]), so a new rule is a change in its family's module plus a row in
//! the table tests (`tests/rules.rs`).

use thiserror::Error;

pub mod access;
pub mod classification;
pub mod compliance_tags;
pub mod encryption;
pub mod masking;
pub mod naming;
pub mod quality;
pub mod retention;

/// What is wrong with one rule of a policy: the error of the family it belongs to.
/// Encryption and quality rules cannot be wrong on their own, so they have none.
#[derive(Debug, Error)]
pub enum RuleError {
    /// A naming rule.
    #[error(transparent)]
    Naming(#[from] naming::NamingError),
    /// A classification or PII-detection rule.
    #[error(transparent)]
    Classification(#[from] classification::ClassificationError),
    /// A masking rule.
    #[error(transparent)]
    Masking(#[from] masking::MaskingError),
    /// A retention rule.
    #[error(transparent)]
    Retention(#[from] retention::RetentionError),
    /// An access rule.
    #[error(transparent)]
    Access(#[from] access::AccessError),
    /// A compliance-tag rule.
    #[error(transparent)]
    ComplianceTags(#[from] compliance_tags::ComplianceTagError),
}
