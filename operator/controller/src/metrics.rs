//! The controller's Prometheus metrics, kept in the context rather than in globals.

use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
};
use std::collections::HashMap;
use std::sync::Mutex;

/// Reconcile counters, failure reasons, durations and products per state.
pub struct Metrics {
    registry: Registry,
    /// Reconciles by result (`ok`, `error`).
    pub reconciles: IntCounterVec,
    /// Failed reconciles by reason (`plan`, `storage`, `apply`, `status`).
    pub failures: IntCounterVec,
    /// Reconcile duration in seconds.
    pub duration: Histogram,
    /// Products by state (`ready`, `unavailable` (provisioned, no worker up), `waiting`,
    /// `non_compliant`, `failing`).
    products: IntGaugeVec,
    states: Mutex<HashMap<String, &'static str>>,
}

impl Default for Metrics {
    fn default() -> Self {
        let registry = Registry::new();
        let reconciles = IntCounterVec::new(
            Opts::new(
                "meshplane_reconciles_total",
                "DataProduct reconciles by result",
            ),
            &["result"],
        )
        .expect("valid metric");
        let failures = IntCounterVec::new(
            Opts::new(
                "meshplane_reconcile_failures_total",
                "Failed DataProduct reconciles by reason",
            ),
            &["reason"],
        )
        .expect("valid metric");
        let duration = Histogram::with_opts(
            HistogramOpts::new(
                "meshplane_reconcile_duration_seconds",
                "Duration of a DataProduct reconcile",
            )
            .buckets(vec![
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ]),
        )
        .expect("valid metric");
        let products = IntGaugeVec::new(
            Opts::new(
                "meshplane_data_products",
                "DataProducts by state after their last reconcile",
            ),
            &["state"],
        )
        .expect("valid metric");
        for collector in [
            Box::new(reconciles.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(failures.clone()),
            Box::new(duration.clone()),
            Box::new(products.clone()),
        ] {
            registry
                .register(collector)
                .expect("metric names are unique");
        }
        Metrics {
            registry,
            reconciles,
            failures,
            duration,
            products,
            states: Mutex::default(),
        }
    }
}

impl Metrics {
    /// Records a product's state after a reconcile and refreshes the per-state gauge.
    pub fn set_state(&self, product: String, state: &'static str) {
        let mut states = self.states.lock().unwrap_or_else(|e| e.into_inner());
        states.insert(product, state);
        self.recount(&states);
    }

    /// Drops a deleted product from the counts.
    pub fn forget(&self, product: &str) {
        let mut states = self.states.lock().unwrap_or_else(|e| e.into_inner());
        states.remove(product);
        self.recount(&states);
    }

    fn recount(&self, states: &std::collections::HashMap<String, &'static str>) {
        for name in [
            "ready",
            "unavailable",
            "waiting",
            "non_compliant",
            "failing",
        ] {
            let count = states.values().filter(|s| **s == name).count();
            self.products.with_label_values(&[name]).set(count as i64);
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut buffer = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buffer)
            .expect("text encoding cannot fail");
        String::from_utf8(buffer).expect("the text format is UTF-8")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn products_are_counted_by_their_latest_state() {
        let metrics = Metrics::default();
        metrics.set_state("a/x".into(), "ready");
        metrics.set_state("a/y".into(), "failing");
        metrics.set_state("a/y".into(), "ready");
        metrics.reconciles.with_label_values(&["ok"]).inc();
        let text = metrics.render();
        assert!(
            text.contains("meshplane_data_products{state=\"ready\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("meshplane_data_products{state=\"failing\"} 0"),
            "{text}"
        );
        assert!(
            text.contains("meshplane_reconciles_total{result=\"ok\"} 1"),
            "{text}"
        );
    }
}
