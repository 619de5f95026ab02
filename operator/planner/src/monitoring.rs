//! Monitoring of a product: scrape config, SLO alerts and a Grafana dashboard.
//! The metric names are the ones `meshplane ingest` exports.

use crate::external::BucketSpec;
use crate::meta::child_meta;
use crate::settings::PlatformSettings;
use crate::{labels, names, product_key, PlanError};
use k8s_openapi::api::core::v1::ConfigMap;
use meshplane_api::duration;
use meshplane_api::DataProduct;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Label Grafana's dashboard sidecar looks for.
pub const DASHBOARD_LABEL: &str = "grafana_dashboard";

/// The monitoring children of a product.
pub struct Monitoring {
    /// prometheus-operator ServiceMonitor selecting the metrics Service.
    pub service_monitor: Value,
    /// PrometheusRule with the SLO alerts.
    pub slo_rules: Value,
    /// Grafana dashboard.
    pub dashboard: ConfigMap,
}

/// ServiceMonitor, PrometheusRule and dashboard ConfigMap.
pub fn objects(
    product: &DataProduct,
    _settings: &PlatformSettings,
    bucket: &BucketSpec,
) -> Result<Monitoring, PlanError> {
    let name = product.metadata.name.clone().unwrap_or_default();
    let key = product_key(product);
    let selector = labels::for_child(product, "ingest");
    let service_monitor = json!({
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": child_meta(product, names::child(&name, "ingest"), "monitoring"),
        "spec": {
            "selector": { "matchLabels": {
                labels::PRODUCT_LABEL: selector[labels::PRODUCT_LABEL],
                "app.kubernetes.io/component": "ingest",
            }},
            "endpoints": [{ "port": "metrics", "path": "/metrics", "interval": "30s" }],
        }
    });

    let slo = product.spec.slo.clone().unwrap_or_default();
    let selector = format!("product=\"{key}\"");
    let mut rules = vec![
        json!({
            "alert": "DataProductIngestionDown",
            "expr": format!("absent(up{{{selector}}} == 1)"),
            "for": "10m",
            "labels": { "severity": "warning", "product": key },
            "annotations": {
                "summary": format!("Ingestion of {key} is not running"),
                "description": "No ingestion worker has been scraped for 10 minutes.",
            }
        }),
        json!({
            "alert": "DataProductRejectingRecords",
            "expr": format!(
                "sum(rate(meshplane_ingest_events_total{{{selector},outcome=\"rejected\"}}[15m])) / clamp_min(sum(rate(meshplane_ingest_events_total{{{selector}}}[15m])), 1e-9) > {}",
                (100.0 - slo.completeness.unwrap_or(99.0)) / 100.0
            ),
            "for": "15m",
            "labels": { "severity": "warning", "product": key },
            "annotations": {
                "summary": format!("{key} rejects more records than its completeness SLO allows"),
                "description": format!("Rejected records are in s3://{}/{}/.", bucket.name, bucket.dead_letter_prefix),
            }
        }),
    ];
    if let Some(freshness) = &slo.freshness {
        let limit = duration::parse(freshness).map_err(|source| PlanError::Duration {
            product: key.clone(),
            field: "spec.slo.freshness",
            source,
        })?;
        rules.insert(
            0,
            json!({
                "alert": "DataProductFreshnessSLOBreached",
                "expr": format!("max(meshplane_ingest_freshness_seconds{{{selector}}}) > {}", limit.as_secs()),
                "for": "5m",
                "labels": { "severity": "critical", "product": key, "slo": "freshness" },
                "annotations": {
                    "summary": format!("{key} is staler than its freshness SLO of {freshness}"),
                    "description": "The newest event in the table is older than the product promises.",
                }
            }),
        );
    }
    let prometheus_rule = json!({
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": child_meta(product, names::child(&name, "slo"), "monitoring"),
        "spec": { "groups": [{ "name": format!("meshplane.{}", key.replace('/', ".")), "rules": rules }] }
    });

    let mut meta = child_meta(product, names::child(&name, "dashboard"), "monitoring");
    meta.labels
        .get_or_insert_with(BTreeMap::new)
        .insert(DASHBOARD_LABEL.into(), "1".into());
    let dashboard = ConfigMap {
        metadata: meta,
        data: Some(BTreeMap::from([(
            format!("{}.json", names::child(&name, "dashboard")),
            serde_json::to_string_pretty(&dashboard(&key, &slo)).expect("dashboard serializes"),
        )])),
        ..ConfigMap::default()
    };
    Ok(Monitoring {
        service_monitor,
        slo_rules: prometheus_rule,
        dashboard,
    })
}

fn panel(id: u32, title: &str, expr: String, unit: &str, x: u32, y: u32) -> Value {
    json!({
        "id": id, "type": "timeseries", "title": title,
        "gridPos": { "x": x, "y": y, "w": 12, "h": 8 },
        "fieldConfig": { "defaults": { "unit": unit } },
        "targets": [{ "expr": expr, "refId": "A" }],
    })
}

/// A Grafana dashboard: ingestion lag, throughput, rejected records, freshness against
/// SLO, query latency.
pub fn dashboard(key: &str, slo: &meshplane_api::ServiceLevels) -> Value {
    let sel = format!("product=\"{key}\"");
    json!({
        "title": format!("Data product {key}"),
        "uid": names::bounded(&format!("meshplane-{key}"), 40),
        "tags": ["meshplane", "data-product"],
        "schemaVersion": 39,
        "time": { "from": "now-6h", "to": "now" },
        "panels": [
            panel(1, "Ingestion lag (records)", format!("sum(meshplane_ingest_consumer_lag{{{sel}}})"), "short", 0, 0),
            panel(2, "Throughput (events/s)", format!("sum by (outcome) (rate(meshplane_ingest_events_total{{{sel}}}[5m]))"), "ops", 12, 0),
            panel(3, "Rejected records (per s)", format!("sum(rate(meshplane_ingest_events_total{{{sel},outcome=\"rejected\"}}[5m]))"), "ops", 0, 8),
            panel(4, &format!("Freshness (SLO {})", slo.freshness.clone().unwrap_or_else(|| "none".into())), format!("max(meshplane_ingest_freshness_seconds{{{sel}}})"), "s", 12, 8),
            panel(5, "Query latency p99", format!("histogram_quantile(0.99, sum by (le) (rate(meshplane_query_duration_seconds_bucket{{{sel}}}[5m])))"), "s", 0, 16),
            panel(6, "File flush duration p99", format!("histogram_quantile(0.99, sum by (le) (rate(meshplane_ingest_flush_duration_seconds_bucket{{{sel}}}[5m])))"), "s", 12, 16),
        ],
    })
}
