//! Classification: which fields are personal data (declared, or detected by name with
//! `piiDetection`), the levels fields take when they declare none, the minimum level of
//! personal data, and the product's level (at least its most sensitive field's).

use crate::built_in_name;
use crate::checks::{CheckedField, Findings};
use crate::decision::{Conflict, MutationPath, MutationValue, Rule};
use crate::defaults::{field_path, most_restrictive, positions, Chosen, Mutations};
use crate::field_patterns::{FieldFacts, FieldPatterns};
use crate::policy::{CompiledPolicy, Problems};
use crate::regex_limits::{self, PatternError};
use meshplane_api::{Classification, DataProduct, Field, GovernancePolicySpec};
use thiserror::Error;

/// Classification of ordinary fields when no policy says otherwise.
pub const BUILT_IN_FIELD_CLASSIFICATION: Classification = Classification::Internal;
/// Minimum classification of personal data when no policy says otherwise.
pub const BUILT_IN_PII_CLASSIFICATION: Classification = Classification::Confidential;

/// A classification or PII-detection rule that cannot be used.
#[derive(Debug, Error)]
pub enum ClassificationError {
    /// Compiling one of `piiDetection.fieldPatterns` failed.
    #[error(transparent)]
    PiiPattern(PatternError),
    /// Compiling `piiDetection.fieldPatterns` as the one set the engine searches failed.
    #[error(transparent)]
    PiiPatternsTogether(PatternError),
    /// Personal data would rank below ordinary fields.
    #[error("personal data ({pii}) would be classified lower than ordinary fields ({default})")]
    PiiBelowDefault {
        /// `piiMinimum`.
        pii: Classification,
        /// `defaultField`.
        default: Classification,
    },
}

/// Validates the PII patterns and the classification levels.
pub(crate) fn compile(spec: &GovernancePolicySpec, problems: &mut Problems) {
    if let Some(detection) = &spec.pii_detection {
        let before = problems.len();
        for (i, p) in detection.field_patterns.iter().enumerate() {
            problems.check(
                format!("spec.piiDetection.fieldPatterns[{i}]"),
                regex_limits::pattern(p).map_err(ClassificationError::PiiPattern),
            );
        }
        // The engine searches a policy's patterns as one set, which can exceed the size
        // limit when each pattern alone does not. Only worth compiling if each did.
        if problems.len() == before && !detection.field_patterns.is_empty() {
            problems.check(
                "spec.piiDetection.fieldPatterns",
                regex_limits::set(&detection.field_patterns)
                    .map_err(ClassificationError::PiiPatternsTogether),
            );
        }
    }
    if let Some(c) = &spec.classification {
        if let (Some(default), Some(pii)) = (c.default_field, c.pii_minimum) {
            if pii < default {
                problems.push(
                    "spec.classification.piiMinimum",
                    ClassificationError::PiiBelowDefault { pii, default },
                );
            }
        }
    }
}

/// The classification defaults of the applicable `Enforce` policies, composed.
#[derive(Debug)]
pub struct Defaults<'a> {
    /// Classification of fields that declare none.
    pub default_field: Chosen<'a, Classification>,
    /// Minimum classification of personal data.
    pub pii_minimum: Chosen<'a, Classification>,
}

/// Composes the policies' levels, the highest winning.
pub(crate) fn compose<'a>(
    policies: &[&'a CompiledPolicy],
    conflicts: &mut Vec<Conflict>,
) -> Defaults<'a> {
    let default_field = most_restrictive(
        "classification.defaultField",
        positions(policies, |s| s.classification.as_ref()?.default_field),
        BUILT_IN_FIELD_CLASSIFICATION,
        conflicts,
    );
    let pii_minimum = most_restrictive(
        "classification.piiMinimum",
        positions(policies, |s| s.classification.as_ref()?.pii_minimum),
        BUILT_IN_PII_CLASSIFICATION,
        conflicts,
    );
    Defaults {
        default_field,
        pii_minimum,
    }
}

/// Marks a field that declares nothing about personal data as personal data when its
/// name matches a PII pattern of an `Enforce` policy.
pub(crate) fn detect_pii(
    index: usize,
    field: &mut Field,
    enforce: &[&CompiledPolicy],
    patterns: &FieldPatterns,
    facts: Option<&FieldFacts>,
    mutations: &mut Mutations,
) {
    let (None, Some(facts)) = (field.pii, facts) else {
        return;
    };
    let Some((policy, pattern)) = enforce.iter().find_map(|p| {
        patterns
            .pii_pattern(facts, p.index)
            .map(|pat| (&p.name, pat))
    }) else {
        return;
    };
    field.pii = Some(true);
    mutations.set(
        field_path(index, "pii"),
        MutationValue::Flag(true),
        format!(
            "field name `{}` matches PII pattern `{pattern}`",
            field.name
        ),
        policy,
    );
}

/// Classifies a field that declares no level: personal data at least at the minimum.
pub(crate) fn apply_field(
    index: usize,
    field: &mut Field,
    defaults: &Defaults<'_>,
    mutations: &mut Mutations,
) {
    if field.classification.is_some() {
        return;
    }
    let pii = field.is_pii();
    let chosen = if pii && defaults.pii_minimum.value >= defaults.default_field.value {
        defaults.pii_minimum
    } else {
        defaults.default_field
    };
    field.classification = Some(chosen.value);
    mutations.set(
        field_path(index, "classification"),
        MutationValue::Classification(chosen.value),
        if pii {
            "default classification of personal data"
        } else {
            "default classification of fields"
        },
        chosen.policy,
    );
}

/// Raises the product's classification to its most sensitive field's; returns it.
pub(crate) fn apply_product(
    product: &mut DataProduct,
    mutations: &mut Mutations,
) -> Classification {
    let highest_field = product
        .spec
        .schema
        .fields
        .iter()
        .filter_map(|f| f.classification)
        .max()
        .unwrap_or(Classification::Public);
    let classification = product
        .spec
        .classification
        .map_or(highest_field, |c| c.max(highest_field));
    if product.spec.classification != Some(classification) {
        product.spec.classification = Some(classification);
        mutations.set(
            MutationPath::Spec("classification"),
            MutationValue::Classification(classification),
            "a product is classified at least as high as its most sensitive field",
            built_in_name(),
        );
    }
    classification
}

/// A personal-data field's declared level against the policy's minimum.
pub(crate) fn check_field(
    policy: &CompiledPolicy,
    checked: &CheckedField<'_>,
    findings: &mut Findings<'_>,
) {
    let field = checked.field;
    if !field.is_pii() {
        return;
    }
    let minimum = policy
        .policy
        .spec
        .classification
        .as_ref()
        .and_then(|c| c.pii_minimum);
    if let (Some(minimum), Some(declared)) = (minimum, field.classification) {
        if declared < minimum {
            findings.add(
                checked.path(".classification"),
                Rule::Classification,
                format!(
                    "personal-data field `{}` is classified {declared}, below the minimum {minimum}",
                    field.name
                ),
                format!("classify it {minimum} or higher, or remove `classification` to take the default"),
            );
        }
    }
}
