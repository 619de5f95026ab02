//! Compliance tags: labels such as `compliance.meshplane.dev/gdpr=true` given to products
//! with personal data, of a classification level and above, or of given domains.

use crate::decision::{MutationPath, MutationValue};
use crate::defaults::Mutations;
use crate::policy::{CompiledPolicy, Problems};
use meshplane_api::{compliance_label_key, Classification, DataProduct, GovernancePolicySpec};
use std::collections::{BTreeMap, BTreeSet};
use thiserror::Error;

/// A compliance-tag rule that cannot be used.
#[derive(Debug, Error)]
pub enum ComplianceTagError {
    /// The tag cannot become a label name.
    #[error("`{tag}` cannot be a label name: use letters, digits, `-`, `_`, `.` (at most 63, alphanumeric at both ends)")]
    NotALabelName {
        /// The tag.
        tag: String,
    },
    /// The rule would never give its tag.
    #[error("give at least one condition (whenPii, whenClassificationAtLeast, whenDomains)")]
    NoCondition,
}

/// Validates the compliance-tag rules.
pub(crate) fn compile(spec: &GovernancePolicySpec, problems: &mut Problems) {
    for (i, rule) in spec.compliance_tags.iter().enumerate() {
        let path = format!("spec.complianceTags[{i}]");
        if !is_label_name(&rule.tag) {
            problems.push(
                format!("{path}.tag"),
                ComplianceTagError::NotALabelName {
                    tag: rule.tag.clone(),
                },
            );
        }
        if !rule.when_pii
            && rule.when_classification_at_least.is_none()
            && rule.when_domains.is_empty()
        {
            problems.push(path, ComplianceTagError::NoCondition);
        }
    }
}

/// Labels the product with the tags of every `Enforce` policy whose conditions it meets
/// (judged on the effective product and its derived `classification`); returns them.
pub(crate) fn apply(
    product: &mut DataProduct,
    enforce: &[&CompiledPolicy],
    classification: Classification,
    mutations: &mut Mutations,
) -> BTreeSet<String> {
    let has_pii = product.spec.schema.fields.iter().any(|f| f.is_pii());
    let mut tags = BTreeSet::new();
    for policy in enforce {
        for rule in &policy.policy.spec.compliance_tags {
            let by_pii = rule.when_pii && has_pii;
            let by_class = rule
                .when_classification_at_least
                .is_some_and(|c| classification >= c);
            let by_domain = rule.when_domains.contains(&product.spec.domain);
            if !(by_pii || by_class || by_domain) {
                continue;
            }
            tags.insert(rule.tag.clone());
            let labels = product.metadata.labels.get_or_insert_with(BTreeMap::new);
            let key = compliance_label_key(&rule.tag);
            if labels.get(&key).map(String::as_str) != Some("true") {
                labels.insert(key.clone(), "true".into());
                mutations.set(
                    MutationPath::Label(key),
                    MutationValue::Text("true"),
                    format!("compliance tag `{}`", rule.tag),
                    &policy.name,
                );
            }
        }
    }
    tags
}

/// Whether `text` is a valid label name (the part after the prefix).
fn is_label_name(text: &str) -> bool {
    let bytes = text.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes[0].is_ascii_alphanumeric()
        && bytes[bytes.len() - 1].is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}
