//! Secrets a product's workload reads: created once if absent, never overwritten, so a
//! platform team may provide its own and a masking key is never rotated behind the
//! pseudonyms already written with it. Their resourceVersions are read (metadata only) so
//! that the workers roll when one is rotated.

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
    /// Reading the Secret failed.
    #[error("failed to read Secret {namespace}/{name}: {source}")]
    Get {
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
    Ok(create_unless_present(client, spec).await?.is_some())
}

/// Creates the Secret unless one of that name exists, and returns the resourceVersion of
/// the Secret now in place (the one created, or the one found).
pub async fn ensure_version(client: &Client, spec: &SecretSpec) -> Result<String, SecretError> {
    if let Some(created) = create_unless_present(client, spec).await? {
        return Ok(created);
    }
    Ok(version(client, &spec.namespace, &spec.name)
        .await?
        // Deleted between the refused create and the read: the next pass creates it.
        .unwrap_or_default())
}

/// The resourceVersion of a Secret, `None` when there is none of that name.
pub async fn version(
    client: &Client,
    namespace: &str,
    name: &str,
) -> Result<Option<String>, SecretError> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    match api.get_metadata_opt(name).await {
        Ok(found) => Ok(found.and_then(|s| s.metadata.resource_version)),
        Err(source) => Err(SecretError::Get {
            namespace: namespace.to_string(),
            name: name.to_string(),
            source,
        }),
    }
}

/// Creates the Secret; `Ok(Some(resourceVersion))` when created, `Ok(None)` when one of
/// that name exists.
async fn create_unless_present(
    client: &Client,
    spec: &SecretSpec,
) -> Result<Option<String>, SecretError> {
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
        Ok(created) => Ok(Some(created.metadata.resource_version.unwrap_or_default())),
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(None),
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
