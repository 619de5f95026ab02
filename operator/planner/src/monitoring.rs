//! Monitoring of a product: scrape config, SLO alerts and a Grafana dashboard.
//! The series names are the ones `meshplane ingest` exports ([`series`]); the product's
//! identity is attached by the ServiceMonitor's relabeling, as on any prometheus-operator
//! cluster.

use crate::external::BucketSpec;
use crate::meta::child_meta;
use crate::settings::PlatformSettings;
use crate::{labels, names, product_key, workload, PlanError};
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
    /// PrometheusRule with the SLO alerts; none when nothing exports the product's metrics.
    pub slo_rules: Option<Value>,
    /// Grafana dashboard.
    pub dashboard: ConfigMap,
}

/// The label every series of a product carries in Prometheus: `<namespace>/<name>`, set
/// by the ServiceMonitor's relabeling from the scraped Service (so `up` carries it too).
pub const PRODUCT_SERIES_LABEL: &str = "product";
/// The label naming the product's domain on every series.
pub const DOMAIN_SERIES_LABEL: &str = "domain";

/// The series names the rendered rules and dashboard select, all exported by the worker
/// (`meshplane ingest`) except `up`, which Prometheus writes per target.
/// `operator/meshplane/tests/monitoring_contract.rs` checks the rendered queries against
/// the worker's registry.
pub mod series {
    /// Events consumed from the source topic.
    pub const EVENTS_IN: &str = "meshplane_ingest_events_in_total";
    /// Rows committed to the table.
    pub const ROWS_WRITTEN: &str = "meshplane_ingest_rows_written_total";
    /// Events committed to the dead letter.
    pub const EVENTS_REJECTED: &str = "meshplane_ingest_events_rejected_total";
    /// Messages behind the source partitions' high watermarks.
    pub const CONSUMER_LAG: &str = "meshplane_ingest_consumer_lag";
    /// Event time of the newest committed event (Unix seconds; 0 before the first).
    pub const NEWEST_COMMITTED_EVENT: &str =
        "meshplane_ingest_newest_committed_event_timestamp_seconds";
    /// Arrival of the oldest uncommitted event to its commit (histogram).
    pub const EVENT_TO_COMMIT: &str = "meshplane_ingest_event_to_object_seconds";
    /// Time to encode and write a buffer's data files (histogram).
    pub const FLUSH_DURATION: &str = "meshplane_ingest_flush_duration_seconds";
    /// The stream output port's latency, event consumed to masked copy acknowledged by
    /// the output topic (histogram; only workers with a stream output observe it).
    pub const STREAM_PUBLISH_LATENCY: &str = "meshplane_ingest_stream_publish_latency_seconds";
    /// Wall time of query-port statements per product read (histogram; exported by
    /// `meshplane query`, labelled `product` by the port itself).
    pub const QUERY_DURATION: &str = "meshplane_query_duration_seconds";
}

