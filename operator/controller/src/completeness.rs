//! The product's completeness SLO: the share of the last hour's source records that passed
//! the quality checks (rows written against records rejected to the dead letter), as the
//! platform's Prometheus measured the workers' counters. Pure: the queries and the verdict;
//! the controller runs the queries.

use crate::slo::Truth;
use meshplane_api::MeasuredCompleteness;
use meshplane_planner::monitoring::{series, PRODUCT_SERIES_LABEL};

/// The window completeness is measured over.
pub const WINDOW: &str = "1h";
/// How often a product's completeness is measured again: queries are evaluated at the
/// start of this period, so every reconcile within it gets the same answer (and writes no
/// new status).
pub const EVERY_SECONDS: i64 = 60;

/// Condition reason: the share of passed records meets the SLO.
pub const WITHIN_SLO: &str = "WithinSLO";
/// Condition reason (and Warning Event): fewer records passed than the SLO promises.
pub const BREACHED: &str = "CompletenessSLOBreached";
/// Condition reason: no record arrived within the window.
pub const NO_RECORDS: &str = "NoRecordsInWindow";
/// Condition reason: not measured (no Prometheus configured, or the product's kind of
/// ingestion does not run yet).
pub const NOT_MEASURED: &str = "NotMeasured";
/// Condition reason: the configured Prometheus did not answer.
pub const PROMETHEUS_UNAVAILABLE: &str = "PrometheusUnavailable";

/// A product's completeness promise.
#[derive(Debug, Clone, PartialEq)]
pub struct CompletenessSlo {
    /// `spec.slo.completeness`, in percent.
    pub target_percent: f64,
    /// Whether workers stream into the table (only they count records).
    pub streams: bool,
}

/// The two instant queries, rejected then written records over [`WINDOW`], for the
/// product `namespace/name`.
pub fn queries(product: &str) -> (String, String) {
    let of = |name: &str| {
        format!("sum(increase({name}{{{PRODUCT_SERIES_LABEL}=\"{product}\"}}[{WINDOW}]))")
    };
    (of(series::EVENTS_REJECTED), of(series::ROWS_WRITTEN))
}

/// The evaluation time for a measurement at `now` (Unix seconds): the start of its period.
pub fn evaluation_time(now: i64) -> i64 {
    now - now.rem_euclid(EVERY_SECONDS)
}

/// What the controller could learn.
#[derive(Debug, Clone, PartialEq)]
pub enum Measurement {
    /// The platform names no Prometheus.
    NoPrometheus,
    /// Prometheus did not answer; the error.
    Failed(String),
    /// The answers: rejected and written records in the window (`None`: no series).
    Counts {
        /// Records rejected.
        rejected: Option<f64>,
        /// Rows written.
        written: Option<f64>,
        /// Evaluation time, Unix seconds.
        at: i64,
    },
}

/// The `CompletenessSLOMet` condition to write and the measurement to store.
#[derive(Debug, Clone, PartialEq)]
pub struct CompletenessVerdict {
    /// Condition status.
    pub status: Truth,
    /// Condition reason.
    pub reason: &'static str,
    /// Condition message.
    pub message: String,
    /// What was measured, when something was.
    pub measured: Option<MeasuredCompleteness>,
}

