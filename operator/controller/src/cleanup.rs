//! Deletion: the finalizer that guards what lives outside the cluster (bucket, topics,
//! KafkaTopics in another namespace). `Retain` keeps the data and hands the topics over;
//! `Delete` removes them. After a bounded number of failed attempts the finalizer is
//! released anyway with a Warning event naming what was left behind, so a product is
//! never stuck because its external system is gone.

use crate::conditions::{set, ConditionType};
use crate::context::{event, key, write_status, Context};
use crate::error::ReconcileError;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::events::EventType;
use kube::runtime::reflector::ObjectRef;
use kube::ResourceExt;
use meshplane_api::{DataProduct, DeletionPolicy};
use meshplane_effects::s3::delete_bucket;
use meshplane_effects::strimzi::remove_topic;
use meshplane_planner::{external, names, TopicMode};

/// The finalizer Meshplane puts on every product it provisions.
pub const FINALIZER: &str = "meshplane.dev/cleanup";
/// Failed clean-up attempts before the finalizer is released regardless.
pub const MAX_CLEANUP_ATTEMPTS: u32 = 5;

/// Adds the finalizer (compare-and-swap on resourceVersion) unless present.
pub async fn ensure_finalizer(ctx: &Context, product: &DataProduct) -> Result<(), ReconcileError> {
    if product.finalizers().iter().any(|f| f == FINALIZER) {
        return Ok(());
    }
    let mut finalizers = product.finalizers().to_vec();
    finalizers.push(FINALIZER.to_string());
    patch_finalizers(ctx, product, finalizers).await
}

async fn patch_finalizers(
    ctx: &Context,
    product: &DataProduct,
    finalizers: Vec<String>,
) -> Result<(), ReconcileError> {
    let api: Api<DataProduct> =
        Api::namespaced(ctx.client.clone(), &product.namespace().unwrap_or_default());
    let patch = serde_json::json!({
        "metadata": {
            "finalizers": finalizers,
            "resourceVersion": product.resource_version(),
        }
    });
    match api
        .patch(
            &product.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
    {
        Ok(_) => Ok(()),
        // Already gone: nothing left to guard.
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(source) => Err(ReconcileError::Finalizer {
            product: key(product),
            source,
        }),
    }
}

/// What the clean-up removes or keeps, for messages.
fn describe(product: &DataProduct, ctx: &Context) -> (String, Vec<String>) {
    let namespace = product.namespace().unwrap_or_default();
    let bucket = names::bucket(&ctx.settings.bucket_prefix, &namespace, &product.name_any());
    let topics = external::topics(product, &ctx.settings)
        .map(|t| t.into_iter().map(|t| t.name).collect())
        .unwrap_or_default();
    (bucket, topics)
}

async fn remove_external(ctx: &Context, product: &DataProduct) -> Result<(), ReconcileError> {
    // The workers' own keys go whatever the deletion policy: retained data keeps no writer.
    if ctx.settings.worker_keys_per_product {
        let identity = ctx
            .identity
            .as_ref()
            .ok_or(ReconcileError::NoIdentityProvider)?;
        let user = names::worker_user(product.metadata.uid.as_deref().unwrap_or_default());
        identity
            .revoke(&user)
            .await
            .map_err(|source| ReconcileError::RevokeWorkerKeys {
                product: key(product),
                user,
                source,
            })?;
    }
    let delete = product.spec.deletion_policy == DeletionPolicy::Delete;
    let (bucket, topics) = describe(product, ctx);
    match &ctx.settings.topic_mode {
        TopicMode::Strimzi { namespace, .. } => {
            let namespace = namespace
                .clone()
                .unwrap_or_else(|| product.namespace().unwrap_or_default());
            // Same-namespace KafkaTopics are owned and would be garbage-collected, which
            // deletes the topic: mark them unmanaged first when the data is retained.
            for topic in &topics {
                let resource = names::kafka_topic_resource(topic);
                remove_topic(&ctx.client, &namespace, &resource, !delete).await?;
            }
        }
        TopicMode::Direct if delete => {
            let admin = ctx.kafka.as_ref().ok_or(ReconcileError::NoKafkaAdmin)?;
            for topic in &topics {
                admin.delete_topic(topic).await?;
            }
        }
        TopicMode::Direct => {}
    }
    if delete {
        delete_bucket(&ctx.s3, &bucket).await?;
    }
    Ok(())
}

/// Cleans up a product being deleted, then releases the finalizer.
pub async fn clean_up(ctx: &Context, product: &DataProduct) -> Result<(), ReconcileError> {
    if !product.finalizers().iter().any(|f| f == FINALIZER) {
        return Ok(());
    }
    let object = ObjectRef::from_obj(product);
    let attempts = {
        let mut attempts = ctx
            .cleanup_attempts
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let count = *attempts.entry(object.clone()).or_insert(0);
        if count == 0 {
            // Provisioning failures before the deletion must not lengthen the clean-up's backoff.
            ctx.failures
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&object);
        }
        count
    };
    let (bucket, topics) = describe(product, ctx);
    let policy = product.spec.deletion_policy;
    match remove_external(ctx, product).await {
        Ok(()) => {
            let note = match policy {
                DeletionPolicy::Delete => {
                    format!("deleted bucket {bucket} and topics [{}]", topics.join(", "))
                }
                DeletionPolicy::Retain => format!(
                    "retained bucket {bucket} and topics [{}] (deletionPolicy Retain)",
                    topics.join(", ")
                ),
            };
            event(ctx, product, EventType::Normal, "CleanedUp", "Delete", note).await;
        }
        Err(error) if attempts + 1 >= MAX_CLEANUP_ATTEMPTS => {
            let note = format!(
                "gave up after {MAX_CLEANUP_ATTEMPTS} attempts; bucket {bucket} and topics [{}] may remain and need manual removal: {error}",
                topics.join(", ")
            );
            tracing::error!(product = %key(product), %note, "clean-up abandoned");
            event(
                ctx,
                product,
                EventType::Warning,
                "CleanupAbandoned",
                "Delete",
                note,
            )
            .await;
        }
        Err(error) => {
            *ctx.cleanup_attempts
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .entry(object)
                .or_insert(0) += 1;
            let mut status = product.status.clone().unwrap_or_default();
            let message = format!(
                "attempt {} of {MAX_CLEANUP_ATTEMPTS} failed: {error}",
                attempts + 1
            );
            let now = Time(Timestamp::now());
            let generation = product.metadata.generation;
            set(
                &mut status.conditions,
                ConditionType::Ready,
                false,
                "CleanupFailed",
                message.clone(),
                generation,
                &now,
            );
            set(
                &mut status.conditions,
                ConditionType::Reconciling,
                true,
                "Deleting",
                message,
                generation,
                &now,
            );
            write_status(ctx, product, status).await?;
            return Err(error);
        }
    }
    ctx.cleanup_attempts
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&object);
    ctx.provisioned
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&object);
    ctx.failures
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&object);
    let finalizers = product
        .finalizers()
        .iter()
        .filter(|f| *f != FINALIZER)
        .cloned()
        .collect();
    patch_finalizers(ctx, product, finalizers).await
}
