//! Workload: whether the product's ingestion runs.

use crate::context::{key, Context};
use crate::error::ReconcileError;
use crate::status::WorkloadReport;
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::Api;
use kube::ResourceExt;
use meshplane_api::DataProduct;
use meshplane_planner::workload::worker_name;

/// A Deployment with an available replica, or a batch CronJob (which runs on its schedule).
pub async fn workload(
    ctx: &Context,
    product: &DataProduct,
) -> Result<WorkloadReport, ReconcileError> {
    if product.spec.source.batch.is_some() {
        return Ok(WorkloadReport {
            up: true,
            reason: "Scheduled",
            message: "batch ingestion CronJob applied".into(),
        });
    }
    let name = worker_name(product);
    let api: Api<Deployment> =
        Api::namespaced(ctx.client.clone(), &product.namespace().unwrap_or_default());
    let deployment = api
        .get_opt(&name)
        .await
        .map_err(|source| ReconcileError::Workload {
            product: key(product),
            source,
        })?;
    let available = deployment
        .and_then(|d| d.status)
        .and_then(|s| s.available_replicas)
        .unwrap_or(0);
    Ok(if available > 0 {
        WorkloadReport {
            up: true,
            reason: "WorkerAvailable",
            message: format!("{available} ingestion worker(s) available"),
        }
    } else {
        WorkloadReport {
            up: false,
            reason: "WorkerUnavailable",
            message: format!("Deployment {name} applied; no worker available yet"),
        }
    })
}
