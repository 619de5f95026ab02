//! Orchestration of a decision; see the crate documentation for the steps.

use crate::decision::Decision;
use crate::field_patterns::{FieldFacts, FieldPatterns};
use crate::policy::{CompiledPolicy, PolicyError};
use crate::rules::access::{self, RequestVerdict};
use crate::{checks, defaults, scope, structure};
use meshplane_api::{Classification, DataProduct, Enforcement, GovernancePolicy, SubjectKind};
use std::sync::Arc;

/// A set of compiled policies. Compile once, evaluate many products.
#[derive(Debug, Clone, Default)]
pub struct Engine {
    policies: Vec<CompiledPolicy>,
    patterns: FieldPatterns,
}

impl Engine {
    /// Compiles the policies; the first invalid one is reported with all its problems,
    /// and patterns too large together name the policies they come from.
    pub fn new(policies: &[GovernancePolicy]) -> Result<Engine, PolicyError> {
        let mut compiled = policies
            .iter()
            .map(CompiledPolicy::compile)
            .collect::<Result<Vec<_>, _>>()?;
        // Policy order must not change a decision: evaluate by name.
        compiled.sort_by(|a, b| a.name.cmp(&b.name));
        for (index, policy) in compiled.iter_mut().enumerate() {
            policy.index = index;
        }
        let patterns = FieldPatterns::new(&compiled)?;
        Ok(Engine {
            policies: compiled,
            patterns,
        })
    }

    /// This engine's policies with `policy` added, or in place of the one of the same
    /// name: what admitting `policy` would put in force. A policy valid on its own can
    /// still fail here, when its field patterns and the others' are too large together.
    pub fn with_policy(&self, policy: &GovernancePolicy) -> Result<Engine, PolicyError> {
        let policies: Vec<GovernancePolicy> = self
            .policies
            .iter()
            .map(|p| &p.policy)
            .filter(|p| p.metadata.name != policy.metadata.name)
            .chain([policy])
            .cloned()
            .collect();
        Engine::new(&policies)
    }

    /// The compiled policies, by name.
    pub fn policies(&self) -> &[CompiledPolicy] {
        &self.policies
    }

    /// Whether `policy`, as it stands (same name and spec), is one this engine decides with.
    pub fn enforces(&self, policy: &GovernancePolicy) -> bool {
        self.policies
            .iter()
            .any(|c| c.policy.metadata.name == policy.metadata.name && c.policy.spec == policy.spec)
    }

    /// Decides an access request: whether the enforced policies that select `product`
    /// allow `kind`/`subject_name` (policy form: `namespace/name` for a ServiceAccount) to
    /// read it up to `level` without an approver.
    pub fn decide_access(
        &self,
        product: &DataProduct,
        kind: SubjectKind,
        subject_name: &str,
        level: Classification,
    ) -> RequestVerdict {
        let enforced = self.policies.iter().filter(|p| {
            p.enforcement == Enforcement::Enforce
                && scope::selects(&p.policy.spec.applies_to, product)
        });
        access::decide_request(enforced, kind, subject_name, level)
    }

    /// Decides on a product: violations, warnings, conflicts, mutations and the effective product.
    pub fn evaluate(&self, product: &DataProduct) -> Decision {
        let applicable: Vec<&CompiledPolicy> = self
            .policies
            .iter()
            .filter(|p| scope::selects(&p.policy.spec.applies_to, product))
            .collect();
        let enforce: Vec<&CompiledPolicy> = applicable
            .iter()
            .copied()
            .filter(|p| p.enforcement == Enforcement::Enforce)
            .collect();

        let mut violations = structure::check(product);
        let composed = defaults::compose(&enforce);
        let facts: Vec<Arc<FieldFacts>> = if applicable.is_empty() {
            Vec::new()
        } else {
            let fields = &product.spec.schema.fields;
            fields
                .iter()
                .map(|f| self.patterns.facts(&f.name))
                .collect()
        };
        let mut effective = product.clone();
        let (mutations, classification, compliance_tags) =
            defaults::apply(&mut effective, &enforce, &composed, &self.patterns, &facts);

        let mut warnings = Vec::new();
        for policy in &applicable {
            let findings = checks::check(policy, &effective, &self.patterns, &facts);
            match policy.enforcement {
                Enforcement::Enforce => violations.extend(findings),
                Enforcement::Audit => warnings.extend(findings),
            }
        }
        Decision {
            allowed: violations.is_empty(),
            violations,
            warnings,
            conflicts: composed.conflicts,
            mutations,
            classification,
            compliance_tags,
            policies: applicable.iter().map(|p| p.name.to_string()).collect(),
            effective,
        }
    }
}
