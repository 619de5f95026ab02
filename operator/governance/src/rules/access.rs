//! Access: which reader subjects may read products of a classification level and above.

use crate::checks::Findings;
use crate::decision::Rule;
use crate::policy::{CompiledPolicy, Problems};
use crate::regex_limits::{self, PatternError};
use meshplane_api::{Classification, DataProduct, GovernancePolicySpec, SubjectKind};
use regex::Regex;
use thiserror::Error;

/// An access rule that cannot be used.
#[derive(Debug, Error)]
pub enum AccessError {
    /// A rule allows nobody.
    #[error("an empty list would deny every reader; list at least one pattern")]
    NobodyAllowed,
    /// Compiling a reader's `namePattern` failed.
    #[error(transparent)]
    NamePattern(PatternError),
}

/// A reader pattern, compiled.
#[derive(Debug, Clone)]
pub struct CompiledSubjectPattern {
    /// Kind required, if any.
    pub kind: Option<SubjectKind>,
    /// Anchored name pattern.
    pub name: Regex,
    /// The pattern as written, for messages.
    pub source: String,
}

/// An access rule, compiled.
#[derive(Debug, Clone)]
pub struct CompiledAccessRule {
    /// Lowest classification covered.
    pub classification: Classification,
    /// Allowed readers.
    pub allowed: Vec<CompiledSubjectPattern>,
}

/// Validates the access rules and compiles their reader patterns, anchored: a pattern
/// names whole subjects.
pub(crate) fn compile(
    spec: &GovernancePolicySpec,
    problems: &mut Problems,
) -> Vec<CompiledAccessRule> {
    let mut access = Vec::new();
    for (i, rule) in spec.access.iter().enumerate() {
        if rule.allowed.is_empty() {
            problems.push(
                format!("spec.access[{i}].allowed"),
                AccessError::NobodyAllowed,
            );
        }
        let allowed = rule
            .allowed
            .iter()
            .enumerate()
            .filter_map(|(j, p)| {
                let name = problems.check(
                    format!("spec.access[{i}].allowed[{j}].namePattern"),
                    regex_limits::pattern(&format!("^(?:{})$", p.name_pattern))
                        .map_err(AccessError::NamePattern),
                )?;
                Some(CompiledSubjectPattern {
                    kind: p.kind,
                    name,
                    source: p.name_pattern.clone(),
                })
            })
            .collect();
        access.push(CompiledAccessRule {
            classification: rule.classification,
            allowed,
        });
    }
    access
}

/// The product's readers against every rule covering its classification.
pub(crate) fn check(policy: &CompiledPolicy, product: &DataProduct, findings: &mut Findings<'_>) {
    let spec = &product.spec;
    let Some(classification) = spec.classification else {
        return;
    };
    for rule in policy
        .access
        .iter()
        .filter(|r| classification >= r.classification)
    {
        for (i, reader) in spec.access.readers.iter().enumerate() {
            let subject_name = match (&reader.namespace, reader.kind) {
                (Some(ns), SubjectKind::ServiceAccount) => format!("{ns}/{}", reader.name),
                _ => reader.name.clone(),
            };
            let allowed = rule
                .allowed
                .iter()
                .any(|p| p.kind.is_none_or(|k| k == reader.kind) && p.name.is_match(&subject_name));
            if !allowed {
                let patterns: Vec<String> = rule
                    .allowed
                    .iter()
                    .map(|p| match p.kind {
                        Some(k) => format!("{k}:{}", p.source),
                        None => p.source.clone(),
                    })
                    .collect();
                findings.add(
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

/// How the policies' access rules answer an access request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestVerdict {
    /// Every enforced rule covering the level names the subject: granted without an
    /// approver. Carries the policies whose rules allowed it.
    Allowed(Vec<String>),
    /// No enforced rule covers the level, or one does not name the subject: someone
    /// allowed to approve the product decides. Carries why, in a sentence.
    NeedsApproval(String),
}

/// Decides a request by `subject` (kind and policy-form name: `namespace/name` for a
/// ServiceAccount) to read `product` up to `level`, with the enforced policies that
/// select the product. An explicit allow is required: with no rule covering the level,
/// the request waits for an approver rather than being granted by default.
pub(crate) fn decide_request<'a>(
    policies: impl Iterator<Item = &'a CompiledPolicy>,
    kind: SubjectKind,
    subject_name: &str,
    level: Classification,
) -> RequestVerdict {
    let mut allowed_by = Vec::new();
    for policy in policies {
        for rule in policy.access.iter().filter(|r| level >= r.classification) {
            let matches = rule
                .allowed
                .iter()
                .any(|p| p.kind.is_none_or(|k| k == kind) && p.name.is_match(subject_name));
            if !matches {
                return RequestVerdict::NeedsApproval(format!(
                    "policy {} does not allow {kind}:{subject_name} to read {level} data without approval",
                    policy.name
                ));
            }
            allowed_by.push(policy.name.to_string());
        }
    }
    if allowed_by.is_empty() {
        return RequestVerdict::NeedsApproval(format!(
            "no policy's access rules cover {level} data, so an approver decides"
        ));
    }
    allowed_by.dedup();
    RequestVerdict::Allowed(allowed_by)
}
