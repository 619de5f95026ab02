//! Masking: how personal data and each classification level are masked when a field
//! declares nothing, and the weakest masking personal data may declare.

use crate::checks::{CheckedField, Findings};
use crate::decision::{Conflict, MutationValue, Rule};
use crate::defaults::{field_path, most_restrictive, positions, Chosen, Mutations};
use crate::policy::{CompiledPolicy, Problems};
use meshplane_api::{Classification, Field, GovernancePolicySpec, MaskingStrategy};
use std::collections::{BTreeMap, BTreeSet};
use thiserror::Error;

/// Masking of personal data when no policy says otherwise.
pub const BUILT_IN_PII_MASKING: MaskingStrategy = MaskingStrategy::Hash;

/// A masking rule that cannot be used.
#[derive(Debug, Error)]
pub enum MaskingError {
    /// `pii: none` would leave personal data unmasked.
    #[error("personal data is always masked; `none` is not allowed here")]
    PiiUnmasked,
    /// `byClassification` names a level twice.
    #[error("classification {classification} is listed twice")]
    ListedTwice {
        /// The level.
        classification: Classification,
    },
}

/// Validates the masking rules.
pub(crate) fn compile(spec: &GovernancePolicySpec, problems: &mut Problems) {
    let Some(m) = &spec.masking else {
        return;
    };
    if m.pii == Some(MaskingStrategy::None) {
        problems.push("spec.masking.pii", MaskingError::PiiUnmasked);
    }
    let mut seen = BTreeSet::new();
    for (i, rule) in m.by_classification.iter().enumerate() {
        if !seen.insert(rule.classification) {
            problems.push(
                format!("spec.masking.byClassification[{i}]"),
                MaskingError::ListedTwice {
                    classification: rule.classification,
                },
            );
        }
    }
}

/// The masking defaults of the applicable `Enforce` policies, composed.
#[derive(Debug)]
pub struct Defaults<'a> {
    /// Masking of personal data that declares none.
    pub pii: Chosen<'a, MaskingStrategy>,
    /// Masking by classification for fields that declare none.
    pub by_classification: BTreeMap<Classification, Chosen<'a, MaskingStrategy>>,
}

/// Composes the policies' masking, the strongest winning.
pub(crate) fn compose<'a>(
    policies: &[&'a CompiledPolicy],
    conflicts: &mut Vec<Conflict>,
) -> Defaults<'a> {
    let pii = most_restrictive(
        "masking.pii",
        positions(policies, |s| s.masking.as_ref()?.pii),
        BUILT_IN_PII_MASKING,
        conflicts,
    );
    let mut by_classification = BTreeMap::new();
    for level in Classification::ALL {
        let asked = positions(policies, |s| {
            let rules = &s.masking.as_ref()?.by_classification;
            Some(rules.iter().find(|r| r.classification == level)?.strategy)
        });
        if !asked.is_empty() {
            let chosen = most_restrictive(
                &format!("masking.byClassification.{level}"),
                asked,
                MaskingStrategy::None,
                conflicts,
            );
            by_classification.insert(level, chosen);
        }
    }
    Defaults {
        pii,
        by_classification,
    }
}

/// Masks a field that declares no masking: personal data at least as the PII default,
/// others as their classification says, if it says anything.
pub(crate) fn apply_field(
    index: usize,
    field: &mut Field,
    defaults: &Defaults<'_>,
    mutations: &mut Mutations,
) {
    if field.masking.is_some() {
        return;
    }
    let by_class = field
        .classification
        .and_then(|c| defaults.by_classification.get(&c))
        .map(|c| (*c, "default masking of its classification"));
    let chosen = match (field.is_pii(), by_class) {
        (true, Some(c)) if c.0.value > defaults.pii.value => Some(c),
        (true, _) => Some((defaults.pii, "default masking of personal data")),
        (false, by_class) => by_class,
    };
    if let Some((chosen, why)) = chosen {
        if chosen.value != MaskingStrategy::None {
            field.masking = Some(chosen.value);
            mutations.set(
                field_path(index, "masking"),
                MutationValue::Masking(chosen.value),
                why,
                chosen.policy,
            );
        }
    }
}

/// A personal-data field's declared masking against the policy's weakest allowed.
pub(crate) fn check_field(
    policy: &CompiledPolicy,
    checked: &CheckedField<'_>,
    findings: &mut Findings<'_>,
) {
    let field = checked.field;
    if !field.is_pii() {
        return;
    }
    let minimum = policy.policy.spec.masking.as_ref().and_then(|m| m.pii);
    if let (Some(minimum), Some(declared)) = (minimum, field.masking) {
        if declared < minimum {
            findings.add(
                checked.path(".masking"),
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