/// ServiceMonitor, PrometheusRule and dashboard ConfigMap. Only streaming products have
/// workers that export metrics; for the others the rules and dashboard say so instead of
/// selecting series nothing exports.
pub fn objects(
    product: &DataProduct,
    settings: &PlatformSettings,
    bucket: &BucketSpec,
) -> Result<Monitoring, PlanError> {
    let name = product.metadata.name.clone().unwrap_or_default();
    let key = product_key(product);
    let selector = labels::for_child(product, "ingest");
    // Prometheus turns the Service's label `meshplane.dev/product` into this meta label.
    let service_label = |label: &str| {
        format!(
            "__meta_kubernetes_service_label_{}",
            label.replace(['.', '/', '-'], "_")
        )
    };
    let service_monitor = json!({
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": child_meta(product, names::child(&name, "ingest"), "monitoring"),
        "spec": {
            "selector": { "matchLabels": {
                labels::PRODUCT_LABEL: selector[labels::PRODUCT_LABEL],
                "app.kubernetes.io/component": "ingest",
            }},
            "endpoints": [{
                "port": "metrics",
                "path": "/metrics",
                // No interval of its own: the platform's Prometheus decides (`scrapeInterval`).
                "relabelings": [
                    {
                        "action": "replace",
                        "sourceLabels": ["__meta_kubernetes_namespace", service_label(labels::PRODUCT_LABEL)],
                        "separator": "/",
                        "targetLabel": PRODUCT_SERIES_LABEL,
                    },
                    {
                        "action": "replace",
                        "sourceLabels": [service_label(labels::DOMAIN_LABEL)],
                        "targetLabel": DOMAIN_SERIES_LABEL,
                    },
                ],
            }],
        }
    });

    let slo = product.spec.slo.clone().unwrap_or_default();
    let freshness = slo
        .freshness
        .as_deref()
        .map(|text| {
            duration::parse(text)
                .map(|limit| (text.to_string(), limit.as_secs()))
                .map_err(|source| PlanError::Duration {
                    product: key.clone(),
                    field: "spec.slo.freshness",
                    source,
                })
        })
        .transpose()?;
    let query_latency = slo
        .query_latency_p99
        .as_deref()
        .filter(|_| settings.query_latency_scraped)
        .map(|text| {
            duration::parse(text)
                .map(|limit| (text.to_string(), limit.as_secs_f64()))
                .map_err(|source| PlanError::Duration {
                    product: key.clone(),
                    field: "spec.slo.queryLatencyP99",
                    source,
                })
        })
        .transpose()?;
    let streams = workload::streams(product);
    let rules = if streams {
        let identity = AlertIdentity {
            key: &key,
            namespace: product.metadata.namespace.as_deref().unwrap_or_default(),
            support: slo.support.as_deref(),
            pending: (!settings.alert_for.is_empty()).then_some(settings.alert_for.as_str()),
        };
        let mut rules = stream_rules(&identity, &slo, freshness.as_ref(), bucket);
        rules.extend(
            query_latency
                .as_ref()
                .map(|l| query_latency_rule(&identity, l)),
        );
        rules
    } else {
        Vec::new()
    };
    // Without rules there is no PrometheusRule: its CRD requires a spec with groups.
    let prometheus_rule = (!rules.is_empty()).then(|| {
        json!({
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "PrometheusRule",
            "metadata": child_meta(product, names::child(&name, "slo"), "monitoring"),
            "spec": { "groups": [{
                "name": format!("meshplane.{}", key.replace('/', ".")),
                "rules": rules,
            }] }
        })
    });

    let mut meta = child_meta(product, names::child(&name, "dashboard"), "monitoring");
    meta.labels
        .get_or_insert_with(BTreeMap::new)
        .insert(DASHBOARD_LABEL.into(), "1".into());
    let board = if streams {
        let mut board = dashboard(&key, freshness.as_ref().map(|(text, _)| text.as_str()));
        if product.spec.output.stream.is_some() {
            add_stream_latency_panel(&mut board, &key);
        }
        if settings.query_latency_scraped {
            add_query_latency_panel(&mut board, &key, slo.query_latency_p99.as_deref());
        }
        board
    } else {
        not_yet_dashboard(&key)
    };
    let dashboard = ConfigMap {
        metadata: meta,
        data: Some(BTreeMap::from([(
            format!("{}.json", names::child(&name, "dashboard")),
            serde_json::to_string_pretty(&board).expect("dashboard serializes"),
        )])),
        ..ConfigMap::default()
    };
    Ok(Monitoring {
        service_monitor,
        slo_rules: prometheus_rule,
        dashboard,
    })
}

const NOT_YET_SCHEDULED: &str = "not yet: scheduled pulls and derived products do not run \
    yet, so nothing exports their metrics and no SLO alert is rendered";

/// The selector of one product's series.
fn product_selector(key: &str) -> String {
    format!("{PRODUCT_SERIES_LABEL}=\"{key}\"")
}

/// What every alert of a product carries besides its own labels.
struct AlertIdentity<'a> {
    /// `namespace/name`.
    key: &'a str,
    /// The product's namespace: Alertmanager configurations scoped to a namespace match on it.
    namespace: &'a str,
    /// `spec.slo.support`: Alertmanager routes on it to the team's receiver.
    support: Option<&'a str>,
    /// The platform's `for` for every alert; `None`: each alert's own default.
    pending: Option<&'a str>,
}

impl AlertIdentity<'_> {
    fn labels(&self, severity: &str, slo: Option<&str>) -> Value {
        let mut labels = json!({
            "severity": severity,
            PRODUCT_SERIES_LABEL: self.key,
            "namespace": self.namespace,
        });
        if let Some(slo) = slo {
            labels["slo"] = json!(slo);
        }
        if let Some(team) = self.support {
            labels[SUPPORT_ALERT_LABEL] = json!(team);
        }
        labels
    }

    fn pending_for<'a>(&'a self, default: &'a str) -> &'a str {
        self.pending.unwrap_or(default)
    }
}

