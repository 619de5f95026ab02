//! Checking a GovernancePolicy on its own and compiling it for fast evaluation.

use crate::decision::PolicyName;
use meshplane_api::duration;
use meshplane_api::{Classification, Enforcement, GovernancePolicy, MaskingStrategy, SubjectKind};
use regex::Regex;
use std::collections::BTreeSet;
use std::fmt;
use std::time::Duration;
use thiserror::Error;

/// One thing wrong with a policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyProblem {
    /// Path of the offending value, e.g. `spec.piiDetection.fieldPatterns[1]`.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for PolicyProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// A policy that cannot be used.
#[derive(Debug, Error)]
pub enum PolicyError {
    /// The policy has one or more problems.
    #[error("GovernancePolicy {policy} is invalid: {}", problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Invalid {
        /// Name of the policy.
        policy: String,
        /// Every problem found.
        problems: Vec<PolicyProblem>,
    },
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

/// A policy ready for evaluation: regexes compiled, durations parsed.
#[derive(Debug, Clone)]
pub struct CompiledPolicy {
    /// Name of the policy.
    pub name: PolicyName,
    /// Position in its engine (set by the engine).
    pub index: usize,
    /// The policy as declared.
    pub policy: GovernancePolicy,
    /// Enforce or audit.
    pub enforcement: Enforcement,
    /// Product name pattern.
    pub product_name: Option<Regex>,
    /// Field name pattern.
    pub field_name: Option<Regex>,
    /// Maximum retention for products holding personal data.
    pub max_pii_retention: Option<Duration>,
    /// Maximum retention per classification.
    pub max_retention: Vec<(Classification, Duration, String)>,
    /// Access rules.
    pub access: Vec<CompiledAccessRule>,
}

fn compile_regex(pattern: &str, path: String, problems: &mut Vec<PolicyProblem>) -> Option<Regex> {
    match Regex::new(pattern) {
        Ok(r) => Some(r),
        Err(e) => {
            problems.push(PolicyProblem {
                path,
                message: format!("`{pattern}` is not a valid regular expression: {e}"),
            });
            None
        }
    }
}

fn parse_limit(text: &str, path: String, problems: &mut Vec<PolicyProblem>) -> Option<Duration> {
    match duration::parse(text) {
        Ok(d) if d.is_zero() => {
            problems.push(PolicyProblem {
                path,
                message: "a maximum retention of zero would reject every product".into(),
            });
            None
        }
        Ok(d) => Some(d),
        Err(e) => {
            problems.push(PolicyProblem {
                path,
                message: e.to_string(),
            });
            None
        }
    }
}

/// Every problem of a policy, empty when it is usable.
pub fn validate_policy(policy: &GovernancePolicy) -> Vec<PolicyProblem> {
    match CompiledPolicy::compile(policy) {
        Ok(_) => Vec::new(),
        Err(PolicyError::Invalid { problems, .. }) => problems,
    }
}

