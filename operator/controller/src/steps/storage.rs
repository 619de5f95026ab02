//! Storage: the product's bucket with its encryption, lifecycle and tags, and its Iceberg
//! table in the platform's catalog (created, or evolved with the product's new fields).

use crate::context::{event, key, Context};
use crate::error::ReconcileError;
use crate::status::{StorageReport, TableReport};
use kube::runtime::events::EventType;
use meshplane_api::ingest_plan::IngestPlan;
use meshplane_api::DataProduct;
use meshplane_effects::iceberg::{ensure_table, TableDefinition};
use meshplane_effects::s3::ensure_bucket;
use meshplane_planner::BucketSpec;

/// Creates the bucket or repairs its drift; both are told in an Event.
pub async fn storage(
    ctx: &Context,
    product: &DataProduct,
    bucket: &BucketSpec,
    plan: &IngestPlan,
) -> Result<StorageReport, ReconcileError> {
    let ensured = ensure_bucket(&ctx.s3, bucket).await?;
    let table = match &ctx.tables {
        Some(tables) => {
            let state = ensure_table(
                &*tables.catalog,
                TableDefinition {
                    product: &key(product),
                    table: &plan.iceberg,
                    fields: &plan.fields,
                    partition_field: plan.partition_field.as_deref(),
                    granularity: plan.granularity,
                },
            )
            .await?;
            Some(TableReport {
                catalog: tables.name.clone(),
                identifier: state.identifier,
                location: plan.iceberg.location.clone(),
                created: state.created,
                added_columns: state.added_columns,
                snapshot_id: state.snapshot_id,
                metadata_location: state.metadata_location,
                maintenance: meshplane_planner::maintenance::describe(&ctx.settings),
            })
        }
        None => None,
    };
    let report = StorageReport {
        bucket: bucket.name.clone(),
        created: ensured.created,
        repaired: ensured.repaired.iter().map(ToString::to_string).collect(),
        expiration_days: bucket.expiration_days,
        table,
    };
    let table_changed = report
        .table
        .as_ref()
        .is_some_and(|t| t.created || !t.added_columns.is_empty());
    if report.created || table_changed {
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
