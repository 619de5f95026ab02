//! The monitoring the planner renders selects only what is exported: every series name in
//! a rule or dashboard query is one the worker registers (or `up`, which Prometheus
//! writes), and every label matcher names a label the series has — its own, or one the
//! product's ServiceMonitor attaches by relabeling.

use meshplane_api::load::{load_all, load_data_product, Resource};
use meshplane_api::{DataProduct, GovernancePolicy};
use meshplane_governance::Engine;
use meshplane_planner::{plan, PlatformSettings};
use meshplane_worker::metrics::Metrics;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

fn policies(text: &str) -> Vec<GovernancePolicy> {
    load_all(text, "example")
        .unwrap()
        .into_iter()
        .filter_map(|r| match r {
            Resource::GovernancePolicy(p) => Some(*p),
            Resource::DataProduct(_) => None,
        })
        .collect()
}

fn admitted(text: &str) -> DataProduct {
    let product = load_data_product(text, "example").unwrap();
    let policies = policies(include_str!("../../../examples/policy.yaml"));
    let decision = Engine::new(&policies).unwrap().evaluate(&product);
    assert!(decision.allowed, "{:?}", decision.violations);
    decision.effective
}

/// Series name → label names, from the text expositions of the worker and of the query
/// port (which shows its per-product series once a statement has run).
fn exported() -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let query = meshplane_query::metrics::Metrics::default();
    query
        .duration
        .with_label_values(&["orders/orders"])
        .observe(0.01);
    let text = Metrics::default().render() + &query.render();
    for line in text.lines() {
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let series = line.split_whitespace().next().unwrap();
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => (name, rest.trim_end_matches('}')),
            None => (series, ""),
        };
        let entry = out.entry(name.to_string()).or_default();
        for pair in labels.split(',').filter(|p| !p.is_empty()) {
            entry.insert(pair.split('=').next().unwrap().to_string());
        }
    }
    out
}

/// `(series, label names)` for every `name{matchers}` selector in a PromQL expression.
fn selectors(expr: &str) -> Vec<(String, Vec<String>)> {
    let bytes = expr.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(open) = expr[i..].find('{').map(|o| o + i) {
        let mut start = open;
        while start > 0 && (bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_') {
            start -= 1;
        }
        let close = expr[open..].find('}').unwrap() + open;
        let labels = expr[open + 1..close]
            .split(',')
            .filter(|m| !m.trim().is_empty())
            .map(|m| m.split(['=', '!', '~']).next().unwrap().trim().to_string())
            .collect();
        out.push((expr[start..open].to_string(), labels));
        i = close + 1;
    }
    out
}

/// Every PromQL expression in the product's PrometheusRule and dashboard.
fn expressions(manifests: &[Value]) -> Vec<String> {
    let mut out = Vec::new();
    for object in manifests {
        match object["kind"].as_str() {
            Some("PrometheusRule") => {
                for group in object["spec"]["groups"].as_array().unwrap() {
                    for rule in group["rules"].as_array().unwrap() {
                        out.push(rule["expr"].as_str().unwrap().to_string());
                    }
                }
            }
            Some("ConfigMap") if object["metadata"]["labels"]["grafana_dashboard"] == "1" => {
                for json in object["data"].as_object().unwrap().values() {
                    let board: Value = serde_json::from_str(json.as_str().unwrap()).unwrap();
                    for panel in board["panels"].as_array().unwrap() {
                        for target in panel["targets"].as_array().into_iter().flatten() {
                            out.push(target["expr"].as_str().unwrap().to_string());
                        }
                    }
                }
            }
            _ => {}
        }
    }
    out
}

fn relabelled_targets(manifests: &[Value]) -> BTreeSet<String> {
    let monitor = manifests
        .iter()
        .find(|o| o["kind"] == "ServiceMonitor")
        .expect("a ServiceMonitor");
    monitor["spec"]["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|e| e["relabelings"].as_array().cloned().unwrap_or_default())
        .map(|r| r["targetLabel"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn every_series_and_label_the_monitoring_selects_is_exported() {
    let exported = exported();
    assert!(exported.len() > 10, "{exported:?}");
    let mut checked = 0;
    for example in [
        include_str!("../../../examples/orders.yaml"),
        include_str!("../../../examples/payments.yaml"),
        include_str!("../../../examples/customer-profile.yaml"),
    ] {
        let product = admitted(example);
        let settings = PlatformSettings {
            query_latency_scraped: true,
            ..PlatformSettings::default()
        };
        let manifests = plan(&product, &settings).unwrap().children.manifests();
        let target_labels = relabelled_targets(&manifests);
        assert!(target_labels.contains("product"), "{target_labels:?}");
        let key = format!(
            "{}/{}",
            product.metadata.namespace.as_deref().unwrap_or("default"),
            product.metadata.name.as_deref().unwrap()
        );
        let expressions = expressions(&manifests);
        assert!(expressions.len() >= 8, "{expressions:?}");
        for expr in &expressions {
            let found = selectors(expr);
            assert!(!found.is_empty(), "no selector in {expr}");
            for (name, labels) in found {
                assert!(
                    expr.contains(&format!("{name}{{product=\"{key}\"")),
                    "{name} is not scoped to {key} in {expr}"
                );
                let own = if name == "up" {
                    BTreeSet::new()
                } else {
                    exported
                        .get(&name)
                        .unwrap_or_else(|| panic!("{name} (in {expr}) is not exported"))
                        .clone()
                };
                for label in labels {
                    assert!(
                        own.contains(&label) || target_labels.contains(&label),
                        "{name}{{{label}=…}} in {expr}: the series has no label {label}"
                    );
                }
                checked += 1;
            }
        }
    }
    assert!(checked >= 24, "{checked}");
}

#[test]
fn the_selector_reader_finds_names_and_labels() {
    assert_eq!(
        selectors("sum(rate(a_total{product=\"x/y\",le=~\"1\"}[5m])) / up{product!=\"z\"}"),
        [
            (
                "a_total".to_string(),
                vec!["product".to_string(), "le".to_string()]
            ),
            ("up".to_string(), vec!["product".to_string()]),
        ]
    );
}
