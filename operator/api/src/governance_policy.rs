//! The `GovernancePolicy` custom resource: the platform team's rules for every product.

use crate::common::{Classification, MaskingStrategy, SubjectKind};
use crate::data_product::{EncryptionAlgorithm, QualityCheckType};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Organisation-wide rules that every matching DataProduct must follow. Enforced at
/// admission (`Enforce`) or only reported (`Audit`); products admitted before a policy
/// tightened report `PolicyCompliant=False` instead of being changed.
#[derive(CustomResource, Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Default)]
#[kube(
    group = "meshplane.dev",
    version = "v1alpha1",
    kind = "GovernancePolicy",
    derive = "PartialEq",
    derive = "Default",
    plural = "governancepolicies",
    singular = "governancepolicy",
    shortname = "gp",
    category = "meshplane",
    status = "GovernancePolicyStatus",
    printcolumn = r#"{"name":"Enforcement","type":"string","jsonPath":".spec.enforcement"}"#,
    printcolumn = r#"{"name":"Matched","type":"integer","jsonPath":".status.matchedProducts"}"#,
    printcolumn = r#"{"name":"Non-compliant","type":"integer","jsonPath":".status.nonCompliantProducts"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct GovernancePolicySpec {
    /// Which products the policy applies to. Empty means every product.
    #[serde(default)]
    pub applies_to: PolicyScope,
    /// `Enforce` rejects violating products at admission; `Audit` admits them with warnings.
    #[serde(default)]
    pub enforcement: Enforcement,
    /// Naming conventions for products and fields.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub naming: Option<NamingRules>,
    /// Default classification levels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classification: Option<ClassificationRules>,
    /// Detection of personal data by field name, for fields not declared `pii`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pii_detection: Option<PiiDetection>,
    /// Default masking for personal data and by classification.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub masking: Option<MaskingRules>,
    /// Encryption at rest requirements.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<EncryptionRules>,
    /// Maximum retention per classification and for personal data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<RetentionRules>,
    /// Which reader subjects may read products of which classification.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub access: Vec<AccessRule>,
    /// Quality checks every product must declare.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quality: Option<QualityRules>,
    /// Compliance tags given to products, e.g. personal data → `gdpr`, `ccpa`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub compliance_tags: Vec<ComplianceTagRule>,
}

/// Which products a policy applies to. All given criteria must match.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct PolicyScope {
    /// Namespaces of the products (exact names, or a trailing `*` as a prefix wildcard). Empty: all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespaces: Vec<String>,
    /// Domains of the products (`spec.domain`). Empty: all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub domains: Vec<String>,
    /// Labels the product must carry, all of them with these values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub match_labels: BTreeMap<String, String>,
}

/// How a policy acts on violations.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Enforcement {
    /// Reject violating products; apply the policy's defaults to admitted ones.
    #[default]
    Enforce,
    /// Admit everything; report what would be rejected as warnings. Defaults are not applied.
    Audit,
}

/// Naming conventions.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct NamingRules {
    /// Regular expression every product name must match, e.g. `^[a-z][a-z0-9-]*$`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_name_pattern: Option<String>,
    /// Regular expression every field name must match, e.g. `^[a-z][a-z0-9_]*$` (snake case).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field_name_pattern: Option<String>,
    /// Terms the organisation has standardised, e.g. `user_id` → `customer_id`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub preferred_terms: Vec<PreferredTerm>,
}

/// A term to avoid in field names, and the one to use instead.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PreferredTerm {
    /// The term to avoid, matched as a whole `_`-separated part of a field name (e.g. `user_id`).
    #[schemars(length(min = 1))]
    pub avoid: String,
    /// The standard term to use instead (e.g. `customer_id`).
    #[serde(rename = "use")]
    #[schemars(length(min = 1))]
    pub use_instead: String,
}

/// Default classification levels.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct ClassificationRules {
    /// Classification given to fields that declare none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_field: Option<Classification>,
    /// Minimum classification of personal-data fields.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pii_minimum: Option<Classification>,
}

/// Detection of personal data by field name.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct PiiDetection {
    /// Regular expressions over field names; a field that matches any is personal data
    /// unless it declares `pii: false`. E.g. `email`, `(^|_)phone($|_)`, `address`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub field_patterns: Vec<String>,
}

/// Default masking.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct MaskingRules {
    /// Masking for personal-data fields that declare none. Also the weakest masking a
    /// personal-data field may declare. `none` is never accepted for personal data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pii: Option<MaskingStrategy>,
    /// Masking for fields of a given classification that declare none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub by_classification: Vec<ClassificationMasking>,
}

/// Masking for one classification level.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ClassificationMasking {
    /// The classification level.
    pub classification: Classification,
    /// The masking applied to its fields.
    pub strategy: MaskingStrategy,
}

/// Encryption at rest.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct EncryptionRules {
    /// Whether every product must be encrypted at rest.
    #[serde(default)]
    pub required: bool,
    /// The algorithm set on products that declare none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub algorithm: Option<EncryptionAlgorithm>,
}

/// Maximum retention.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct RetentionRules {
    /// Longest retention for a product with any personal-data field, e.g. `365d`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[0-9]+(s|m|h|d|w)$"))]
    pub max_pii: Option<String>,
    /// Longest retention per product classification.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub max_by_classification: Vec<ClassificationRetention>,
}

/// A retention limit for one classification level.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ClassificationRetention {
    /// The classification level.
    pub classification: Classification,
    /// The longest retention, e.g. `30d`.
    #[schemars(regex(pattern = r"^[0-9]+(s|m|h|d|w)$"))]
    pub max: String,
}

/// Who may read products at or above a classification level.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AccessRule {
    /// The rule covers products of this classification and every more restrictive one.
    pub classification: Classification,
    /// Readers must match one of these.
    pub allowed: Vec<SubjectPattern>,
}

/// A pattern over reader subjects.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SubjectPattern {
    /// The kind of subject; omitted matches any kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<SubjectKind>,
    /// Regular expression over the subject's name (for a ServiceAccount, `namespace/name`).
    #[schemars(length(min = 1))]
    pub name_pattern: String,
}

/// Quality checks products must declare.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct QualityRules {
    /// Check types each product must declare at least once.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub required: Vec<QualityCheckType>,
}

/// A compliance tag and when a product gets it.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ComplianceTagRule {
    /// The tag, e.g. `gdpr`. Becomes the label `compliance.meshplane.dev/<tag>=true` and a bucket tag.
    #[schemars(length(min = 1, max = 63))]
    pub tag: String,
    /// Given when the product has any personal-data field.
    #[serde(default)]
    pub when_pii: bool,
    /// Given when the product's classification is at least this level.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when_classification_at_least: Option<Classification>,
    /// Given when the product belongs to one of these domains.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub when_domains: Vec<String>,
}

/// Observed state of a GovernancePolicy.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct GovernancePolicyStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Products the policy currently applies to (its scope selects them); absent while
    /// the policy is not in force.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matched_products: Option<i64>,
    /// Products with at least one finding of this policy when decided today: under
    /// `Enforce` they would be rejected if created now, under `Audit` they get warnings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub non_compliant_products: Option<i64>,
    /// `namespace/name` of the first five non-compliant products, by name (the count is
    /// exact; `meshplane plan` or the catalog show every finding).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub non_compliant: Vec<String>,
    /// Conditions: `Ready` (reason `InForce`) when the policy is valid and in force,
    /// `Ready=False`/`Stalled=True` (reason `PolicyNotInForce`) with the cause otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition>,
}
