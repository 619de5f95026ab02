//! Retention: the longest a product may keep personal data, and products of each
//! classification level.

use crate::checks::Findings;
use crate::decision::Rule;
use crate::policy::{CompiledPolicy, Problems};
use meshplane_api::duration::{self, DurationError};
use meshplane_api::{Classification, DataProduct, GovernancePolicySpec};
use std::collections::BTreeSet;
use std::time::Duration;
use thiserror::Error;

/// A retention rule that cannot be used.
#[derive(Debug, Error)]
pub enum RetentionError {
    /// Parsing a limit failed.
    #[error(transparent)]
    Limit(DurationError),
    /// A limit of zero.
    #[error("a maximum retention of zero would reject every product")]
    ZeroLimit,
    /// `maxByClassification` names a level twice.
    #[error("classification {classification} is listed twice")]
    ListedTwice {
        /// The level.
        classification: Classification,
    },
}

/// A policy's retention limits, parsed.
#[derive(Debug, Clone, Default)]
pub struct CompiledRetention {
    /// Maximum retention for products holding personal data.
    pub max_pii: Option<Duration>,
    /// Maximum retention per classification, with the limit as written.
    pub max_by_classification: Vec<(Classification, Duration, String)>,
}

fn parse_limit(text: &str) -> Result<Duration, RetentionError> {
    match duration::parse(text) {
        Ok(d) if d.is_zero() => Err(RetentionError::ZeroLimit),
        Ok(d) => Ok(d),
        Err(e) => Err(RetentionError::Limit(e)),
    }
}

/// Validates the retention rules and parses their limits.
pub(crate) fn compile(spec: &GovernancePolicySpec, problems: &mut Problems) -> CompiledRetention {
    let mut compiled = CompiledRetention::default();
    let Some(r) = &spec.retention else {
        return compiled;
    };
    if let Some(text) = &r.max_pii {
        compiled.max_pii = problems.check("spec.retention.maxPii", parse_limit(text));
    }
    let mut seen = BTreeSet::new();
    for (i, rule) in r.max_by_classification.iter().enumerate() {
        let path = format!("spec.retention.maxByClassification[{i}]");
        if !seen.insert(rule.classification) {
            problems.push(
                path.clone(),
                RetentionError::ListedTwice {
                    classification: rule.classification,
                },
            );
        }
        if let Some(d) = problems.check(format!("{path}.max"), parse_limit(&rule.max)) {
            compiled
                .max_by_classification
                .push((rule.classification, d, rule.max.clone()));
        }
    }
    compiled
}

/// The product's retention against the policy's limits. A retention that does not
/// parse is a built-in finding ([`crate::structure`]), not this policy's.
pub(crate) fn check(policy: &CompiledPolicy, product: &DataProduct, findings: &mut Findings<'_>) {
    let spec = &product.spec;
    let Ok(retention) = duration::parse(&spec.retention) else {
        return;
    };
    let pii_fields: Vec<&str> = spec
        .schema
        .fields
        .iter()
        .filter(|f| f.is_pii())
        .map(|f| f.name.as_str())
        .collect();
    if let (Some(limit), false) = (policy.retention.max_pii, pii_fields.is_empty()) {
        if retention > limit {
            let text = policy
                .policy
                .spec
                .retention
                .as_ref()
                .and_then(|r| r.max_pii.clone());
            let text = text.unwrap_or_default();
            findings.add(
                "spec.retention",
                Rule::Retention,
                format!(
                    "retention {} exceeds the maximum {text} for personal data (PII field{} {})",
                    spec.retention,
                    if pii_fields.len() == 1 { "" } else { "s" },
                    pii_fields
                        .iter()
                        .map(|f| format!("`{f}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                format!("set retention to {text} or less, or stop collecting the personal data"),
            );
        }
    }
    if let Some(classification) = spec.classification {
        for (level, limit, text) in &policy.retention.max_by_classification {
            if *level == classification && retention > *limit {
                findings.add(
                    "spec.retention",
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
