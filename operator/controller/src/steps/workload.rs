//! Workload: whether the product's ingestion runs, and if not, why.

use crate::context::{event, key, Context};
use crate::error::ReconcileError;
use crate::status::{worker_change, WorkerChange, WorkloadReason, WorkloadReport};
use crate::workers::diagnose;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use kube::runtime::events::EventType;
use kube::ResourceExt;
use meshplane_api::DataProduct;
use meshplane_planner::labels::worker_pods_selector;
use meshplane_planner::workload::{streams, worker_name};

/// A stream's Deployment with an available replica is up; without one, its pods say why.
/// Scheduled and derived products do not run yet. A change of `IngestionReady` is told in
/// an Event.
pub async fn workload(
    ctx: &Context,
    product: &DataProduct,
) -> Result<WorkloadReport, ReconcileError> {
    let report = observe(ctx, product).await?;
    let told = match worker_change(product.status.as_ref(), &report) {
        Some(WorkerChange::Available) => Some((EventType::Normal, "WorkerAvailable")),
        Some(WorkerChange::Down | WorkerChange::RolloutStuck) => {
            Some((EventType::Warning, report.reason.as_str()))
        }
        None => None,
    };
    if let Some((type_, reason)) = told {
        event(
            ctx,
            product,
            type_,
            reason,
            "Ingest",
            report.message.clone(),
        )
        .await;
    }
    Ok(report)
}

async fn observe(ctx: &Context, product: &DataProduct) -> Result<WorkloadReport, ReconcileError> {
    if !streams(product) {
        let what = if product.spec.source.batch.is_some() {
            "scheduled batch pulls"
        } else {
            "derived products"
        };
        return Ok(WorkloadReport {
            reason: WorkloadReason::NotYetSupported,
            message: format!(
                "{what} do not run yet: the CronJob is suspended and nothing fills the table"
            ),
        });
    }
    let namespace = product.namespace().unwrap_or_default();
    let name = worker_name(product);
    let api: Api<Deployment> = Api::namespaced(ctx.client.clone(), &namespace);
    let deployment = api
        .get_opt(&name)
        .await
        .map_err(|source| ReconcileError::Workload {
            product: key(product),
            source,
        })?;
    let status = deployment.as_ref().and_then(|d| d.status.as_ref());
    let available = status.and_then(|s| s.available_replicas).unwrap_or(0);
    // Pods of an older template still there: a rollout is under way (or stuck).
    let rolling = status.is_some_and(|s| s.replicas.unwrap_or(0) > s.updated_replicas.unwrap_or(0));
    if available > 0 && !rolling {
        return Ok(WorkloadReport {
            reason: WorkloadReason::Available,
            message: format!("{available} ingestion worker(s) available"),
        });
    }
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), &namespace);
    let listed = pods
        .list(&ListParams::default().labels(&worker_pods_selector(product)))
        .await;
    if available > 0 {
        // A rollout is under way: fine while its new pods start, stuck when they fail.
        let new_pods = listed.map(|l| diagnose(&l.items)).ok();
        return Ok(match new_pods {
            Some(failing) if failing.reason.is_failure() => WorkloadReport {
                reason: WorkloadReason::RolloutStuck,
                message: format!(
                    "{available} ingestion worker(s) of the previous template available, but the rollout is stuck: {}",
                    failing.message
                ),
            },
            _ => WorkloadReport {
                reason: WorkloadReason::Available,
                message: format!("{available} ingestion worker(s) available (rolling out)"),
            },
        });
    }
    Ok(match listed {
        Ok(list) => diagnose(&list.items),
        // The pods only explain; failing the reconcile over them (a chart without the
        // pods rule, say) would hide what is known: no worker is available.
        Err(e) => {
            tracing::warn!(product = %key(product), error = %e, "failed to list the worker pods");
            WorkloadReport {
                reason: WorkloadReason::Unavailable,
                message: format!(
                    "Deployment {name} has no available worker (its pods could not be listed: {e})"
                ),
            }
        }
    })
}
