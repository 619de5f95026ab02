//! Table maintenance as data: the SQL statements that keep a product's Iceberg table
//! small and within its retention, in the order they must run. An engine that speaks
//! Iceberg's maintenance procedures (Trino's `ALTER TABLE … EXECUTE`) runs them;
//! iceberg-rust cannot rewrite or expire yet.
//!
//! Retention goes through the table, never through S3 lifecycle rules: a rule that
//! expires objects under a table deletes files live snapshots still reference. Rows are
//! deleted by whole time partitions (a metadata-only delete), so a row stays at most one
//! partition (an hour or a day) longer than the retention, never shorter.

use crate::meta::child_meta;
use crate::settings::PlatformSettings;
use crate::workload::{plain_env, PLAN_MOUNT_PATH};
use crate::{labels, names};
use k8s_openapi::api::batch::v1::{CronJob, CronJobSpec, JobSpec, JobTemplateSpec};
use k8s_openapi::api::core::v1::ConfigMap;
use meshplane_api::data_product::Granularity;
use meshplane_api::ingest_plan::{IngestPlan, PLAN_CONFIGMAP_KEY};
use meshplane_api::{DataProduct, FieldType};
use serde::Serialize;
use std::time::Duration;
use thiserror::Error;

/// How maintenance treats history and stray files (platform settings).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaintenanceSettings {
    /// The engine's catalog holding the products' tables, e.g. `meshplane`.
    pub catalog: String,
    /// Snapshots older than this are expired (time travel reaches back this far); the
    /// files only they reference are deleted then.
    pub keep_snapshots: Duration,
    /// Files under the table not referenced by any snapshot are removed once older than
    /// this. It must exceed the longest time a worker holds a written, uncommitted file
    /// (its commit interval plus any catalog outage it waits out), or maintenance would
    /// delete files an imminent commit adds.
    pub orphan_age: Duration,
    /// Data files smaller than this are compacted together.
    pub small_file_bytes: u64,
}

impl Default for MaintenanceSettings {
    fn default() -> Self {
        Self {
            catalog: "meshplane".to_string(),
            keep_snapshots: Duration::from_secs(7 * 86_400),
            orphan_age: Duration::from_secs(7 * 86_400),
            small_file_bytes: 100 * 1024 * 1024,
        }
    }
}

/// One maintenance action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum MaintenanceAction {
    /// Delete the time partitions past the product's retention.
    DeleteExpiredPartitions,
    /// Rewrite small data files into files of the target size.
    CompactFiles,
    /// Rewrite manifests so a scan reads few of them.
    RewriteManifests,
    /// Expire old snapshots and delete the files only they reference.
    ExpireSnapshots,
    /// Remove files no snapshot references (left by failed or fenced writers).
    RemoveOrphanFiles,
}

impl MaintenanceAction {
    /// A name for logs and metrics.
    pub fn name(self) -> &'static str {
        match self {
            Self::DeleteExpiredPartitions => "delete-expired-partitions",
            Self::CompactFiles => "compact-files",
            Self::RewriteManifests => "rewrite-manifests",
            Self::ExpireSnapshots => "expire-snapshots",
            Self::RemoveOrphanFiles => "remove-orphan-files",
        }
    }
}

/// A statement to run, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MaintenanceStep {
    /// What it does.
    pub action: MaintenanceAction,
    /// The statement, in Trino's SQL.
    pub sql: String,
}

/// Maintenance that cannot be planned.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum MaintenanceError {
    /// Retention needs a time field to find old rows by.
    #[error("product {product}: retention cannot be applied to its table: it has no partitioning field (spec.output.table.partitioning)")]
    NoPartitionField {
        /// `namespace/name`.
        product: String,
    },
    /// The partitioning field is not in the schema or not a time.
    #[error("product {product}: partitioning field `{field}` is not a timestamp or date field of the schema")]
    PartitionFieldNotTime {
        /// `namespace/name`.
        product: String,
        /// The field.
        field: String,
    },
    /// A time out of the calendar's range.
    #[error("product {product}: the retention cut-off is out of range")]
    CutoffOutOfRange {
        /// `namespace/name`.
        product: String,
    },
}

