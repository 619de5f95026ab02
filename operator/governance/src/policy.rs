//! Checking a GovernancePolicy on its own and compiling it for fast evaluation. Each rule
//! family validates and compiles its own part of the spec ([`crate::rules`]); this module
//! runs them in a fixed order, so problems are always listed the same way, and reports
//! every problem at once.

use crate::decision::PolicyName;
use crate::field_patterns::FieldPatternsError;
use crate::rules::access::{self, CompiledAccessRule};
use crate::rules::naming::{self, CompiledNaming};
use crate::rules::retention::{self, CompiledRetention};
use crate::rules::{classification, compliance_tags, masking, RuleError};
use meshplane_api::{Enforcement, GovernancePolicy};
use std::fmt;
use thiserror::Error;

pub use crate::rules::access::CompiledSubjectPattern;

/// One thing wrong with a policy.
#[derive(Debug)]
pub struct PolicyProblem {
    /// Path of the offending value, e.g. `spec.piiDetection.fieldPatterns[1]`.
    pub path: String,
    /// What is wrong, as the error of the rule family it belongs to.
    pub error: RuleError,
}

impl fmt::Display for PolicyProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.error)
    }
}

/// A policy, or a set of policies, that cannot be used.
#[derive(Debug, Error)]
pub enum PolicyError {
    /// Compiling a policy found one or more problems.
    #[error("GovernancePolicy {policy} is invalid: {}", problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Invalid {
        /// Name of the policy.
        policy: String,
        /// Every problem found.
        problems: Vec<PolicyProblem>,
    },
    /// Compiling the field patterns of valid policies as one search failed.
    #[error(transparent)]
    Patterns(#[from] FieldPatternsError),
}

/// The problems found while compiling one policy, in the order found.
#[derive(Debug, Default)]
pub(crate) struct Problems(Vec<PolicyProblem>);

impl Problems {
    /// Records a problem at `path`.
    pub(crate) fn push(&mut self, path: impl Into<String>, error: impl Into<RuleError>) {
        self.0.push(PolicyProblem {
            path: path.into(),
            error: error.into(),
        });
    }

    /// The value, or `None` with the error recorded at `path`.
    pub(crate) fn check<T, E: Into<RuleError>>(
        &mut self,
        path: impl Into<String>,
        result: Result<T, E>,
    ) -> Option<T> {
        result.map_err(|e| self.push(path, e)).ok()
    }

    /// Number recorded so far.
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether nothing was recorded.
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
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
    /// Product and field name patterns.
    pub naming: CompiledNaming,
    /// Retention limits.
    pub retention: CompiledRetention,
    /// Access rules.
    pub access: Vec<CompiledAccessRule>,
}

/// Every problem of a policy, empty when it is usable.
pub fn validate_policy(policy: &GovernancePolicy) -> Vec<PolicyProblem> {
    CompiledPolicy::compile_or_problems(policy)
        .err()
        .unwrap_or_default()
}

impl CompiledPolicy {
    /// Compiles a policy, reporting every problem at once.
    pub fn compile(policy: &GovernancePolicy) -> Result<CompiledPolicy, PolicyError> {
        Self::compile_or_problems(policy).map_err(|problems| PolicyError::Invalid {
            policy: policy.metadata.name.clone().unwrap_or_default(),
            problems,
        })
    }

    fn compile_or_problems(
        policy: &GovernancePolicy,
    ) -> Result<CompiledPolicy, Vec<PolicyProblem>> {
        let spec = &policy.spec;
        let mut problems = Problems::default();
        let naming = naming::compile(spec, &mut problems);
        classification::compile(spec, &mut problems);
        masking::compile(spec, &mut problems);
        let retention = retention::compile(spec, &mut problems);
        let access = access::compile(spec, &mut problems);
        compliance_tags::compile(spec, &mut problems);
        if !problems.is_empty() {
            return Err(problems.0);
        }
        Ok(CompiledPolicy {
            name: PolicyName::from(policy.metadata.name.clone().unwrap_or_default()),
            index: 0,
            policy: policy.clone(),
            enforcement: spec.enforcement,
            naming,
            retention,
            access,
        })
    }
}
