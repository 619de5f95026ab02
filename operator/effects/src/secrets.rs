//! Secrets a product's workload reads: created once if absent, never overwritten, so a
//! platform team may provide its own and a masking key is never rotated behind the
//! pseudonyms already written with it.

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::{Api, PostParams};
use kube::Client;
use std::collections::BTreeMap;
use thiserror::Error;

/// A Secret could not be provisioned.
#[derive(Debug, Error)]
pub enum SecretError {
    /// Creating the Secret failed.
    #[error("failed to create Secret {namespace}/{name}: {source}")]
    Create {
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
        /// Cause.
        source: kube::Error,
    },
    /// The system's random number generator failed.
    #[error("failed to generate a key: {0}")]
    Random(getrandom::Error),
}

/// A Secret to create when absent.
#[derive(Debug, Clone)]
pub struct SecretSpec {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Owner (a product), for secrets that belong to one product only.
    pub owner: Option<OwnerReference>,
    /// Data, as text.
    pub data: BTreeMap<String, String>,
}

/// Creates the Secret unless one of that name exists. `Ok(true)` when it was created.
pub async fn create_if_absent(client: &Client, spec: &SecretSpec) -> Result<bool, SecretError> {
    let api: Api<Secret> = Api::namespaced(client.clone(), &spec.namespace);
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some(spec.name.clone()),
            namespace: Some(spec.namespace.clone()),
            labels: Some(spec.labels.clone()),
            owner_references: spec.owner.clone().map(|o| vec![o]),
            ..ObjectMeta::default()
        },
        string_data: Some(spec.data.clone()),
        type_: Some("Opaque".into()),
        ..Secret::default()
    };
    match api.create(&PostParams::default(), &secret).await {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
        Err(source) => Err(SecretError::Create {
            namespace: spec.namespace.clone(),
            name: spec.name.clone(),
            source,
        }),
    }
}

/// A new 256-bit key, hex encoded, for keyed pseudonymisation (HMAC-SHA256).
pub fn new_masking_key() -> Result<String, SecretError> {
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).map_err(SecretError::Random)?;
    Ok(key.iter().map(|b| format!("{b:02x}")).collect())
}