/// The steps for the product's table at `now_seconds` (Unix time): retention first (so
/// compaction does not rewrite rows about to go), then compaction, manifests, expiry
/// (which deletes the expired and compacted-away files) and orphan removal.
pub fn maintenance_steps(
    plan: &IngestPlan,
    settings: &MaintenanceSettings,
    now_seconds: i64,
) -> Result<Vec<MaintenanceStep>, MaintenanceError> {
    let table = format!(
        "{}.{}.{}",
        quote(&settings.catalog),
        quote(&plan.iceberg.namespace),
        quote(&plan.iceberg.name)
    );
    let mut steps = Vec::new();
    if let Some(retention) = plan.retention_seconds {
        let predicate = expired_predicate(plan, retention, now_seconds)?;
        steps.push(MaintenanceStep {
            action: MaintenanceAction::DeleteExpiredPartitions,
            sql: format!("DELETE FROM {table} WHERE {predicate}"),
        });
    }
    steps.push(MaintenanceStep {
        action: MaintenanceAction::CompactFiles,
        sql: format!(
            "ALTER TABLE {table} EXECUTE optimize(file_size_threshold => '{}B')",
            settings.small_file_bytes
        ),
    });
    steps.push(MaintenanceStep {
        action: MaintenanceAction::RewriteManifests,
        sql: format!("ALTER TABLE {table} EXECUTE optimize_manifests"),
    });
    steps.push(MaintenanceStep {
        action: MaintenanceAction::ExpireSnapshots,
        sql: format!(
            "ALTER TABLE {table} EXECUTE expire_snapshots(retention_threshold => '{}s')",
            settings.keep_snapshots.as_secs()
        ),
    });
    steps.push(MaintenanceStep {
        action: MaintenanceAction::RemoveOrphanFiles,
        sql: format!(
            "ALTER TABLE {table} EXECUTE remove_orphan_files(retention_threshold => '{}s')",
            settings.orphan_age.as_secs()
        ),
    });
    Ok(steps)
}

/// `field < <start of the partition holding now − retention>`: only whole partitions
/// that ended before the cut-off match.
fn expired_predicate(
    plan: &IngestPlan,
    retention_seconds: u64,
    now_seconds: i64,
) -> Result<String, MaintenanceError> {
    let product = || plan.product.clone();
    let field_name = plan
        .partition_field
        .as_deref()
        .ok_or_else(|| MaintenanceError::NoPartitionField { product: product() })?;
    let field = plan
        .fields
        .iter()
        .find(|f| f.name == field_name)
        .filter(|f| matches!(f.field_type, FieldType::Timestamp | FieldType::Date))
        .ok_or_else(|| MaintenanceError::PartitionFieldNotTime {
            product: product(),
            field: field_name.to_string(),
        })?;
    let period: i64 = match (plan.granularity, field.field_type) {
        (_, FieldType::Date) | (Granularity::Day, _) => 86_400,
        (Granularity::Hour, _) => 3_600,
    };
    let cutoff = now_seconds
        .checked_sub(i64::try_from(retention_seconds).unwrap_or(i64::MAX))
        .map(|t| t.div_euclid(period) * period)
        .and_then(|t| jiff::Timestamp::from_second(t).ok())
        .ok_or_else(|| MaintenanceError::CutoffOutOfRange { product: product() })?;
    let literal = match field.field_type {
        FieldType::Date => format!("DATE '{}'", cutoff.strftime("%Y-%m-%d")),
        _ => format!("TIMESTAMP '{} UTC'", cutoff.strftime("%Y-%m-%d %H:%M:%S")),
    };
    Ok(format!("{} < {literal}", quote(field_name)))
}

