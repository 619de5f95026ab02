//! What one policy finds wrong with an (effective) product. Each policy checks on its
//! own, so every finding names the policy and the limit it set.

use crate::decision::{Finding, Rule};
use crate::field_patterns::{FieldFacts, FieldPatterns};
use crate::policy::CompiledPolicy;
use meshplane_api::duration;
use meshplane_api::{DataProduct, EncryptionAlgorithm, QualityCheckType};
use std::sync::Arc;

/// Whether `term` occurs in `name` as whole `_`-separated parts (`user_id` occurs in
/// `user_id` and `billing_user_id`, not in `superuser_identity`).
pub fn contains_term(name: &str, term: &str) -> bool {
    if term.is_empty() {
        return false;
    }
    // Only part boundaries can start a match, so compare there instead of searching.
    let bytes = name.as_bytes();
    let starts = std::iter::once(0).chain(
        bytes
            .iter()
            .enumerate()
            .filter(|(_, b)| **b == b'_')
            .map(|(i, _)| i + 1),
    );
    starts.into_iter().any(|at| {
        let end = at + term.len();
        end <= bytes.len()
            && bytes[at] == term.as_bytes()[0]
            && &bytes[at..end] == term.as_bytes()
            && (end == bytes.len() || bytes[end] == b'_')
    })
}

