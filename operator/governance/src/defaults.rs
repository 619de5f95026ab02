//! Composing the defaults of several policies and applying them to what a product left
//! unset. Declared values are never changed: a declaration that breaks a rule is a
//! violation for [`crate::checks`], not something to rewrite.

use crate::built_in_name;
use crate::decision::PolicyName;
use crate::decision::{Conflict, Mutation, MutationPath, MutationValue};
use crate::field_patterns::{FieldFacts, FieldPatterns};
use crate::policy::CompiledPolicy;
use meshplane_api::{
    compliance_label_key, Classification, DataProduct, Encryption, EncryptionAlgorithm,
    MaskingStrategy,
};
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Display;
use std::sync::Arc;

/// Classification of ordinary fields when no policy says otherwise.
pub const BUILT_IN_FIELD_CLASSIFICATION: Classification = Classification::Internal;
/// Minimum classification of personal data when no policy says otherwise.
pub const BUILT_IN_PII_CLASSIFICATION: Classification = Classification::Confidential;
/// Masking of personal data when no policy says otherwise.
pub const BUILT_IN_PII_MASKING: MaskingStrategy = MaskingStrategy::Hash;

/// A setting with the value taken and the policy it came from.
#[derive(Debug, Clone, Copy)]
pub struct Chosen<'a, T> {
    /// The value.
    pub value: T,
    /// Where it came from.
    pub policy: &'a PolicyName,
}

/// The defaults of all applicable `Enforce` policies, composed.
#[derive(Debug)]
pub struct Composed<'a> {
    /// Classification of fields that declare none.
    pub default_field: Chosen<'a, Classification>,
    /// Minimum classification of personal data.
    pub pii_minimum: Chosen<'a, Classification>,
    /// Masking of personal data that declares none.
    pub pii_masking: Chosen<'a, MaskingStrategy>,
    /// Masking by classification for fields that declare none.
    pub masking_by_classification: BTreeMap<Classification, Chosen<'a, MaskingStrategy>>,
    /// The first policy requiring encryption, if any.
    pub encryption_required_by: Option<&'a PolicyName>,
    /// Algorithm for products that declare no encryption.
    pub encryption_algorithm: Chosen<'a, EncryptionAlgorithm>,
    /// Disagreements found while composing.
    pub conflicts: Vec<Conflict>,
}