/// A double-quoted SQL identifier.
fn quote(identifier: &str) -> String {
    format!("\"{}\"", identifier.replace('"', "\"\""))
}

/// Longest a maintenance run may take before Kubernetes stops it.
pub const MAX_RUN_SECONDS: i64 = 50 * 60;

/// The product's scheduled maintenance: a CronJob running `meshplane maintain` on the
/// plan the workers mount, through the configured Trino; `None` when none is configured.
pub fn cron_job(
    product: &DataProduct,
    settings: &PlatformSettings,
    plan_map: &ConfigMap,
) -> Option<CronJob> {
    if settings.maintenance_trino_url.is_empty() {
        return None;
    }
    let name = names::child(
        product.metadata.name.as_deref().unwrap_or_default(),
        "maintenance",
    );
    let worker = crate::workload::worker_name(product);
    let mut template = crate::workload::worker_pod(product, settings, &worker, plan_map);
    if let Some(meta) = template.metadata.as_mut() {
        // Not the workers' labels: the metrics Service and readiness select those.
        meta.labels = Some(labels::for_child(product, "maintenance"));
    }
    if let Some(pod) = template.spec.as_mut() {
        pod.restart_policy = Some("OnFailure".into());
        pod.termination_grace_period_seconds = Some(30);
        // It reads no Kubernetes API.
        pod.automount_service_account_token = Some(false);
        for container in &mut pod.containers {
            container.name = "maintain".into();
            container.args = Some(vec![
                "maintain".into(),
                "--plan".into(),
                format!("{PLAN_MOUNT_PATH}/{PLAN_CONFIGMAP_KEY}"),
                "--keep-snapshots".into(),
                settings.maintenance_keep_snapshots.clone(),
                "--orphan-age".into(),
                settings.maintenance_orphan_age.clone(),
            ]);
            container.env = Some(vec![
                plain_env("MESHPLANE_TRINO_URL", &settings.maintenance_trino_url),
                plain_env(
                    "MESHPLANE_TRINO_CATALOG",
                    &settings.maintenance_trino_catalog,
                ),
            ]);
            container.ports = None;
            container.liveness_probe = None;
            container.readiness_probe = None;
        }
    }
    Some(CronJob {
        metadata: child_meta(product, name, "maintenance"),
        spec: Some(CronJobSpec {
            schedule: settings.maintenance_schedule.clone(),
            // Two runs on one table would only conflict with each other.
            concurrency_policy: Some("Forbid".into()),
            successful_jobs_history_limit: Some(1),
            failed_jobs_history_limit: Some(3),
            job_template: JobTemplateSpec {
                metadata: None,
                spec: Some(JobSpec {
                    backoff_limit: Some(2),
                    // A run hung on the engine must not block the next ones (`Forbid`).
                    active_deadline_seconds: Some(MAX_RUN_SECONDS),
                    template,
                    ..JobSpec::default()
                }),
            },
            ..CronJobSpec::default()
        }),
        ..CronJob::default()
    })
}

