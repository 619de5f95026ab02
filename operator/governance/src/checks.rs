//! What one policy finds wrong with an (effective) product. Each policy checks on its
//! own, so every finding names the policy and the limit it set. The checks belong to
//! their rule family ([`crate::rules`]); this module fixes their order — the product's
//! name, then field by field, then product-wide rules — so findings always read the same.

use crate::decision::{Finding, PolicyName, Rule};
use crate::field_patterns::{FieldFacts, FieldPatterns};
use crate::policy::CompiledPolicy;
use crate::rules::{access, classification, encryption, masking, naming, quality, retention};
use meshplane_api::{DataProduct, Field};
use std::sync::Arc;

/// The findings of one policy, collected in order.
pub(crate) struct Findings<'p> {
    policy: &'p PolicyName,
    out: Vec<Finding>,
}

impl Findings<'_> {
    /// Records a finding at `path`, with how to fix it.
    pub(crate) fn add(
        &mut self,
        path: impl Into<String>,
        rule: Rule,
        message: String,
        hint: String,
    ) {
        self.out.push(Finding {
            path: path.into(),
            rule,
            policy: self.policy.clone(),
            message,
            hint,
        });
    }
}

/// A field under check, with what the policies' patterns say about its name.
pub(crate) struct CheckedField<'a> {
    /// Position in the schema.
    pub index: usize,
    /// The field, as made effective.
    pub field: &'a Field,
    /// Pattern matches of its name; `None` when no policy applies.
    pub facts: Option<&'a FieldFacts>,
}

impl CheckedField<'_> {
    /// The path of one of its attributes, e.g. `.name`.
    pub fn path(&self, attribute: &str) -> String {
        format!("spec.schema.fields[{}]{attribute}", self.index)
    }
}

/// Findings of `policy` on `product`; `facts[i]` holds the pattern matches of field `i`.
pub fn check(
    policy: &CompiledPolicy,
    product: &DataProduct,
    patterns: &FieldPatterns,
    facts: &[Arc<FieldFacts>],
) -> Vec<Finding> {
    let mut findings = Findings {
        policy: &policy.name,
        out: Vec::new(),
    };
    naming::check_product(policy, product, &mut findings);
    for (index, field) in product.spec.schema.fields.iter().enumerate() {
        let field = CheckedField {
            index,
            field,
            facts: facts.get(index).map(|f| &**f),
        };
        naming::check_field(policy, &field, patterns, &mut findings);
        classification::check_field(policy, &field, &mut findings);
        masking::check_field(policy, &field, &mut findings);
    }
    encryption::check(policy, product, &mut findings);
    retention::check(policy, product, &mut findings);
    access::check(policy, product, &mut findings);
    quality::check(policy, product, &mut findings);
    findings.out
}
