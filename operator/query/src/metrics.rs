//! The query port's Prometheus metrics.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder,
};

/// Latency and outcomes of statements.
pub struct Metrics {
    registry: Registry,
    /// Statement wall time per product read (`meshplane_query_duration_seconds{product}`),
    /// which the product's `queryLatencyP99` SLO is judged on.
    pub duration: HistogramVec,
    /// Statements per product and outcome.
    pub statements: IntCounterVec,
    /// Connections refused at authentication.
    pub auth_failures: prometheus::IntCounter,
}

impl Default for Metrics {
    fn default() -> Self {
        let registry = Registry::new();
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "meshplane_query_duration_seconds",
                "Wall time of statements on the query port, per product read",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0,
                60.0,
            ]),
            &["product"],
        )
        .expect("valid metric");
        let statements = IntCounterVec::new(
            Opts::new(
                "meshplane_query_statements_total",
                "Statements on the query port, per product and outcome",
            ),
            &["product", "outcome"],
        )
        .expect("valid metric");
        let auth_failures = prometheus::IntCounter::new(
            "meshplane_query_auth_failures_total",
            "Connections to the query port refused at authentication",
        )
        .expect("valid metric");
        registry
            .register(Box::new(duration.clone()))
            .expect("unique metric");
        registry
            .register(Box::new(statements.clone()))
            .expect("unique metric");
        registry
            .register(Box::new(auth_failures.clone()))
            .expect("unique metric");
        Metrics {
            registry,
            duration,
            statements,
            auth_failures,
        }
    }
}

impl Metrics {
    /// The text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}
