//! What makes a product reconcile: a change of the product, a policy change (every
//! product), a change of one of its children by someone else, a change of one of its
//! worker pods, and a change of a Secret its workers read. A child's change is told apart from the controller's own writes and from
//! status-only updates, so that a deleted or hand-edited child gets a full pass within
//! seconds instead of at the next resync, while a worker Deployment's status, like any
//! change of a worker pod, only refreshes `IngestionReady` (and with it `Ready`).

use crate::context::{lock, Context};
use crate::reconcile::{error_policy, reconcile};
use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::{Pod, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, DynamicObject, PartialObjectMeta};
use kube::runtime::controller::Controller;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::{watcher, WatchStreamExt};
use meshplane_api::DataProduct;
use meshplane_effects::apply::api_resource;
use meshplane_planner::labels::{MANAGED_BY, PRODUCT_LABEL, PRODUCT_NAMESPACE_LABEL};
use meshplane_planner::workload::worker_secrets;
use meshplane_planner::{ChildId, ChildKind, CHILD_KINDS};
use std::collections::HashMap;
use std::sync::Arc;

/// The product an object belongs to: its controller owner, or its product labels (children
/// in another namespace cannot have an owner reference, and worker pods are owned by
/// their ReplicaSet).
fn owner_of(metadata: &ObjectMeta) -> Option<ObjectRef<DataProduct>> {
    let namespace = metadata.namespace.clone().unwrap_or_default();
    let owned = metadata
        .owner_references
        .iter()
        .flatten()
        .find(|o| o.kind == "DataProduct" && o.controller == Some(true));
    if let Some(owner) = owned {
        return Some(ObjectRef::new(&owner.name).within(&namespace));
    }
    let labels = metadata.labels.as_ref()?;
    let name = labels.get(PRODUCT_LABEL)?;
    let product_namespace = labels.get(PRODUCT_NAMESPACE_LABEL)?;
    Some(ObjectRef::new(name).within(product_namespace))
}

/// What of a child counts as its shape, for telling a status update from a change.
fn shape(kind: &ChildKind, child: &DynamicObject) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    child.metadata.labels.hash(&mut hasher);
    child.metadata.annotations.hash(&mut hasher);
    if kind.has_status {
        child.metadata.generation.hash(&mut hasher);
    } else {
        // Objects without a status change only when someone changes them.
        child.metadata.resource_version.hash(&mut hasher);
    }
    hasher.finish()
}

/// A stream of products to reconcile because one of their children was touched; marks
/// the product for a full pass when the child was changed by someone else.
fn child_triggers(
    ctx: Arc<Context>,
    kind: &'static ChildKind,
) -> impl Stream<Item = Result<ObjectRef<DataProduct>, watcher::Error>> + Send {
    let api: Api<DynamicObject> = Api::all_with(ctx.client.clone(), &api_resource(kind));
    let config =
        watcher::Config::default().labels(&format!("app.kubernetes.io/managed-by={MANAGED_BY}"));
    let mut shapes: HashMap<ChildId, u64> = HashMap::new();
    watcher(api, config)
        .default_backoff()
        .filter_map(move |event| {
            let found = match event {
                Err(e) => Some(Err(e)),
                Ok(watcher::Event::Apply(child) | watcher::Event::InitApply(child)) => {
                    let id = child_id(kind, &child);
                    let shape = shape(kind, &child);
                    let ours = child.metadata.resource_version.is_some()
                        && lock(&ctx.written).get(&id) == child.metadata.resource_version.as_ref();
                    let changed = shapes.insert(id, shape) != Some(shape);
                    owner_of(&child.metadata).map(|product| {
                        if changed && !ours {
                            ctx.mark_children_changed(product.clone());
                        }
                        Ok(product)
                    })
                }
                Ok(watcher::Event::Delete(child)) => {
                    let id = child_id(kind, &child);
                    shapes.remove(&id);
                    lock(&ctx.written).remove(&id);
                    owner_of(&child.metadata).map(|product| {
                        ctx.mark_children_changed(product.clone());
                        Ok(product)
                    })
                }
                Ok(watcher::Event::Init | watcher::Event::InitDone) => None,
            };
            futures::future::ready(found)
        })
}

/// A stream of products to reconcile because one of their worker pods changed (created,
/// started, crashed, deleted). Pods are not children (the Deployment's ReplicaSet makes
/// them), so nothing is marked changed: the reconcile is the cheap refresh of the
/// workload.
fn pod_triggers(
    ctx: &Context,
) -> impl Stream<Item = Result<ObjectRef<DataProduct>, watcher::Error>> + Send {
    // Metadata only: the labels name the product, and a pod's status is read when the
    // refresh lists the pods.
    let api: Api<PartialObjectMeta<Pod>> = Api::all(ctx.client.clone());
    let config =
        watcher::Config::default().labels(&format!("app.kubernetes.io/managed-by={MANAGED_BY}"));
    watcher(api, config).default_backoff().filter_map(|event| {
        futures::future::ready(match event {
            Err(e) => Some(Err(e)),
            Ok(
                watcher::Event::Apply(pod)
                | watcher::Event::InitApply(pod)
                | watcher::Event::Delete(pod),
            ) => owner_of(&pod.metadata).map(Ok),
            Ok(watcher::Event::Init | watcher::Event::InitDone) => None,
        })
    })
}

