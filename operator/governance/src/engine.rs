//! Orchestration of a decision; see the crate documentation for the steps.

use crate::decision::Decision;
use crate::policy::{CompiledPolicy, PolicyError};
use crate::{checks, defaults, scope, structure};
use meshplane_api::{DataProduct, Enforcement, GovernancePolicy};

/// A set of compiled policies. Compile once, evaluate many products.
#[derive(Debug, Clone, Default)]
pub struct Engine {
    policies: Vec<CompiledPolicy>,
}

impl Engine {
    /// Compiles the policies; the first invalid one is reported with all its problems.
    pub fn new(policies: &[GovernancePolicy]) -> Result<Engine, PolicyError> {
        let mut compiled = policies
            .iter()
            .map(CompiledPolicy::compile)
            .collect::<Result<Vec<_>, _>>()?;
        // Policy order must not change a decision: evaluate by name.
        compiled.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(Engine { policies: compiled })
    }

    /// The compiled policies, by name.
    pub fn policies(&self) -> &[CompiledPolicy] {
        &self.policies
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
        let mut effective = product.clone();
        let (mutations, classification, compliance_tags) =
            defaults::apply(&mut effective, &enforce, &composed);

        let mut warnings = Vec::new();
        for policy in &applicable {
            let findings = checks::check(policy, &effective);
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
            policies: applicable.iter().map(|p| p.name.clone()).collect(),
            effective,
        }
    }
}
