//! The product's freshness SLO, judged from the newest committed event time the workers
//! report (`status.lastEventTime`). Pure: the verdict and when to look again.
//!
//! Measured without Prometheus on purpose: the workers write the time into the product,
//! so the condition holds whether or not a Prometheus scrapes them.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::SignedDuration;
use std::time::Duration;

/// Condition reason: the newest committed event is within the SLO.
pub const WITHIN_SLO: &str = "WithinSLO";
/// Condition reason (and Warning Event): the newest committed event is older than the SLO.
pub const BREACHED: &str = "FreshnessSLOBreached";
/// Condition reason: nothing was committed to the table yet.
pub const NO_EVENT_YET: &str = "NoEventYet";
/// Condition reason: the product's kind of ingestion does not run yet, or the reported
/// time cannot be read.
pub const NOT_MEASURED: &str = "NotMeasured";

/// A product's freshness promise.
#[derive(Debug, Clone, PartialEq)]
pub struct FreshnessSlo {
    /// `spec.slo.freshness` as written.
    pub text: String,
    /// The same as a duration.
    pub limit: Duration,
    /// Whether workers stream into the table (only they report event times).
    pub streams: bool,
}

/// A condition status, with the third value conditions may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Truth {
    /// The SLO holds.
    True,
    /// The SLO is breached.
    False,
    /// Not known, for the reason given.
    Unknown,
}

impl Truth {
    /// As a condition stores it.
    pub fn as_str(self) -> &'static str {
        match self {
            Truth::True => "True",
            Truth::False => "False",
            Truth::Unknown => "Unknown",
        }
    }
}

/// The `FreshnessSLOMet` condition to write, and when the verdict changes by itself if no
/// newer event comes (only while the SLO holds).
#[derive(Debug, Clone, PartialEq)]
pub struct FreshnessVerdict {
    /// Condition status.
    pub status: Truth,
    /// Condition reason.
    pub reason: &'static str,
    /// Condition message.
    pub message: String,
    /// Time until the newest event ages past the SLO.
    pub breach_in: Option<Duration>,
}

/// Judges `slo` against the newest committed event time a stored status holds.
pub fn freshness_of(
    slo: &FreshnessSlo,
    status: Option<&meshplane_api::DataProductStatus>,
    now: &Time,
) -> FreshnessVerdict {
    freshness(slo, status.and_then(|s| s.last_event_time.as_deref()), now)
}

/// Judges `slo` against the newest committed event time (RFC 3339) at `now`.
pub fn freshness(
    slo: &FreshnessSlo,
    last_event_time: Option<&str>,
    now: &Time,
) -> FreshnessVerdict {
    let verdict = |status, reason, message: String| FreshnessVerdict {
        status,
        reason,
        message,
        breach_in: None,
    };
    if !slo.streams {
        return verdict(
            Truth::Unknown,
            NOT_MEASURED,
            "scheduled pulls and derived products do not run yet: freshness is not measured".into(),
        );
    }
    let Some(text) = last_event_time else {
        return verdict(
            Truth::Unknown,
            NO_EVENT_YET,
            "no event has been committed to the table yet".into(),
        );
    };
    let Ok(newest) = text.parse::<k8s_openapi::jiff::Timestamp>() else {
        return verdict(
            Truth::Unknown,
            NOT_MEASURED,
            format!("status.lastEventTime {text:?} is not an RFC 3339 time"),
        );
    };
    let age = now.0.duration_since(newest);
    let limit = SignedDuration::try_from(slo.limit).unwrap_or(SignedDuration::MAX);
    if age <= limit {
        FreshnessVerdict {
            status: Truth::True,
            reason: WITHIN_SLO,
            message: format!(
                "the newest committed event ({text}) is within the {} freshness SLO",
                slo.text
            ),
            breach_in: Duration::try_from(limit - age).ok(),
        }
    } else {
        verdict(
            Truth::False,
            BREACHED,
            format!(
                "the newest committed event ({text}) is older than the {} freshness SLO",
                slo.text
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(rfc3339: &str) -> Time {
        Time(rfc3339.parse().unwrap())
    }

    fn slo(streams: bool) -> FreshnessSlo {
        FreshnessSlo {
            text: "10m".into(),
            limit: Duration::from_secs(600),
            streams,
        }
    }

    #[test]
    fn a_recent_event_meets_the_slo_until_it_ages_past_it() {
        let v = freshness(
            &slo(true),
            Some("2026-12-02T10:00:00Z"),
            &at("2026-12-02T10:04:00Z"),
        );
        assert_eq!((v.status, v.reason), (Truth::True, WITHIN_SLO));
        assert_eq!(v.breach_in, Some(Duration::from_secs(360)));
        assert_eq!(
            v.message,
            "the newest committed event (2026-12-02T10:00:00Z) is within the 10m freshness SLO"
        );
        let exactly = freshness(
            &slo(true),
            Some("2026-12-02T10:00:00Z"),
            &at("2026-12-02T10:10:00Z"),
        );
        assert_eq!(exactly.status, Truth::True);
    }

    #[test]
    fn an_old_event_breaches_it() {
        let v = freshness(
            &slo(true),
            Some("2026-12-02T10:00:00Z"),
            &at("2026-12-02T10:10:01Z"),
        );
        assert_eq!((v.status, v.reason), (Truth::False, BREACHED));
        assert_eq!(v.breach_in, None);
    }

    #[test]
    fn without_an_event_or_a_stream_it_is_unknown() {
        let now = at("2026-12-02T10:00:00Z");
        let none = freshness(&slo(true), None, &now);
        assert_eq!((none.status, none.reason), (Truth::Unknown, NO_EVENT_YET));
        let batch = freshness(&slo(false), Some("2026-12-02T10:00:00Z"), &now);
        assert_eq!((batch.status, batch.reason), (Truth::Unknown, NOT_MEASURED));
        let garbled = freshness(&slo(true), Some("yesterday"), &now);
        assert_eq!(
            (garbled.status, garbled.reason),
            (Truth::Unknown, NOT_MEASURED)
        );
        assert!(
            garbled.message.contains("\"yesterday\""),
            "{}",
            garbled.message
        );
    }
}