/// A stream of products to reconcile in full because a Secret their workers read was
/// changed or deleted: the pass reads its new version (recreating a deleted one it
/// manages) and pins it on the pod template, which rolls the workers. Metadata only, and
/// one watch per Secret name (`fieldSelector=metadata.name=…`), so the controller's RBAC
/// can name the Secrets it may watch.
fn secret_triggers(
    ctx: Arc<Context>,
    products: Store<DataProduct>,
) -> impl Stream<Item = Result<ObjectRef<DataProduct>, watcher::Error>> + Send {
    let watches = worker_secrets(&ctx.settings).into_iter().map(|name| {
        let api: Api<PartialObjectMeta<Secret>> = Api::all(ctx.client.clone());
        let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
        watcher(api, config).default_backoff().boxed()
    });
    futures::stream::select_all(watches).flat_map(move |event| {
        let changed_in = match event {
            Err(e) => return futures::stream::iter(vec![Err(e)]),
            Ok(watcher::Event::Apply(secret)) => {
                let (id, version) = secret_id(&secret.metadata);
                let before = lock(&ctx.secret_versions).insert(id.clone(), version.clone());
                // A first sight is not a change: the Secret was just created (by a pass
                // that knows its version) or existed before this controller started.
                before.is_some_and(|b| b != version).then_some(id.0)
            }
            Ok(watcher::Event::InitApply(secret)) => {
                let (id, version) = secret_id(&secret.metadata);
                let before = lock(&ctx.secret_versions).insert(id.clone(), version.clone());
                before.is_some_and(|b| b != version).then_some(id.0)
            }
            Ok(watcher::Event::Delete(secret)) => {
                let (id, _) = secret_id(&secret.metadata);
                lock(&ctx.secret_versions).remove(&id);
                Some(id.0)
            }
            Ok(watcher::Event::Init | watcher::Event::InitDone) => None,
        };
        let affected: Vec<_> = changed_in
            .map(|namespace| {
                products
                    .state()
                    .iter()
                    .filter(|p| p.metadata.namespace.as_deref() == Some(namespace.as_str()))
                    .map(|p| {
                        let product = ObjectRef::from_obj(&**p);
                        ctx.mark_children_changed(product.clone());
                        Ok(product)
                    })
                    .collect()
            })
            .unwrap_or_default();
        futures::stream::iter(affected)
    })
}

/// (namespace, name) and resourceVersion of a Secret.
fn secret_id(metadata: &ObjectMeta) -> ((String, String), String) {
    (
        (
            metadata.namespace.clone().unwrap_or_default(),
            metadata.name.clone().unwrap_or_default(),
        ),
        metadata.resource_version.clone().unwrap_or_default(),
    )
}

fn child_id(kind: &ChildKind, child: &DynamicObject) -> ChildId {
    ChildId {
        kind: kind.kind.to_string(),
        namespace: child.metadata.namespace.clone().unwrap_or_default(),
        name: child.metadata.name.clone().unwrap_or_default(),
    }
}

/// Runs the DataProduct controller until shutdown. `policy_generation` ticks whenever
/// the engine is rebuilt; every product is then re-evaluated.
pub async fn run(
    ctx: Arc<Context>,
    policy_generation: tokio::sync::watch::Receiver<u64>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let products: Api<DataProduct> = Api::all(ctx.client.clone());
    let config = kube::runtime::controller::Config::default().concurrency(ctx.concurrency);
    let controller = Controller::new(products, watcher::Config::default()).with_config(config);
    let policy_changes = futures::stream::unfold(policy_generation, |mut rx| async move {
        rx.changed().await.ok()?;
        Some(((), rx))
    });
    let children = futures::stream::select_all(
        CHILD_KINDS
            .iter()
            .map(|kind| child_triggers(ctx.clone(), kind).boxed())
            .chain(std::iter::once(pod_triggers(&ctx).boxed()))
            .chain(std::iter::once(
                secret_triggers(ctx.clone(), controller.store()).boxed(),
            )),
    );
    controller
        .reconcile_on(children.filter_map(|r| {
            futures::future::ready(match r {
                Ok(product) => Some(product),
                Err(e) => {
                    tracing::debug!(error = %e, "watching children or worker pods failed; retrying");
                    None
                }
            })
        }))
        .reconcile_all_on(policy_changes)
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            match result {
                Ok((object, _)) => tracing::debug!(product = %object, "reconciled"),
                Err(e) => tracing::debug!(error = %e, "reconcile error"),
            }
        })
        .await;
}
