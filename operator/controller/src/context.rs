//! What a reconcile needs: clients, the engine, settings, metrics, and the little state
//! kept between reconciles (failures for backoff, last full passes, changed children).

use crate::error::ReconcileError;
use crate::secrets::Credentials;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::reflector::ObjectRef;
use kube::{Client, Resource, ResourceExt};
use meshplane_api::{DataProduct, DataProductStatus};
use meshplane_effects::kafka::KafkaAdmin;
use meshplane_governance::SharedEngine;
use meshplane_planner::{ChildId, PlatformSettings};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

/// Locks a mutex, recovering the data if a holder panicked.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// What a reconcile needs.
pub struct Context {
    /// Kubernetes client.
    pub client: Client,
    /// The governance engine in force.
    pub engine: Arc<SharedEngine>,
    /// Platform settings for the planner.
    pub settings: PlatformSettings,
    /// Object store client.
    pub s3: aws_sdk_s3::Client,
    /// Kafka admin client, in direct topic mode.
    pub kafka: Option<KafkaAdmin>,
    /// Key pairs handed to workers and readers.
    pub credentials: Credentials,
    /// The Iceberg catalog products' tables are created in; `None`: not configured (no
    /// tables are created and the status says so).
    pub tables: Option<TableCatalog>,
    /// The platform's Prometheus, read for the products' completeness; `None`: not
    /// configured (completeness is not measured and the status says so).
    pub prometheus: Option<meshplane_effects::prometheus::Prometheus>,
    /// Issues per-grant object-store keys; `None`: not configured (grants give the
    /// location only, and their status says so).
    pub identity: Option<Arc<dyn meshplane_effects::identity::ObjectStoreIdentity>>,
    /// Reconciles running at once.
    pub concurrency: u16,
    /// Prometheus metrics.
    pub metrics: crate::metrics::Metrics,
    /// Publishes Kubernetes Events on products.
    pub(crate) recorder: Recorder,
    /// Consecutive failures per product, for exponential backoff and bounded clean-up.
    pub(crate) failures: Mutex<HashMap<ObjectRef<DataProduct>, u32>>,
    /// Failed clean-up attempts per product being deleted.
    pub(crate) cleanup_attempts: Mutex<HashMap<ObjectRef<DataProduct>, u32>>,
    /// Fingerprint and time of each product's last complete provisioning pass.
    pub(crate) provisioned: Mutex<HashMap<ObjectRef<DataProduct>, (u64, std::time::Instant)>>,
    /// resourceVersion of each Secret the workers read, by (namespace, name): kept by the
    /// watch of those Secrets and by the passes that create them, and pinned on the worker
    /// pod template so that a rotated Secret rolls the workers.
    pub(crate) secret_versions: Mutex<HashMap<(String, String), String>>,
    /// When each product's own worker keys were last seen to exist (their Secret): looked
    /// at again on a refresh after [`crate::secrets::WORKER_KEYS_CHECK`], so deleting the
    /// Secret rotates the keys within that time.
    pub(crate) worker_keys_checked: Mutex<HashMap<ObjectRef<DataProduct>, std::time::Instant>>,
    /// The worker keys this controller issued last, per product: fresher than the status
    /// of the cached object a reconcile gets (which may predate the write that recorded
    /// them), so a pass right after a rotation does not pin the old key id again.
    pub(crate) worker_keys_issued:
        Mutex<HashMap<ObjectRef<DataProduct>, meshplane_api::WorkerCredentials>>,
    /// Products one of whose children changed (edited or deleted by someone else): their
    /// next reconcile is a full pass, never the refresh shortcut.
    pub(crate) children_changed: Mutex<HashSet<ObjectRef<DataProduct>>>,
    /// Each product's last completeness measurement, reused until the next evaluation time.
    pub(crate) measured_completeness:
        Mutex<HashMap<ObjectRef<DataProduct>, crate::completeness::Measurement>>,
    /// resourceVersion of each child as this controller last wrote it, so the watch of
    /// children can tell its own writes from others'.
    pub(crate) written: Mutex<HashMap<ChildId, String>>,
}

impl Context {
    /// A context with no failures recorded.
    pub fn new(
        client: Client,
        engine: Arc<SharedEngine>,
        settings: PlatformSettings,
        s3: aws_sdk_s3::Client,
        kafka: Option<KafkaAdmin>,
        credentials: Credentials,
    ) -> Self {
        let reporter = Reporter {
            controller: "meshplane-controller".into(),
            instance: std::env::var("POD_NAME").ok(),
        };
        let recorder = Recorder::new(client.clone(), reporter);
        Context {
            client,
            engine,
            settings,
            s3,
            kafka,
            credentials,
            tables: None,
            prometheus: None,
            identity: None,
            concurrency: 16,
            recorder,
            metrics: crate::metrics::Metrics::default(),
            failures: Mutex::default(),
            cleanup_attempts: Mutex::default(),
            provisioned: Mutex::default(),
            secret_versions: Mutex::default(),
            worker_keys_checked: Mutex::default(),
            worker_keys_issued: Mutex::default(),
            children_changed: Mutex::default(),
            measured_completeness: Mutex::default(),
            written: Mutex::default(),
        }
    }
}