/// Findings of `policy` on `product`; `facts[i]` holds the pattern matches of field `i`.
pub fn check(
    policy: &CompiledPolicy,
    product: &DataProduct,
    patterns: &FieldPatterns,
    facts: &[Arc<FieldFacts>],
) -> Vec<Finding> {
    let spec = &product.spec;
    let name = product.metadata.name.as_deref().unwrap_or_default();
    let mut out = Vec::new();
    let mut find = |path: String, rule: Rule, message: String, hint: String| {
        out.push(Finding {
            path,
            rule,
            policy: policy.name.clone(),
            message,
            hint,
        });
    };

    if let Some(pattern) = &policy.product_name {
        if !pattern.is_match(name) {
            find(
                "metadata.name".into(),
                Rule::ProductName,
                format!(
                    "product name `{name}` does not match `{}`",
                    pattern.as_str()
                ),
                format!("rename the product to match `{}`", pattern.as_str()),
            );
        }
    }

    let naming = policy.policy.spec.naming.as_ref();
    for (i, field) in spec.schema.fields.iter().enumerate() {
        let at = |what: &str| format!("spec.schema.fields[{i}]{what}");
        if let (Some(pattern), Some(facts)) = (&policy.field_name, facts.get(i)) {
            if !patterns.name_allowed(facts, policy.index) {
                find(
                    at(".name"),
                    Rule::FieldName,
                    format!(
                        "field name `{}` does not match `{}`",
                        field.name,
                        pattern.as_str()
                    ),
                    format!("rename the field to match `{}`", pattern.as_str()),
                );
            }
        }
        let terms = naming
            .map(|n| n.preferred_terms.as_slice())
            .unwrap_or_default();
        let used = facts
            .get(i)
            .into_iter()
            .flat_map(|f| patterns.avoided_terms(f, policy.index));
        for term in used.filter_map(|t| terms.get(t)) {
            let suggestion = field.name.replace(&term.avoid, &term.use_instead);
            find(
                at(".name"),
                Rule::PreferredTerm,
                format!(
                    "field `{}` uses `{}`; the organisation's term is `{}`",
                    field.name, term.avoid, term.use_instead
                ),
                format!("rename the field to `{suggestion}`"),
            );
        }
        if !field.is_pii() {
            continue;
        }
        if let (Some(minimum), Some(declared)) = (
            policy
                .policy
                .spec
                .classification
                .as_ref()
                .and_then(|c| c.pii_minimum),
            field.classification,
        ) {
            if declared < minimum {
                find(
                    at(".classification"),
                    Rule::Classification,
                    format!(
                        "personal-data field `{}` is classified {declared}, below the minimum {minimum}",
                        field.name
                    ),
                    format!("classify it {minimum} or higher, or remove `classification` to take the default"),
                );
            }
        }
        if let (Some(minimum), Some(declared)) = (
            policy.policy.spec.masking.as_ref().and_then(|m| m.pii),
            field.masking,
        ) {
            if declared < minimum {
                find(
                    at(".masking"),
                    Rule::Masking,
                    format!(
                        "personal-data field `{}` is masked with {declared}, weaker than the required {minimum}",
                        field.name
                    ),
                    format!("mask it with {minimum} or stronger, or remove `masking` to take the default"),
                );
            }
        }
    }

    if let Some(rules) = &policy.policy.spec.encryption {
        let encryption = spec.encryption.as_ref();
        if rules.required && !encryption.is_some_and(|e| e.enabled) {
            find(
                "spec.encryption.enabled".into(),
                Rule::Encryption,
                "encryption at rest is disabled but required".into(),
                "set encryption.enabled: true (or remove `encryption` to take the default)".into(),
            );
        }
        if let (Some(required), Some(e)) = (rules.algorithm, encryption) {
            if rules.required && e.enabled && e.algorithm < required {
                find(
                    "spec.encryption.algorithm".into(),
                    Rule::Encryption,
                    format!(
                        "encryption uses {}, weaker than the required {required}",
                        e.algorithm
                    ),
                    format!("set encryption.algorithm: {required}"),
                );
            }
        }
        if encryption.is_some_and(|e| e.enabled && e.algorithm == EncryptionAlgorithm::AwsKms)
            && encryption.and_then(|e| e.kms_key_id.as_ref()).is_none()
        {
            find(
                "spec.encryption.kmsKeyId".into(),
                Rule::Encryption,
                "SSE-KMS needs a key id".into(),
                "set encryption.kmsKeyId".into(),
            );
        }
    }

    if let Ok(retention) = duration::parse(&spec.retention) {
        let pii_fields: Vec<&str> = spec
            .schema
            .fields
            .iter()
            .filter(|f| f.is_pii())
            .map(|f| f.name.as_str())
            .collect();
        if let (Some(limit), false) = (policy.max_pii_retention, pii_fields.is_empty()) {
            if retention > limit {
                let text = policy
                    .policy
                    .spec
                    .retention
                    .as_ref()
                    .and_then(|r| r.max_pii.clone());
                let text = text.unwrap_or_default();
                find(
                    "spec.retention".into(),
                    Rule::Retention,
                    format!(
                        "retention {} exceeds the maximum {text} for personal data (PII field{} {})",
                        spec.retention,
                        if pii_fields.len() == 1 { "" } else { "s" },
                        pii_fields.iter().map(|f| format!("`{f}`")).collect::<Vec<_>>().join(", ")
                    ),
                    format!("set retention to {text} or less, or stop collecting the personal data"),
                );
            }
        }
        if let Some(classification) = spec.classification {
            for (level, limit, text) in &policy.max_retention {
                if *level == classification && retention > *limit {
                    find(
                        "spec.retention".into(),
                        Rule::Retention,
                        format!(
                            "retention {} exceeds the maximum {text} for {level} products",
                            spec.retention
                        ),
                        format!("set retention to {text} or less"),
                    );
                }
            }
        }
    }

    if let Some(classification) = spec.classification {
        for rule in policy
            .access
            .iter()
            .filter(|r| classification >= r.classification)
        {
            for (i, reader) in spec.access.readers.iter().enumerate() {
                let subject_name = match (&reader.namespace, reader.kind) {
                    (Some(ns), meshplane_api::SubjectKind::ServiceAccount) => {
                        format!("{ns}/{}", reader.name)
                    }
                    _ => reader.name.clone(),
                };
                let allowed = rule.allowed.iter().any(|p| {
                    p.kind.is_none_or(|k| k == reader.kind) && p.name.is_match(&subject_name)
                });
                if !allowed {
                    let patterns: Vec<String> = rule
                        .allowed
                        .iter()
                        .map(|p| match p.kind {
                            Some(k) => format!("{k}:{}", p.source),
                            None => p.source.clone(),
                        })
                        .collect();
                    find(
                        format!("spec.access.readers[{i}]"),
                        Rule::Access,
                        format!(
                            "{} may not read {classification} products",
                            reader.qualified_name()
                        ),
                        format!(
                            "grant access to a subject matching one of: {}",
                            patterns.join(", ")
                        ),
                    );
                }
            }
        }
    }

    if let Some(quality) = &policy.policy.spec.quality {
        for required in &quality.required {
            if !spec.quality.iter().any(|q| q.check_type == *required) {
                find(
                    "spec.quality".into(),
                    Rule::Quality,
                    format!("a {} quality check is required", required.as_str()),
                    format!("add a check with type: {}", example_check(*required)),
                );
            }
        }
    }
    out
}

fn example_check(t: QualityCheckType) -> &'static str {
    match t {
        QualityCheckType::Schema => "schema",
        QualityCheckType::NotNull => "notNull (and the field it checks)",
        QualityCheckType::Range => "range (with field, min, max)",
        QualityCheckType::Pattern => "pattern (with field and pattern)",
        QualityCheckType::Accepted => "accepted (with field and values)",
        QualityCheckType::Unique => "unique (and the field it checks)",
        QualityCheckType::Freshness => "freshness",
    }
}

#[cfg(test)]
mod tests {
    use super::contains_term;

    #[test]
    fn terms_match_whole_underscore_separated_parts_only() {
        assert!(contains_term("user_id", "user_id"));
        assert!(contains_term("billing_user_id", "user_id"));
        assert!(contains_term("user_id_hash", "user_id"));
        assert!(!contains_term("superuser_identity", "user_id"));
        assert!(!contains_term("user_ids", "user_id"));
        assert!(!contains_term("customer_id", "user_id"));
    }
}