/// The alert label naming who is paged: the product's `spec.slo.support`, on which the
/// platform's Alertmanager routes.
pub const SUPPORT_ALERT_LABEL: &str = "support";

/// Alerts on the series a product's workers export (see [`series`]).
fn stream_rules(
    who: &AlertIdentity<'_>,
    slo: &meshplane_api::ServiceLevels,
    freshness: Option<&(String, u64)>,
    bucket: &BucketSpec,
) -> Vec<Value> {
    let key = who.key;
    let sel = product_selector(key);
    let mut rules = Vec::new();
    if let Some((text, limit)) = freshness {
        rules.push(json!({
            "alert": "DataProductFreshnessSLOBreached",
            // Measured in Prometheus from the newest committed event time, so the alert
            // also fires when the worker is alive but commits nothing. 0 means nothing was
            // committed yet: no freshness to judge.
            "expr": format!(
                "time() - max({newest}{{{sel}}}) > {limit} and max({newest}{{{sel}}}) > 0",
                newest = series::NEWEST_COMMITTED_EVENT,
            ),
            "for": who.pending_for("5m"),
            "labels": who.labels("critical", Some("freshness")),
            "annotations": {
                "summary": format!("{key} is staler than its freshness SLO of {text}"),
                "description": "The newest event committed to the table is older than the product promises.",
            }
        }));
    }
    let allowed_rejected = (100.0 - slo.completeness.unwrap_or(99.0)) / 100.0;
    rules.push(json!({
        "alert": "DataProductRejectingRecords",
        "expr": format!(
            "sum(rate({rejected}{{{sel}}}[15m])) / clamp_min(sum(rate({rejected}{{{sel}}}[15m])) + sum(rate({written}{{{sel}}}[15m])), 1e-9) > {allowed_rejected}",
            rejected = series::EVENTS_REJECTED,
            written = series::ROWS_WRITTEN,
        ),
        "for": who.pending_for("15m"),
        "labels": who.labels("warning", Some("completeness")),
        "annotations": {
            "summary": format!("{key} rejects more records than its completeness SLO allows"),
            "description": format!("Rejected records are in s3://{}/{}/.", bucket.name, bucket.dead_letter_prefix),
        }
    }));
    rules.push(json!({
        "alert": "DataProductIngestionDown",
        // `up` is written by Prometheus per target and carries the relabelled product.
        "expr": format!("absent(up{{{sel}}} == 1)"),
        "for": who.pending_for("10m"),
        "labels": who.labels("warning", None),
        "annotations": {
            "summary": format!("Ingestion of {key} is not running"),
            "description": format!("No ingestion worker has been scraped successfully for {}.", who.pending_for("10m")),
        }
    }));
    rules
}

/// The alert on a product's `queryLatencyP99`: the query port's p99 over 10 minutes.
fn query_latency_rule(who: &AlertIdentity<'_>, (text, limit): &(String, f64)) -> Value {
    let key = who.key;
    let sel = product_selector(key);
    json!({
        "alert": "DataProductQueryLatencySLOBreached",
        // Only while statements run: no traffic is no latency to judge.
        "expr": format!(
            "histogram_quantile(0.99, sum by (le) (rate({q}_bucket{{{sel}}}[10m]))) > {limit} and sum(rate({q}_count{{{sel}}}[10m])) > 0",
            q = series::QUERY_DURATION,
        ),
        "for": who.pending_for("10m"),
        "labels": who.labels("warning", Some("query-latency")),
        "annotations": {
            "summary": format!("Queries on {key} are slower than its queryLatencyP99 SLO of {text}"),
            "description": "The query port's 99th percentile statement time over 10 minutes is above the SLO.",
        }
    })
}

/// Adds the query-latency panel (the query port's p99 and p50 for the product).
fn add_query_latency_panel(board: &mut Value, key: &str, slo: Option<&str>) {
    let title = format!("Query latency (SLO p99 {})", slo.unwrap_or("none"));
    add_latency_panel(board, key, series::QUERY_DURATION, (7, &title), 0);
}

