//! Composing the defaults of several policies and applying them to what a product left
//! unset. Declared values are never changed: a declaration that breaks a rule is a
//! violation for [`crate::checks`], not something to rewrite. Each default belongs to
//! its rule family ([`crate::rules`]); this module holds what they share — taking the
//! most restrictive position, recording mutations — and the order they apply in.

use crate::built_in_name;
use crate::decision::{Conflict, Mutation, MutationPath, MutationValue, PolicyName};
use crate::field_patterns::{FieldFacts, FieldPatterns};
use crate::policy::CompiledPolicy;
use crate::rules::{classification, compliance_tags, encryption, masking};
use meshplane_api::{Classification, DataProduct, GovernancePolicySpec};
use std::borrow::Cow;
use std::collections::BTreeSet;
use std::fmt::Display;
use std::sync::Arc;

/// A setting with the value taken and the policy it came from.
#[derive(Debug, Clone, Copy)]
pub struct Chosen<'a, T> {
    /// The value.
    pub value: T,
    /// Where it came from.
    pub policy: &'a PolicyName,
}

/// What each of the given policies asks for, in policy order.
pub(crate) fn positions<'a, T>(
    policies: &[&'a CompiledPolicy],
    value: impl Fn(&GovernancePolicySpec) -> Option<T>,
) -> Vec<Chosen<'a, T>> {
    policies
        .iter()
        .filter_map(|p| {
            value(&p.policy.spec).map(|value| Chosen {
                value,
                policy: &p.name,
            })
        })
        .collect()
}

/// Takes the most restrictive of what the policies ask for (the greatest value),
/// falling back to the built-in value; reports a conflict when they ask for different
/// values.
pub(crate) fn most_restrictive<'a, T: Copy + Ord + Display>(
    setting: &str,
    positions: Vec<Chosen<'a, T>>,
    built_in: T,
    conflicts: &mut Vec<Conflict>,
) -> Chosen<'a, T> {
    let Some(chosen) = positions.iter().copied().max_by_key(|c| c.value) else {
        return Chosen {
            value: built_in,
            policy: built_in_name(),
        };
    };
    if positions.iter().any(|c| c.value != chosen.value) {
        conflicts.push(Conflict {
            setting: setting.to_string(),
            positions: positions
                .iter()
                .map(|c| format!("{}={}", c.policy, c.value))
                .collect(),
            chosen: chosen.value.to_string(),
        });
    }
    chosen
}

/// The defaults of all applicable `Enforce` policies, composed.
#[derive(Debug)]
pub struct Composed<'a> {
    /// Classification of fields and of personal data.
    pub classification: classification::Defaults<'a>,
    /// Masking of personal data and by classification.
    pub masking: masking::Defaults<'a>,
    /// Encryption at rest.
    pub encryption: encryption::Defaults<'a>,
    /// Disagreements found while composing.
    pub conflicts: Vec<Conflict>,
}

/// Composes the defaults of the given (`Enforce`) policies.
pub fn compose<'a>(policies: &[&'a CompiledPolicy]) -> Composed<'a> {
    let mut conflicts = Vec::new();
    let classification = classification::compose(policies, &mut conflicts);
    let masking = masking::compose(policies, &mut conflicts);
    let encryption = encryption::compose(policies, &mut conflicts);
    Composed {
        classification,
        masking,
        encryption,
        conflicts,
    }
}

/// The defaults applied, in order.
#[derive(Default)]
pub(crate) struct Mutations(Vec<Mutation>);

impl Mutations {
    /// Records that `path` was set to `value`, why, and by which policy.
    pub(crate) fn set(
        &mut self,
        path: MutationPath,
        value: MutationValue,
        reason: impl Into<Cow<'static, str>>,
        policy: &PolicyName,
    ) {
        self.0.push(Mutation {
            path,
            value,
            reason: reason.into(),
            policy: policy.clone(),
        });
    }
}

/// The path of a field's attribute, e.g. `spec.schema.fields[3].masking`.
pub(crate) fn field_path(index: usize, attribute: &'static str) -> MutationPath {
    MutationPath::Field { index, attribute }
}

/// Applies the composed defaults to `product` in place and returns what was set.
/// Also returns the derived classification and compliance tags. `facts` holds the
/// pattern matches of each field name (empty when no policy applies).
pub fn apply(
    product: &mut DataProduct,
    enforce: &[&CompiledPolicy],
    composed: &Composed<'_>,
    patterns: &FieldPatterns,
    facts: &[Arc<FieldFacts>],
) -> (Vec<Mutation>, Classification, BTreeSet<String>) {
    let mut mutations = Mutations::default();
    // Field by field: whether a field is personal data decides its classification,
    // and both decide its masking.
    for (i, field) in product.spec.schema.fields.iter_mut().enumerate() {
        let facts = facts.get(i).map(|f| &**f);
        classification::detect_pii(i, field, enforce, patterns, facts, &mut mutations);
        classification::apply_field(i, field, &composed.classification, &mut mutations);
        masking::apply_field(i, field, &composed.masking, &mut mutations);
    }
    let classification = classification::apply_product(product, &mut mutations);
    encryption::apply(product, &composed.encryption, &mut mutations);
    let tags = compliance_tags::apply(product, enforce, classification, &mut mutations);
    (mutations.0, classification, tags)
}
