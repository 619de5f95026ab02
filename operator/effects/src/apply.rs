//! Server-side apply of the planner's manifests, one field manager for all of them, and
//! the listing and deletion of a product's children that pruning needs. Kinds come from
//! the planner's one table ([`meshplane_planner::CHILD_KINDS`]): no discovery round trips.

use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::Client;
use meshplane_planner::prune::{FoundChild, PruneTarget};
use meshplane_planner::{child_kind, ChildId, ChildKind, CHILD_KINDS};
use thiserror::Error;

/// Applying, listing or deleting a child failed.
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
    /// Listing a kind to find orphans failed.
    #[error("failed to list {plural} in {namespace} to find orphans: {source}")]
    List {
        /// Plural resource name.
        plural: &'static str,
        /// Namespace.
        namespace: String,
        /// Cause.
        source: kube::Error,
    },
    /// Deleting an orphan failed.
    #[error("failed to delete orphaned {kind} {namespace}/{name}: {source}")]
    Delete {
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

/// The API resource of a kind in the table.
pub fn api_resource(kind: &ChildKind) -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(kind.group, kind.version, kind.kind),
        kind.plural,
    )
}

/// Applies each manifest with server-side apply (forcing ownership of the fields it sets).
/// Manifests are independent of one another, so a few go at once. Returns each applied
/// child with the resourceVersion the API server gave it.
pub async fn apply_all(
    client: &Client,
    field_manager: &str,
    manifests: &[serde_json::Value],
) -> Result<Vec<(ChildId, String)>, ApplyError> {
    use futures::{StreamExt, TryStreamExt};
    let params = PatchParams::apply(field_manager).force();
    let applies: Vec<_> = manifests
        .iter()
        .enumerate()
        .map(|(index, manifest)| apply_one(client.clone(), params.clone(), index, manifest.clone()))
        .collect();
    futures::stream::iter(applies)
        .buffer_unordered(APPLY_PARALLELISM)
        .try_collect()
        .await
}

/// Manifests of one product applied at once.
const APPLY_PARALLELISM: usize = 4;

async fn apply_one(
    client: Client,
    params: PatchParams,
    index: usize,
    manifest: serde_json::Value,
) -> Result<(ChildId, String), ApplyError> {
    let id = ChildId::of(&manifest);
    let object: DynamicObject = serde_json::from_value(manifest)
        .map_err(|source| ApplyError::Malformed { index, source })?;
    let types = object.types.clone().unwrap_or_default();
    let kind_name = format!("{}/{}", types.api_version, types.kind);
    let kind = child_kind(&types.api_version, &types.kind).ok_or(ApplyError::UnknownKind {
        kind: kind_name.clone(),
    })?;
    let api: Api<DynamicObject> = Api::namespaced_with(client, &id.namespace, &api_resource(kind));
    let applied = api
        .patch(&id.name, &params, &Patch::Apply(&object))
        .await
        .map_err(|source| ApplyError::Apply {
            kind: kind_name,
            namespace: id.namespace.clone(),
            name: id.name.clone(),
            source,
        })?;
    let version = applied.metadata.resource_version.unwrap_or_default();
    Ok((id, version))
}

/// The objects of `target`'s kind and namespace that carry `selector`'s labels.
pub async fn list_children(
    client: &Client,
    target: &PruneTarget,
    selector: &str,
) -> Result<Vec<FoundChild>, ApplyError> {
    let api: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        &target.namespace,
        &api_resource(target.kind),
    );
    let listed = match api
        .list_metadata(&ListParams::default().labels(selector))
        .await
    {
        Ok(list) => list,
        // The kind's CRD is not installed: nothing of it can exist.
        Err(kube::Error::Api(s)) if s.code == 404 => return Ok(Vec::new()),
        Err(source) => {
            return Err(ApplyError::List {
                plural: target.kind.plural,
                namespace: target.namespace.clone(),
                source,
            })
        }
    };
    Ok(listed
        .items
        .into_iter()
        .map(|o| FoundChild {
            id: ChildId {
                kind: target.kind.kind.to_string(),
                namespace: target.namespace.clone(),
                name: o.metadata.name.unwrap_or_default(),
            },
            labels: o.metadata.labels.unwrap_or_default(),
            owner_uids: o
                .metadata
                .owner_references
                .unwrap_or_default()
                .into_iter()
                .map(|r| r.uid)
                .collect(),
            deleting: o.metadata.deletion_timestamp.is_some(),
        })
        .collect())
}

/// Deletes a child (in the background: its own dependents go with it); gone already is fine.
pub async fn delete_child(client: &Client, id: &ChildId) -> Result<(), ApplyError> {
    let Some(kind) = CHILD_KINDS.iter().find(|k| k.kind == id.kind) else {
        return Err(ApplyError::UnknownKind {
            kind: id.kind.clone(),
        });
    };
    let api: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), &id.namespace, &api_resource(kind));
    match api.delete(&id.name, &DeleteParams::background()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(source) => Err(ApplyError::Delete {
            kind: id.kind.clone(),
            namespace: id.namespace.clone(),
            name: id.name.clone(),
            source,
        }),
    }
}