/// Adds the stream output port's latency panel (consumed → masked copy acknowledged).
fn add_stream_latency_panel(board: &mut Value, key: &str) {
    let title = "Stream output latency (consumed to published)";
    add_latency_panel(board, key, series::STREAM_PUBLISH_LATENCY, (8, title), 12);
}

/// Adds panel `id` titled `title` at column `x` of the fourth row: p99 and p50 of the
/// product's `histogram`.
fn add_latency_panel(
    board: &mut Value,
    key: &str,
    histogram: &str,
    (id, title): (u32, &str),
    x: u32,
) {
    let sel = product_selector(key);
    let q = |quantile: &str| {
        format!(
            "histogram_quantile({quantile}, sum by (le) (rate({histogram}_bucket{{{sel}}}[5m])))"
        )
    };
    if let Some(panels) = board["panels"].as_array_mut() {
        panels.push(panel(
            id,
            title,
            &[(q("0.99"), "p99"), (q("0.5"), "p50")],
            "s",
            x,
            24,
        ));
    }
}

fn panel(id: u32, title: &str, exprs: &[(String, &str)], unit: &str, x: u32, y: u32) -> Value {
    let targets: Vec<Value> = exprs
        .iter()
        .zip(['A', 'B', 'C'])
        .map(|((expr, legend), ref_id)| {
            json!({ "expr": expr, "legendFormat": legend, "refId": ref_id.to_string() })
        })
        .collect();
    json!({
        "id": id, "type": "timeseries", "title": title,
        "gridPos": { "x": x, "y": y, "w": 12, "h": 8 },
        "fieldConfig": { "defaults": { "unit": unit } },
        "targets": targets,
    })
}

fn board(key: &str, panels: Vec<Value>) -> Value {
    json!({
        "title": format!("Data product {key}"),
        "uid": names::bounded(&format!("meshplane-{key}"), 40),
        "tags": ["meshplane", "data-product"],
        "schemaVersion": 39,
        "time": { "from": "now-6h", "to": "now" },
        "panels": panels,
    })
}

/// A Grafana dashboard of a streaming product: ingestion lag, throughput, rejected
/// records, freshness against the SLO, commit latency and file flush time. Every panel
/// selects series the worker exports; the query-latency panel is added where the query port is scraped.
pub fn dashboard(key: &str, freshness_slo: Option<&str>) -> Value {
    let sel = product_selector(key);
    let rate = |name: &str| format!("sum(rate({name}{{{sel}}}[5m]))");
    let p99 = |name: &str| {
        format!("histogram_quantile(0.99, sum by (le) (rate({name}_bucket{{{sel}}}[5m])))")
    };
    board(
        key,
        vec![
            panel(
                1,
                "Ingestion lag (records)",
                &[(format!("sum({}{{{sel}}})", series::CONSUMER_LAG), "behind")],
                "short",
                0,
                0,
            ),
            panel(
                2,
                "Throughput (events/s)",
                &[
                    (rate(series::EVENTS_IN), "consumed"),
                    (rate(series::ROWS_WRITTEN), "committed"),
                ],
                "ops",
                12,
                0,
            ),
            panel(
                3,
                "Rejected records (per s)",
                &[(rate(series::EVENTS_REJECTED), "rejected")],
                "ops",
                0,
                8,
            ),
            panel(
                4,
                &format!("Freshness (SLO {})", freshness_slo.unwrap_or("none")),
                &[(
                    format!(
                        "time() - max({}{{{sel}}} > 0)",
                        series::NEWEST_COMMITTED_EVENT
                    ),
                    "age of newest committed event",
                )],
                "s",
                12,
                8,
            ),
            panel(
                5,
                "Event to commit p99",
                &[(p99(series::EVENT_TO_COMMIT), "p99")],
                "s",
                0,
                16,
            ),
            panel(
                6,
                "File flush duration p99",
                &[(p99(series::FLUSH_DURATION), "p99")],
                "s",
                12,
                16,
            ),
        ],
    )
}

/// The dashboard of a product whose scheduled runs do not run yet: one text panel that
/// says so, rather than graphs of series nothing exports.
fn not_yet_dashboard(key: &str) -> Value {
    board(
        key,
        vec![json!({
            "id": 1, "type": "text", "title": "Not measured yet",
            "gridPos": { "x": 0, "y": 0, "w": 24, "h": 4 },
            "options": { "mode": "markdown", "content": NOT_YET_SCHEDULED },
        })],
    )
}