/// Takes the most restrictive (by `strength`) of what the policies ask for, falling back
/// to the built-in value; reports a conflict when they ask for different values.
fn most_restrictive<'a, T: Copy + PartialEq + Display, K: Ord>(
    setting: &str,
    positions: Vec<Chosen<'a, T>>,
    built_in: T,
    strength: impl Fn(T) -> K,
    conflicts: &mut Vec<Conflict>,
) -> Chosen<'a, T> {
    let Some(chosen) = positions.iter().copied().max_by_key(|c| strength(c.value)) else {
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

/// Composes the defaults of the given (`Enforce`) policies.
pub fn compose<'a>(policies: &[&'a CompiledPolicy]) -> Composed<'a> {
    let mut conflicts = Vec::new();
    let collect = |get: &dyn Fn(&'a CompiledPolicy) -> Option<Classification>| {
        policies
            .iter()
            .filter_map(|p| {
                get(p).map(|value| Chosen {
                    value,
                    policy: &p.name,
                })
            })
            .collect::<Vec<_>>()
    };
    let default_field = most_restrictive(
        "classification.defaultField",
        collect(&|p| {
            p.policy
                .spec
                .classification
                .as_ref()
                .and_then(|c| c.default_field)
        }),
        BUILT_IN_FIELD_CLASSIFICATION,
        |c| c,
        &mut conflicts,
    );
    let pii_minimum = most_restrictive(
        "classification.piiMinimum",
        collect(&|p| {
            p.policy
                .spec
                .classification
                .as_ref()
                .and_then(|c| c.pii_minimum)
        }),
        BUILT_IN_PII_CLASSIFICATION,
        |c| c,
        &mut conflicts,
    );
    let pii_masking = most_restrictive(
        "masking.pii",
        policies
            .iter()
            .filter_map(|p| {
                let value = p.policy.spec.masking.as_ref()?.pii?;
                Some(Chosen {
                    value,
                    policy: &p.name,
                })
            })
            .collect(),
        BUILT_IN_PII_MASKING,
        |m| m,
        &mut conflicts,
    );
    let mut masking_by_classification = BTreeMap::new();
    for level in Classification::ALL {
        let positions: Vec<_> = policies
            .iter()
            .filter_map(|p| {
                let rules = &p.policy.spec.masking.as_ref()?.by_classification;
                let rule = rules.iter().find(|r| r.classification == level)?;
                Some(Chosen {
                    value: rule.strategy,
                    policy: &p.name,
                })
            })
            .collect();
        if !positions.is_empty() {
            let chosen = most_restrictive(
                &format!("masking.byClassification.{level}"),
                positions,
                MaskingStrategy::None,
                |m| m,
                &mut conflicts,
            );
            masking_by_classification.insert(level, chosen);
        }
    }
    let encryption_required_by = policies
        .iter()
        .find(|p| {
            p.policy
                .spec
                .encryption
                .as_ref()
                .is_some_and(|e| e.required)
        })
        .map(|p| &p.name);
    let encryption_algorithm = most_restrictive(
        "encryption.algorithm",
        policies
            .iter()
            .filter_map(|p| {
                let value = p.policy.spec.encryption.as_ref()?.algorithm?;
                Some(Chosen {
                    value,
                    policy: &p.name,
                })
            })
            .collect(),
        EncryptionAlgorithm::Aes256,
        |a| a,
        &mut conflicts,
    );
    Composed {
        default_field,
        pii_minimum,
        pii_masking,
        masking_by_classification,
        encryption_required_by,
        encryption_algorithm,
        conflicts,
    }
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
    let mut mutations = Vec::new();
    let mut set = |path: MutationPath,
                   value: MutationValue,
                   reason: Cow<'static, str>,
                   policy: &PolicyName| {
        mutations.push(Mutation {
            path,
            value,
            reason,
            policy: policy.clone(),
        });
    };

    for (i, field) in product.spec.schema.fields.iter_mut().enumerate() {
        let at = |attribute: &'static str| MutationPath::Field {
            index: i,
            attribute,
        };
        if let (None, Some(facts)) = (field.pii, facts.get(i)) {
            if let Some((policy, pattern)) = enforce.iter().find_map(|p| {
                patterns
                    .pii_pattern(facts, p.index)
                    .map(|pat| (&p.name, pat))
            }) {
                field.pii = Some(true);
                set(
                    at("pii"),
                    MutationValue::Flag(true),
                    format!(
                        "field name `{}` matches PII pattern `{pattern}`",
                        field.name
                    )
                    .into(),
                    policy,
                );
            }
        }
        let pii = field.is_pii();
        if field.classification.is_none() {
            let chosen = if pii {
                if composed.pii_minimum.value >= composed.default_field.value {
                    composed.pii_minimum
                } else {
                    composed.default_field
                }
            } else {
                composed.default_field
            };
            field.classification = Some(chosen.value);
            set(
                at("classification"),
                MutationValue::Classification(chosen.value),
                if pii {
                    "default classification of personal data".into()
                } else {
                    "default classification of fields".into()
                },
                chosen.policy,
            );
        }
        if field.masking.is_none() {
            let by_class = field
                .classification
                .and_then(|c| composed.masking_by_classification.get(&c))
                .map(|c| (*c, "default masking of its classification"));
            let chosen = match (pii, by_class) {
                (true, Some(c)) if c.0.value > composed.pii_masking.value => Some(c),
                (true, _) => Some((composed.pii_masking, "default masking of personal data")),
                (false, by_class) => by_class,
            };
            if let Some((chosen, why)) = chosen {
                if chosen.value != MaskingStrategy::None {
                    field.masking = Some(chosen.value);
                    set(
                        at("masking"),
                        MutationValue::Masking(chosen.value),
                        why.into(),
                        chosen.policy,
                    );
                }
            }
        }
    }

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
        set(
            MutationPath::Spec("classification"),
            MutationValue::Classification(classification),
            "a product is classified at least as high as its most sensitive field".into(),
            built_in_name(),
        );
    }

    if product.spec.encryption.is_none() {
        let algorithm = composed.encryption_algorithm;
        let encryption = Encryption {
            enabled: true,
            algorithm: algorithm.value,
            kms_key_id: None,
        };
        product.spec.encryption = Some(encryption.clone());
        set(
            MutationPath::Spec("encryption"),
            MutationValue::Encryption(encryption),
            match composed.encryption_required_by {
                Some(_) => "encryption at rest is required".into(),
                None => "encryption at rest is on unless a product opts out".into(),
            },
            composed.encryption_required_by.unwrap_or(algorithm.policy),
        );
    }

    let has_pii = product.spec.schema.fields.iter().any(|f| f.is_pii());
    let mut tags = BTreeSet::new();
    for policy in enforce {
        for rule in &policy.policy.spec.compliance_tags {
            let by_pii = rule.when_pii && has_pii;
            let by_class = rule
                .when_classification_at_least
                .is_some_and(|c| classification >= c);
            let by_domain = rule.when_domains.contains(&product.spec.domain);
            if by_pii || by_class || by_domain {
                tags.insert(rule.tag.clone());
                let labels = product.metadata.labels.get_or_insert_with(BTreeMap::new);
                let key = compliance_label_key(&rule.tag);
                if labels.get(&key).map(String::as_str) != Some("true") {
                    labels.insert(key.clone(), "true".into());
                    set(
                        MutationPath::Label(key),
                        MutationValue::Text("true"),
                        format!("compliance tag `{}`", rule.tag).into(),
                        &policy.name,
                    );
                }
            }
        }
    }
    (mutations, classification, tags)
}
