//! Encryption at rest: whether products must be encrypted, with which algorithm at
//! least, and the encryption given to products that declare none.

use crate::checks::Findings;
use crate::decision::{Conflict, MutationPath, MutationValue, PolicyName, Rule};
use crate::defaults::{most_restrictive, positions, Chosen, Mutations};
use crate::policy::CompiledPolicy;
use meshplane_api::{DataProduct, Encryption, EncryptionAlgorithm};

/// Algorithm of products that declare no encryption when no policy says otherwise.
pub const BUILT_IN_ALGORITHM: EncryptionAlgorithm = EncryptionAlgorithm::Aes256;

/// The encryption defaults of the applicable `Enforce` policies, composed.
#[derive(Debug)]
pub struct Defaults<'a> {
    /// The first policy requiring encryption, if any.
    pub required_by: Option<&'a PolicyName>,
    /// Algorithm for products that declare no encryption.
    pub algorithm: Chosen<'a, EncryptionAlgorithm>,
}

/// Composes the policies' encryption, the strongest algorithm winning.
pub(crate) fn compose<'a>(
    policies: &[&'a CompiledPolicy],
    conflicts: &mut Vec<Conflict>,
) -> Defaults<'a> {
    let required_by = policies
        .iter()
        .find(|p| {
            p.policy
                .spec
                .encryption
                .as_ref()
                .is_some_and(|e| e.required)
        })
        .map(|p| &p.name);
    let algorithm = most_restrictive(
        "encryption.algorithm",
        positions(policies, |s| s.encryption.as_ref()?.algorithm),
        BUILT_IN_ALGORITHM,
        conflicts,
    );
    Defaults {
        required_by,
        algorithm,
    }
}

/// Encrypts a product that declares no encryption; opting out takes a declaration.
pub(crate) fn apply(product: &mut DataProduct, defaults: &Defaults<'_>, mutations: &mut Mutations) {
    if product.spec.encryption.is_some() {
        return;
    }
    let encryption = Encryption {
        enabled: true,
        algorithm: defaults.algorithm.value,
        kms_key_id: None,
    };
    product.spec.encryption = Some(encryption.clone());
    mutations.set(
        MutationPath::Spec("encryption"),
        MutationValue::Encryption(encryption),
        match defaults.required_by {
            Some(_) => "encryption at rest is required",
            None => "encryption at rest is on unless a product opts out",
        },
        defaults.required_by.unwrap_or(defaults.algorithm.policy),
    );
}

/// The product's encryption against the policy's requirements.
pub(crate) fn check(policy: &CompiledPolicy, product: &DataProduct, findings: &mut Findings<'_>) {
    let Some(rules) = &policy.policy.spec.encryption else {
        return;
    };
    let encryption = product.spec.encryption.as_ref();
    if rules.required && !encryption.is_some_and(|e| e.enabled) {
        findings.add(
            "spec.encryption.enabled",
            Rule::Encryption,
            "encryption at rest is disabled but required".into(),
            "set encryption.enabled: true (or remove `encryption` to take the default)".into(),
        );
    }
    if let (Some(required), Some(e)) = (rules.algorithm, encryption) {
        if rules.required && e.enabled && e.algorithm < required {
            findings.add(
                "spec.encryption.algorithm",
                Rule::Encryption,
                format!(
                    "encryption uses {}, weaker than the required {required}",
                    e.algorithm
                ),
                format!("set encryption.algorithm: {required}"),
            );
        }
    }
    if encryption.is_some_and(|e| e.enabled && e.algorithm == EncryptionAlgorithm::AwsKms)
        && encryption.and_then(|e| e.kms_key_id.as_ref()).is_none()
    {
        findings.add(
            "spec.encryption.kmsKeyId",
            Rule::Encryption,
            "SSE-KMS needs a key id".into(),
            "set encryption.kmsKeyId".into(),
        );
    }
}
