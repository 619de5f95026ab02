//! Server-side apply of the planner's manifests, one field manager for all of them.

use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::Client;
use thiserror::Error;

/// Applying a manifest failed.
#[derive(Debug, Error)]
pub enum ApplyError {
    /// The manifest's kind is not one the planner produces.
    #[error("cannot apply {kind}: not a kind Meshplane provisions")]
    UnknownKind {
        /// `apiVersion/kind`.
        kind: String,
    },
    /// The manifest is not a Kubernetes object.
    #[error("manifest {index} is not a Kubernetes object: {source}")]
    Malformed {
        /// Position in the list.
        index: usize,
        /// Cause.
        source: serde_json::Error,
    },
    /// The API server refused it.
    #[error("failed to apply {kind} {namespace}/{name}: {source}")]
    Apply {
        /// Kind.
        kind: String,
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
        /// Cause.
        source: kube::Error,
    },
}

/// Plural resource names of every kind the planner renders (no discovery round trips).
fn plural(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "ConfigMap" => "configmaps",
        "ServiceAccount" => "serviceaccounts",
        "Service" => "services",
        "Role" => "roles",
        "RoleBinding" => "rolebindings",
        "Deployment" => "deployments",
        "CronJob" => "cronjobs",
        "ServiceMonitor" => "servicemonitors",
        "PrometheusRule" => "prometheusrules",
        "KafkaTopic" => "kafkatopics",
        "KafkaConnector" => "kafkaconnectors",
        _ => return None,
    })
}

/// Applies each manifest with server-side apply (forcing ownership of the fields it sets).
/// Manifests are independent of one another, so a few go at once.
pub async fn apply_all(
    client: &Client,
    field_manager: &str,
    manifests: &[serde_json::Value],
) -> Result<(), ApplyError> {
    use futures::{StreamExt, TryStreamExt};
    let params = PatchParams::apply(field_manager).force();
    let applies: Vec<_> = manifests
        .iter()
        .enumerate()
        .map(|(index, manifest)| apply_one(client.clone(), params.clone(), index, manifest.clone()))
        .collect();
    futures::stream::iter(applies)
        .buffer_unordered(APPLY_PARALLELISM)
        .try_collect::<()>()
        .await
}

/// Manifests of one product applied at once.
const APPLY_PARALLELISM: usize = 4;

async fn apply_one(
    client: Client,
    params: PatchParams,
    index: usize,
    manifest: serde_json::Value,
) -> Result<(), ApplyError> {
    let object: DynamicObject = serde_json::from_value(manifest)
        .map_err(|source| ApplyError::Malformed { index, source })?;
    let types = object.types.clone().unwrap_or_default();
    let (group, version) = match types.api_version.split_once('/') {
        Some((g, v)) => (g.to_string(), v.to_string()),
        None => (String::new(), types.api_version.clone()),
    };
    let kind_name = format!("{}/{}", types.api_version, types.kind);
    let plural = plural(&types.kind).ok_or(ApplyError::UnknownKind {
        kind: kind_name.clone(),
    })?;
    let resource = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(&group, &version, &types.kind),
        plural,
    );
    let namespace = object.metadata.namespace.clone().unwrap_or_default();
    let name = object.metadata.name.clone().unwrap_or_default();
    let api: Api<DynamicObject> = Api::namespaced_with(client, &namespace, &resource);
    api.patch(&name, &params, &Patch::Apply(&object))
        .await
        .map_err(|source| ApplyError::Apply {
            kind: kind_name,
            namespace,
            name,
            source,
        })?;
    Ok(())
}
