//! Storage: the product's bucket with its encryption, lifecycle and tags.

use crate::context::{event, key, Context};
use crate::error::ReconcileError;
use crate::status::StorageReport;
use kube::runtime::events::EventType;
use meshplane_api::DataProduct;
use meshplane_effects::s3::ensure_bucket;
use meshplane_planner::BucketSpec;

/// Creates the bucket or repairs its drift; both are told in an Event.
pub async fn storage(
    ctx: &Context,
    product: &DataProduct,
    bucket: &BucketSpec,
) -> Result<StorageReport, ReconcileError> {
    let ensured = ensure_bucket(&ctx.s3, bucket).await?;
    let report = StorageReport {
        bucket: bucket.name.clone(),
        created: ensured.created,
        repaired: ensured.repaired.iter().map(ToString::to_string).collect(),
        expiration_days: bucket.expiration_days,
    };
    if report.created {
        let note = report.message();
        event(
            ctx,
            product,
            EventType::Normal,
            "BucketCreated",
            "Provision",
            note,
        )
        .await;
    } else if !report.repaired.is_empty() {
        tracing::warn!(product = %key(product), repaired = ?report.repaired, "bucket drift repaired");
        let note = report.message();
        event(
            ctx,
            product,
            EventType::Warning,
            "DriftRepaired",
            "Repair",
            note,
        )
        .await;
    }
    Ok(report)
}
