//! The Kubernetes side of an access grant: the Role and RoleBinding applied, the Secret
//! created once (and again after someone deletes it, which rotates its keys), and all
//! three deleted on revocation.

use crate::FIELD_MANAGER;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::Client;
use std::collections::BTreeMap;
use thiserror::Error;

/// A grant object could not be written.
#[derive(Debug, Error)]
pub enum GrantError {
    /// Applying the Role or RoleBinding failed.
    #[error("failed to apply {kind} {namespace}/{name}: {source}")]
    Apply {
        /// `Role` or `RoleBinding`.
        kind: &'static str,
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
        /// Cause.
        source: Box<kube::Error>,
    },
    /// Creating (or checking for) the Secret failed.
    #[error("failed to create Secret {namespace}/{name}: {source}")]
    Secret {
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
        /// Cause.
        source: Box<kube::Error>,
    },
    /// Deleting a grant object failed.
    #[error("failed to delete {kind} {namespace}/{name}: {source}")]
    Delete {
        /// Kind.
        kind: &'static str,
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
        /// Cause.
        source: Box<kube::Error>,
    },
}

/// Applies the grant's Role and RoleBinding (server-side apply).
pub async fn apply_access(
    client: &Client,
    role: &Role,
    binding: &RoleBinding,
) -> Result<(), GrantError> {
    let namespace = role.metadata.namespace.clone().unwrap_or_default();
    let name = role.metadata.name.clone().unwrap_or_default();
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let error = |kind, source| GrantError::Apply {
        kind,
        namespace: namespace.clone(),
        name: name.clone(),
        source: Box::new(source),
    };
    let roles: Api<Role> = Api::namespaced(client.clone(), &namespace);
    roles
        .patch(&name, &params, &Patch::Apply(with_type(role, "Role")))
        .await
        .map_err(|e| error("Role", e))?;
    let bindings: Api<RoleBinding> = Api::namespaced(client.clone(), &namespace);
    bindings
        .patch(
            &name,
            &params,
            &Patch::Apply(with_type(binding, "RoleBinding")),
        )
        .await
        .map_err(|e| error("RoleBinding", e))?;
    Ok(())
}

fn with_type<T: k8s_openapi::serde::Serialize>(object: &T, kind: &str) -> serde_json::Value {
    let mut value = serde_json::to_value(object).unwrap_or_default();
    value["apiVersion"] = "rbac.authorization.k8s.io/v1".into();
    value["kind"] = kind.into();
    value
}

fn secret(metadata: &ObjectMeta, data: BTreeMap<String, String>) -> Secret {
    Secret {
        metadata: metadata.clone(),
        string_data: Some(data),
        type_: Some("Opaque".into()),
        ..Secret::default()
    }
}

/// Whether the grant's Secret is missing. Asked with a dry-run create, so the controller
/// needs no right to read Secrets.
pub async fn secret_missing(client: &Client, metadata: &ObjectMeta) -> Result<bool, GrantError> {
    let namespace = metadata.namespace.clone().unwrap_or_default();
    let api: Api<Secret> = Api::namespaced(client.clone(), &namespace);
    let params = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    match api
        .create(&params, &secret(metadata, BTreeMap::new()))
        .await
    {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
        Err(source) => Err(GrantError::Secret {
            namespace,
            name: metadata.name.clone().unwrap_or_default(),
            source: Box::new(source),
        }),
    }
}

/// Creates the grant's Secret; one already there is left as it is.
pub async fn create_secret(
    client: &Client,
    metadata: &ObjectMeta,
    data: BTreeMap<String, String>,
) -> Result<(), GrantError> {
    let namespace = metadata.namespace.clone().unwrap_or_default();
    let api: Api<Secret> = Api::namespaced(client.clone(), &namespace);
    match api
        .create(&PostParams::default(), &secret(metadata, data))
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(()),
        Err(source) => Err(GrantError::Secret {
            namespace,
            name: metadata.name.clone().unwrap_or_default(),
            source: Box::new(source),
        }),
    }
}

/// Deletes the grant's Secret, RoleBinding and Role; missing ones are fine.
pub async fn delete_grant(client: &Client, namespace: &str, name: &str) -> Result<(), GrantError> {
    let params = DeleteParams::background();
    let gone = |kind: &'static str, result: Result<(), kube::Error>| match result {
        Ok(()) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
        Err(source) => Err(GrantError::Delete {
            kind,
            namespace: namespace.to_string(),
            name: name.to_string(),
            source: Box::new(source),
        }),
    };
    let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
    gone("Secret", secrets.delete(name, &params).await.map(|_| ()))?;
    let bindings: Api<RoleBinding> = Api::namespaced(client.clone(), namespace);
    gone(
        "RoleBinding",
        bindings.delete(name, &params).await.map(|_| ()),
    )?;
    let roles: Api<Role> = Api::namespaced(client.clone(), namespace);
    gone("Role", roles.delete(name, &params).await.map(|_| ()))?;
    Ok(())
}