impl CompiledPolicy {
    /// Compiles a policy, reporting every problem at once.
    pub fn compile(policy: &GovernancePolicy) -> Result<CompiledPolicy, PolicyError> {
        let name = policy.metadata.name.clone().unwrap_or_default();
        let spec = &policy.spec;
        let mut problems = Vec::new();

        let (product_name, field_name) = match &spec.naming {
            Some(naming) => {
                for (i, term) in naming.preferred_terms.iter().enumerate() {
                    if term.avoid == term.use_instead {
                        problems.push(PolicyProblem {
                            path: format!("spec.naming.preferredTerms[{i}]"),
                            message: format!("`{}` is both avoided and preferred", term.avoid),
                        });
                    }
                }
                (
                    naming.product_name_pattern.as_deref().and_then(|p| {
                        compile_regex(p, "spec.naming.productNamePattern".into(), &mut problems)
                    }),
                    naming.field_name_pattern.as_deref().and_then(|p| {
                        compile_regex(p, "spec.naming.fieldNamePattern".into(), &mut problems)
                    }),
                )
            }
            None => (None, None),
        };

        if let Some(detection) = &spec.pii_detection {
            for (i, p) in detection.field_patterns.iter().enumerate() {
                compile_regex(
                    p,
                    format!("spec.piiDetection.fieldPatterns[{i}]"),
                    &mut problems,
                );
            }
        }

        if let Some(c) = &spec.classification {
            if let (Some(default), Some(pii)) = (c.default_field, c.pii_minimum) {
                if pii < default {
                    problems.push(PolicyProblem {
                        path: "spec.classification.piiMinimum".into(),
                        message: format!(
                            "personal data ({pii}) would be classified lower than ordinary fields ({default})"
                        ),
                    });
                }
            }
        }

        if let Some(m) = &spec.masking {
            if m.pii == Some(MaskingStrategy::None) {
                problems.push(PolicyProblem {
                    path: "spec.masking.pii".into(),
                    message: "personal data is always masked; `none` is not allowed here".into(),
                });
            }
            let mut seen = BTreeSet::new();
            for (i, rule) in m.by_classification.iter().enumerate() {
                if !seen.insert(rule.classification) {
                    problems.push(PolicyProblem {
                        path: format!("spec.masking.byClassification[{i}]"),
                        message: format!("classification {} is listed twice", rule.classification),
                    });
                }
            }
        }

        let mut max_pii_retention = None;
        let mut max_retention = Vec::new();
        if let Some(r) = &spec.retention {
            if let Some(text) = &r.max_pii {
                max_pii_retention =
                    parse_limit(text, "spec.retention.maxPii".into(), &mut problems);
            }
            let mut seen = BTreeSet::new();
            for (i, rule) in r.max_by_classification.iter().enumerate() {
                let path = format!("spec.retention.maxByClassification[{i}]");
                if !seen.insert(rule.classification) {
                    problems.push(PolicyProblem {
                        path: path.clone(),
                        message: format!("classification {} is listed twice", rule.classification),
                    });
                }
                if let Some(d) = parse_limit(&rule.max, format!("{path}.max"), &mut problems) {
                    max_retention.push((rule.classification, d, rule.max.clone()));
                }
            }
        }

        let mut access = Vec::new();
        for (i, rule) in spec.access.iter().enumerate() {
            if rule.allowed.is_empty() {
                problems.push(PolicyProblem {
                    path: format!("spec.access[{i}].allowed"),
                    message: "an empty list would deny every reader; list at least one pattern"
                        .into(),
                });
            }
            let allowed = rule
                .allowed
                .iter()
                .enumerate()
                .filter_map(|(j, p)| {
                    compile_regex(
                        &format!("^(?:{})$", p.name_pattern),
                        format!("spec.access[{i}].allowed[{j}].namePattern"),
                        &mut problems,
                    )
                    .map(|name| CompiledSubjectPattern {
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

        for (i, rule) in spec.compliance_tags.iter().enumerate() {
            let path = format!("spec.complianceTags[{i}]");
            if !is_label_name(&rule.tag) {
                problems.push(PolicyProblem {
                    path: format!("{path}.tag"),
                    message: format!(
                        "`{}` cannot be a label name: use letters, digits, `-`, `_`, `.` (at most 63, alphanumeric at both ends)",
                        rule.tag
                    ),
                });
            }
            if !rule.when_pii
                && rule.when_classification_at_least.is_none()
                && rule.when_domains.is_empty()
            {
                problems.push(PolicyProblem {
                    path,
                    message: "give at least one condition (whenPii, whenClassificationAtLeast, whenDomains)".into(),
                });
            }
        }

        if !problems.is_empty() {
            return Err(PolicyError::Invalid {
                policy: name,
                problems,
            });
        }
        Ok(CompiledPolicy {
            name: PolicyName::from(name),
            index: 0,
            policy: policy.clone(),
            enforcement: spec.enforcement,
            product_name,
            field_name,
            max_pii_retention,
            max_retention,
            access,
        })
    }
}

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