/// The platform's Iceberg catalog as the controller uses it.
#[derive(Clone)]
pub struct TableCatalog {
    /// Connected catalog.
    pub catalog: Arc<dyn iceberg::Catalog>,
    /// Its name as engines know it.
    pub name: String,
}

impl Context {
    /// The same context creating tables in `tables`.
    pub fn with_tables(mut self, tables: TableCatalog) -> Self {
        self.tables = Some(tables);
        self
    }

    /// The same context issuing grants' object-store keys through `identity`.
    pub fn with_identity(
        mut self,
        identity: Arc<dyn meshplane_effects::identity::ObjectStoreIdentity>,
    ) -> Self {
        self.identity = Some(identity);
        self
    }

    /// The same context measuring completeness from `prometheus`.
    pub fn with_prometheus(
        mut self,
        prometheus: meshplane_effects::prometheus::Prometheus,
    ) -> Self {
        self.prometheus = Some(prometheus);
        self
    }

    /// Notes that a child of `product` was changed by someone else.
    pub(crate) fn mark_children_changed(&self, product: ObjectRef<DataProduct>) {
        lock(&self.children_changed).insert(product);
    }

    /// Takes the note that a child of `product` changed.
    pub(crate) fn take_children_changed(&self, product: &DataProduct) -> bool {
        lock(&self.children_changed).remove(&ObjectRef::from_obj(product))
    }
}

/// Records an Event on the product; a failure to record is logged, never fatal.
pub(crate) async fn event(
    ctx: &Context,
    product: &DataProduct,
    type_: EventType,
    reason: &str,
    action: &str,
    note: String,
) {
    let event = Event {
        type_,
        reason: reason.into(),
        note: Some(note),
        action: action.into(),
        secondary: None,
    };
    if let Err(e) = ctx.recorder.publish(&event, &product.object_ref(&())).await {
        tracing::warn!(product = %key(product), error = %e, "failed to record an event");
    }
}

pub(crate) fn key(product: &DataProduct) -> String {
    format!(
        "{}/{}",
        product.namespace().unwrap_or_default(),
        product.name_any()
    )
}

/// Writes the status when it differs from the stored one (so writes never re-trigger).
pub(crate) async fn write_status(
    ctx: &Context,
    product: &DataProduct,
    status: DataProductStatus,
) -> Result<(), ReconcileError> {
    if product.status.as_ref() == Some(&status) {
        return Ok(());
    }
    let api: Api<DataProduct> =
        Api::namespaced(ctx.client.clone(), &product.namespace().unwrap_or_default());
    let previous = serde_json::to_value(&product.status).unwrap_or_default();
    let next = serde_json::to_value(&status).unwrap_or_default();
    api.patch_status(
        &product.name_any(),
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({ "status": merge_patch(&previous, &next) })),
    )
    .await
    .map_err(|source| ReconcileError::Status {
        product: key(product),
        source,
    })?;
    Ok(())
}

/// A JSON merge patch from `previous` to `next`: fields `next` no longer has are set to
/// null (a plain merge of `next` would leave them, e.g. a removed stream topic or cleared
/// violations); objects are patched field by field, everything else replaced.
pub(crate) fn merge_patch(
    previous: &serde_json::Value,
    next: &serde_json::Value,
) -> serde_json::Value {
    use serde_json::Value;
    match (previous, next) {
        (Value::Object(old), Value::Object(new)) => {
            let mut patch = serde_json::Map::new();
            for (key, value) in new {
                let entry = match old.get(key) {
                    Some(before) => merge_patch(before, value),
                    None => value.clone(),
                };
                patch.insert(key.clone(), entry);
            }
            for key in old.keys().filter(|k| !new.contains_key(*k)) {
                patch.insert(key.clone(), Value::Null);
            }
            Value::Object(patch)
        }
        _ => next.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::merge_patch;
    use serde_json::json;

    #[test]
    fn fields_that_are_gone_are_nulled_and_the_rest_is_kept() {
        let previous = json!({"endpoints": {"bucket": "b", "streamTopic": "t"}, "violations": ["x"], "source": "s"});
        let next = json!({"endpoints": {"bucket": "b"}, "source": "s"});
        assert_eq!(
            merge_patch(&previous, &next),
            json!({"endpoints": {"bucket": "b", "streamTopic": null}, "violations": null, "source": "s"})
        );
        assert_eq!(merge_patch(&serde_json::Value::Null, &next), next);
    }
}
