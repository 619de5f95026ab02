//! Children: server-side apply of every child the planner rendered, then pruning of the
//! product's children it no longer renders (and, in direct topic mode, of a removed stream
//! output topic).

use crate::context::{event, key, lock, Context};
use crate::error::ReconcileError;
use crate::status::ChildrenReport;
use kube::runtime::events::EventType;
use kube::ResourceExt;
use meshplane_api::DataProduct;
use meshplane_effects::apply::{apply_all, delete_child, list_children};
use meshplane_effects::strimzi::remove_topic;
use meshplane_planner::prune::{orphans, targets, Orphan};
use meshplane_planner::{labels, DesiredState, TopicMode};

/// Applies the desired children and deletes the orphans.
pub async fn children(
    ctx: &Context,
    product: &DataProduct,
    desired: &DesiredState,
) -> Result<ChildrenReport, ReconcileError> {
    let manifests = desired.children.manifests();
    let applied = apply_all(&ctx.client, meshplane_effects::FIELD_MANAGER, &manifests).await?;
    {
        let mut written = lock(&ctx.written);
        for (id, version) in &applied {
            written.insert(id.clone(), version.clone());
        }
    }
    let mut pruned = prune(ctx, product, desired).await?;
    pruned.extend(prune_stream_topic(ctx, product, desired).await?);
    if !pruned.is_empty() {
        tracing::info!(product = %key(product), ?pruned, "orphaned children deleted");
        let note = format!("deleted children no longer needed: {}", pruned.join(", "));
        event(
            ctx,
            product,
            EventType::Normal,
            "OrphansDeleted",
            "Prune",
            note,
        )
        .await;
    }
    Ok(ChildrenReport {
        applied: applied.len(),
        pruned,
    })
}

async fn prune(
    ctx: &Context,
    product: &DataProduct,
    desired: &DesiredState,
) -> Result<Vec<String>, ReconcileError> {
    use futures::{StreamExt, TryStreamExt};
    let selector = labels::children_selector(product);
    let wanted = desired.children.ids();
    let found: Vec<Vec<_>> = futures::stream::iter(targets(product, &ctx.settings))
        .map(|target| {
            let selector = selector.clone();
            async move { list_children(&ctx.client, &target, &selector).await }
        })
        .buffer_unordered(4)
        .try_collect()
        .await?;
    let found: Vec<_> = found.into_iter().flatten().collect();
    let mut pruned = Vec::new();
    for orphan in orphans(product, &found, &wanted) {
        let id = match orphan {
            Orphan::Delete(id) => {
                delete_child(&ctx.client, &id).await?;
                id
            }
            Orphan::ReleaseTopic(id) => {
                remove_topic(&ctx.client, &id.namespace, &id.name, true).await?;
                id
            }
        };
        lock(&ctx.written).remove(&id);
        pruned.push(format!("{} {}/{}", id.kind, id.namespace, id.name));
    }
    Ok(pruned)
}

/// In direct mode the stream output topic is created through the Kafka admin API: when
/// the port is removed (or renamed), the topic the status last named is deleted. Source
/// topics are never deleted here: other applications write them.
async fn prune_stream_topic(
    ctx: &Context,
    product: &DataProduct,
    desired: &DesiredState,
) -> Result<Option<String>, ReconcileError> {
    if ctx.settings.topic_mode != TopicMode::Direct {
        return Ok(None);
    }
    let previous = product
        .status
        .as_ref()
        .and_then(|s| s.endpoints.as_ref())
        .and_then(|e| e.stream_topic.clone());
    let Some(previous) = previous else {
        return Ok(None);
    };
    if desired.topics.iter().any(|t| t.name == previous) {
        return Ok(None);
    }
    let admin = ctx.kafka.as_ref().ok_or(ReconcileError::NoKafkaAdmin)?;
    admin.delete_topic(&previous).await?;
    tracing::info!(product = %product.name_any(), topic = %previous, "stream output topic removed");
    Ok(Some(format!("topic {previous}")))
}