/// What the product's status says about maintenance.
pub fn describe(settings: &PlatformSettings) -> String {
    if settings.maintenance_trino_url.is_empty() {
        "not configured: no maintenance engine is set (controller --maintenance-trino-url), so \
         files are not compacted, snapshots not expired and retention not applied"
            .to_string()
    } else {
        format!(
            "scheduled `{}` through Trino at {}: retention, compaction, manifests, snapshots \
             kept {}, orphan files older than {} removed",
            settings.maintenance_schedule,
            settings.maintenance_trino_url,
            settings.maintenance_keep_snapshots,
            settings.maintenance_orphan_age
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use meshplane_api::ingest_plan::{IcebergTablePlan, PlannedField};
    use meshplane_api::{Classification, MaskingStrategy};

    fn plan(partition: Option<&str>, granularity: Granularity) -> IngestPlan {
        let field = |name: &str, field_type| PlannedField {
            name: name.to_string(),
            field_type,
            nullable: false,
            classification: Classification::Internal,
            pii: false,
            masking: MaskingStrategy::None,
        };
        IngestPlan {
            product: "orders/orders".into(),
            source: Default::default(),
            bucket: "b".into(),
            table_prefix: "table".into(),
            dead_letter_prefix: "_rejected".into(),
            fields: vec![
                field("order_id", FieldType::String),
                field("event_time", FieldType::Timestamp),
                field("day", FieldType::Date),
            ],
            partition_field: partition.map(str::to_string),
            granularity,
            flush_interval_seconds: 10,
            quality: vec![],
            stream_topic: None,
            encryption: None,
            kms_key_id: None,
            iceberg: IcebergTablePlan {
                namespace: "orders".into(),
                name: "orders".into(),
                location: "s3://b/table".into(),
                properties: Default::default(),
            },
            retention_seconds: Some(30 * 86_400),
        }
    }

    // 2026-12-02T09:41:07Z
    const NOW: i64 = 1_796_204_467;

    #[test]
    fn retention_deletes_whole_hours_before_the_cutoff_then_compacts_and_expires() {
        let steps = maintenance_steps(
            &plan(Some("event_time"), Granularity::Hour),
            &MaintenanceSettings::default(),
            NOW,
        )
        .unwrap();
        let actions: Vec<_> = steps.iter().map(|s| s.action).collect();
        assert_eq!(
            actions,
            [
                MaintenanceAction::DeleteExpiredPartitions,
                MaintenanceAction::CompactFiles,
                MaintenanceAction::RewriteManifests,
                MaintenanceAction::ExpireSnapshots,
                MaintenanceAction::RemoveOrphanFiles,
            ]
        );
        assert_eq!(
            steps[0].sql,
            "DELETE FROM \"meshplane\".\"orders\".\"orders\" WHERE \"event_time\" < TIMESTAMP '2026-11-02 09:00:00 UTC'"
        );
        assert_eq!(
            steps[3].sql,
            "ALTER TABLE \"meshplane\".\"orders\".\"orders\" EXECUTE expire_snapshots(retention_threshold => '604800s')"
        );
    }

    #[test]
    fn daily_partitions_and_date_fields_cut_at_midnight() {
        let daily = maintenance_steps(
            &plan(Some("event_time"), Granularity::Day),
            &MaintenanceSettings::default(),
            NOW,
        )
        .unwrap();
        assert!(daily[0]
            .sql
            .ends_with("\"event_time\" < TIMESTAMP '2026-11-02 00:00:00 UTC'"));
        let date = maintenance_steps(
            &plan(Some("day"), Granularity::Hour),
            &MaintenanceSettings::default(),
            NOW,
        )
        .unwrap();
        assert!(date[0].sql.ends_with("\"day\" < DATE '2026-11-02'"));
    }

    #[test]
    fn retention_without_a_time_partition_is_an_error_naming_the_product() {
        let err = maintenance_steps(
            &plan(None, Granularity::Hour),
            &MaintenanceSettings::default(),
            NOW,
        )
        .unwrap_err();
        assert!(err.to_string().contains("orders/orders"), "{err}");
        let err = maintenance_steps(
            &plan(Some("order_id"), Granularity::Hour),
            &MaintenanceSettings::default(),
            NOW,
        )
        .unwrap_err();
        assert_eq!(
            err,
            MaintenanceError::PartitionFieldNotTime {
                product: "orders/orders".into(),
                field: "order_id".into()
            }
        );
    }

    #[test]
    fn a_plan_without_retention_still_compacts_and_expires() {
        let mut p = plan(None, Granularity::Hour);
        p.retention_seconds = None;
        let steps = maintenance_steps(&p, &MaintenanceSettings::default(), NOW).unwrap();
        assert_eq!(steps[0].action, MaintenanceAction::CompactFiles);
        assert_eq!(steps.len(), 4);
    }

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(quote("a\"b"), "\"a\"\"b\"");
    }
}
