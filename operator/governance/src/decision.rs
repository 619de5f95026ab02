//! What the engine returns.

use meshplane_api::{Classification, DataProduct, Encryption, MaskingStrategy};
use serde::Serialize;
use std::borrow::Cow;
use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;

/// A policy's name, shared: findings and mutations name their policy without copying it.
pub type PolicyName = Arc<str>;

/// The kind of rule a finding comes from; stable names for metrics and tooling.
#[derive(Serialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "camelCase")]
pub enum Rule {
    /// Structure of the product (built in).
    Schema,
    /// Exactly one source (built in).
    Source,
    /// Product name pattern.
    ProductName,
    /// Field name pattern.
    FieldName,
    /// Preferred business terms.
    PreferredTerm,
    /// Classification levels.
    Classification,
    /// Masking of personal and classified data.
    Masking,
    /// Encryption at rest.
    Encryption,
    /// Maximum retention.
    Retention,
    /// Who may read.
    Access,
    /// Required quality checks.
    Quality,
}

impl Rule {
    /// The stable name, e.g. `retention`.
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::Schema => "schema",
            Rule::Source => "source",
            Rule::ProductName => "productName",
            Rule::FieldName => "fieldName",
            Rule::PreferredTerm => "preferredTerm",
            Rule::Classification => "classification",
            Rule::Masking => "masking",
            Rule::Encryption => "encryption",
            Rule::Retention => "retention",
            Rule::Access => "access",
            Rule::Quality => "quality",
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A violation or a warning.
#[derive(Serialize, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    /// Path of the offending value, e.g. `spec.schema.fields[2].name`.
    pub path: String,
    /// The rule broken.
    pub rule: Rule,
    /// Name of the policy, or [`crate::BUILT_IN`].
    pub policy: PolicyName,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub hint: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} [rule {}, policy {}] (fix: {})",
            self.path, self.message, self.rule, self.policy, self.hint
        )
    }
}

/// Where a mutation writes. Kept structured and rendered on demand: a product of 50
/// fields gets about a hundred mutations on first admission, and admission is hot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MutationPath {
    /// An attribute of a schema field: `spec.schema.fields[<index>].<attribute>`.
    Field {
        /// Index of the field.
        index: usize,
        /// Attribute set (`pii`, `classification`, `masking`).
        attribute: &'static str,
    },
    /// A member of the spec, e.g. `spec.classification`.
    Spec(&'static str),
    /// A label: `metadata.labels[<key>]`.
    Label(String),
}

impl fmt::Display for MutationPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MutationPath::Field { index, attribute } => {
                write!(f, "spec.schema.fields[{index}].{attribute}")
            }
            MutationPath::Spec(member) => write!(f, "spec.{member}"),
            MutationPath::Label(key) => write!(f, "metadata.labels[{key}]"),
        }
    }
}

impl Serialize for MutationPath {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// The value a mutation sets.
#[derive(Serialize, Clone, Debug, PartialEq)]
#[serde(untagged)]
pub enum MutationValue {
    /// A flag, e.g. `pii: true`.
    Flag(bool),
    /// A classification level.
    Classification(Classification),
    /// A masking strategy.
    Masking(MaskingStrategy),
    /// Encryption settings.
    Encryption(Encryption),
    /// A text, e.g. a label value.
    Text(&'static str),
}

impl fmt::Display for MutationValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MutationValue::Flag(b) => write!(f, "{b}"),
            MutationValue::Classification(c) => write!(f, "{c}"),
            MutationValue::Masking(m) => write!(f, "{m}"),
            MutationValue::Encryption(e) => {
                write!(f, "{{enabled: {}, algorithm: {}}}", e.enabled, e.algorithm)
            }
            MutationValue::Text(t) => write!(f, "{t:?}"),
        }
    }
}

/// A default the engine applied to a value the product left unset.
#[derive(Serialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Mutation {
    /// Where it writes, e.g. `spec.schema.fields[3].masking`.
    pub path: MutationPath,
    /// The value set.
    pub value: MutationValue,
    /// Why.
    pub reason: Cow<'static, str>,
    /// The policy it comes from, or [`crate::BUILT_IN`].
    pub policy: PolicyName,
}

impl fmt::Display for Mutation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} = {} ({}; policy {})",
            self.path, self.value, self.reason, self.policy
        )
    }
}

/// Two or more policies disagree on a default; the most restrictive value was taken.
#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Conflict {
    /// The setting in dispute, e.g. `masking.pii`.
    pub setting: String,
    /// Each policy with the value it asks for, e.g. `strict=redact`.
    pub positions: Vec<String>,
    /// The value taken.
    pub chosen: String,
}

impl fmt::Display for Conflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "policies disagree on {}: {}; the most restrictive, {}, was taken",
            self.setting,
            self.positions.join(", "),
            self.chosen
        )
    }
}

/// The engine's answer for one product.
#[derive(Serialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Decision {
    /// Whether the product may be admitted: no violations.
    pub allowed: bool,
    /// Reasons to reject, from `Enforce` policies and built-in rules.
    pub violations: Vec<Finding>,
    /// What `Audit` policies would reject.
    pub warnings: Vec<Finding>,
    /// Disagreements between policies' defaults.
    pub conflicts: Vec<Conflict>,
    /// Defaults applied, in order.
    pub mutations: Vec<Mutation>,
    /// The product's derived classification (highest of its fields and its declaration).
    pub classification: Classification,
    /// Compliance tags the product carries, e.g. `gdpr`.
    pub compliance_tags: BTreeSet<String>,
    /// Names of the policies that applied.
    pub policies: Vec<String>,
    /// The product with every mutation applied.
    pub effective: DataProduct,
}