/// Judges `slo` against `measurement`.
pub fn completeness(slo: &CompletenessSlo, measurement: &Measurement) -> CompletenessVerdict {
    let unknown = |reason, message: String| CompletenessVerdict {
        status: Truth::Unknown,
        reason,
        message,
        measured: None,
    };
    if !slo.streams {
        return unknown(
            NOT_MEASURED,
            "scheduled pulls and derived products do not run yet: completeness is not measured"
                .into(),
        );
    }
    let (rejected, written, at) =
        match measurement {
            Measurement::NoPrometheus => return unknown(
                NOT_MEASURED,
                "the platform names no Prometheus (--prometheus-url) to measure completeness from"
                    .into(),
            ),
            Measurement::Failed(error) => {
                return unknown(
                    PROMETHEUS_UNAVAILABLE,
                    format!("completeness could not be measured: {error}"),
                )
            }
            Measurement::Counts {
                rejected,
                written,
                at,
            } => (
                finite(*rejected).unwrap_or(0.0),
                finite(*written).unwrap_or(0.0),
                *at,
            ),
        };
    let records = rejected + written;
    // Counters' increase is extrapolated: less than one record is none.
    if records < 1.0 {
        return unknown(
            NO_RECORDS,
            format!("no record arrived in the last {WINDOW}: completeness is not judged"),
        );
    }
    // Prometheus extrapolates `increase` to the window's edges: the counts are estimates,
    // their ratio is what is judged.
    let percent = written / records * 100.0;
    let measured = MeasuredCompleteness {
        percent: (percent * 100.0).round() / 100.0,
        records: records.round() as u64,
        rejected: rejected.round() as u64,
        window: WINDOW.into(),
        measured_at: k8s_openapi::jiff::Timestamp::from_second(at)
            .map(|t| t.to_string())
            .unwrap_or_default(),
    };
    let summary = format!(
        "{:.2} % of the last {WINDOW}'s records passed (about {} records, {} rejected); the SLO is {} %",
        measured.percent, measured.records, measured.rejected, slo.target_percent
    );
    let (status, reason) = if percent >= slo.target_percent {
        (Truth::True, WITHIN_SLO)
    } else {
        (Truth::False, BREACHED)
    };
    CompletenessVerdict {
        status,
        reason,
        message: summary,
        measured: Some(measured),
    }
}

fn finite(value: Option<f64>) -> Option<f64> {
    value.filter(|v| v.is_finite() && *v >= 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slo(streams: bool) -> CompletenessSlo {
        CompletenessSlo {
            target_percent: 99.5,
            streams,
        }
    }

    fn counts(rejected: f64, written: f64) -> Measurement {
        Measurement::Counts {
            rejected: Some(rejected),
            written: Some(written),
            at: 1_764_669_600,
        }
    }

    #[test]
    fn the_share_of_written_records_is_judged_against_the_target() {
        let met = completeness(&slo(true), &counts(4.0, 996.0));
        assert_eq!((met.status, met.reason), (Truth::True, WITHIN_SLO));
        let measured = met.measured.unwrap();
        assert_eq!(
            (measured.percent, measured.records, measured.rejected),
            (99.6, 1000, 4)
        );
        assert_eq!(measured.window, "1h");
        assert_eq!(measured.measured_at, "2025-12-02T10:00:00Z");
        let breached = completeness(&slo(true), &counts(6.0, 994.0));
        assert_eq!((breached.status, breached.reason), (Truth::False, BREACHED));
        assert_eq!(
            breached.message,
            "99.40 % of the last 1h's records passed (about 1000 records, 6 rejected); the SLO is 99.5 %"
        );
    }

    #[test]
    fn no_records_no_prometheus_a_failed_query_and_batch_products_are_unknown() {
        let idle = completeness(&slo(true), &counts(0.0, 0.3));
        assert_eq!((idle.status, idle.reason), (Truth::Unknown, NO_RECORDS));
        let no_series = Measurement::Counts {
            rejected: None,
            written: Some(f64::NAN),
            at: 0,
        };
        assert_eq!(completeness(&slo(true), &no_series).reason, NO_RECORDS);
        let none = completeness(&slo(true), &Measurement::NoPrometheus);
        assert_eq!((none.status, none.reason), (Truth::Unknown, NOT_MEASURED));
        let down = completeness(
            &slo(true),
            &Measurement::Failed("connection refused".into()),
        );
        assert_eq!(
            (down.status, down.reason),
            (Truth::Unknown, PROMETHEUS_UNAVAILABLE)
        );
        assert!(
            down.message.contains("connection refused"),
            "{}",
            down.message
        );
        assert!(down.measured.is_none());
        let batch = completeness(&slo(false), &counts(0.0, 10.0));
        assert_eq!(batch.reason, NOT_MEASURED);
    }

    #[test]
    fn the_queries_select_the_products_series_and_the_time_is_the_periods_start() {
        let (rejected, written) = queries("orders/orders");
        assert_eq!(
            rejected,
            "sum(increase(meshplane_ingest_events_rejected_total{product=\"orders/orders\"}[1h]))"
        );
        assert!(written.starts_with("sum(increase(meshplane_ingest_rows_written_total{"));
        assert_eq!(evaluation_time(1_764_669_659), 1_764_669_600);
        assert_eq!(evaluation_time(1_764_669_600), 1_764_669_600);
    }
}
