//! The product's recent SLO history: each change of an SLO condition's status or reason
//! appended to `status.sloHistory`, bounded. Pure.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use meshplane_api::{DataProductStatus, SloTransition, SLO_HISTORY_LIMIT};

/// The SLO conditions and the names their history uses.
const SLO_CONDITIONS: [(&str, &str); 2] = [
    ("FreshnessSLOMet", "freshness"),
    ("CompletenessSLOMet", "completeness"),
];

fn find<'a>(status: Option<&'a DataProductStatus>, type_: &str) -> Option<&'a Condition> {
    status?.conditions.iter().find(|c| c.type_ == type_)
}

/// Appends to `next.slo_history` every SLO condition whose status or reason differs from
/// `previous` (a first verdict counts), then drops the oldest beyond the limit. The same
/// conditions append nothing, so a status without changes stays equal.
pub fn record(previous: Option<&DataProductStatus>, next: &mut DataProductStatus, now: &Time) {
    for (type_, slo) in SLO_CONDITIONS {
        let Some(after) = find(Some(next), type_) else {
            continue;
        };
        let changed = find(previous, type_).is_none_or(|before| {
            (&before.status, &before.reason) != (&after.status, &after.reason)
        });
        if changed {
            let transition = SloTransition {
                slo: slo.into(),
                status: after.status.clone(),
                reason: after.reason.clone(),
                message: after.message.clone(),
                at: now.clone(),
            };
            next.slo_history.push(transition);
        }
    }
    let excess = next.slo_history.len().saturating_sub(SLO_HISTORY_LIMIT);
    next.slo_history.drain(..excess);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> Time {
        Time(k8s_openapi::jiff::Timestamp::from_second(1_800_000_000 + seconds).unwrap())
    }

    fn with(conditions: &[(&str, &str, &str)]) -> DataProductStatus {
        DataProductStatus {
            conditions: conditions
                .iter()
                .map(|(type_, status, reason)| Condition {
                    type_: (*type_).into(),
                    status: (*status).into(),
                    reason: (*reason).into(),
                    message: format!("{reason} message"),
                    last_transition_time: at(0),
                    observed_generation: Some(1),
                })
                .collect(),
            ..Default::default()
        }
    }

    fn history(status: &DataProductStatus) -> Vec<(&str, &str, &str)> {
        status
            .slo_history
            .iter()
            .map(|t| (t.slo.as_str(), t.status.as_str(), t.reason.as_str()))
            .collect()
    }

    #[test]
    fn each_change_of_status_or_reason_is_kept_once_with_its_time_and_message() {
        let mut first = with(&[
            ("Ready", "True", "Provisioned"),
            ("FreshnessSLOMet", "Unknown", "NoEventYet"),
        ]);
        record(None, &mut first, &at(1));
        assert_eq!(history(&first), [("freshness", "Unknown", "NoEventYet")]);
        assert_eq!(first.slo_history[0].at, at(1));
        assert_eq!(first.slo_history[0].message, "NoEventYet message");

        // The same verdict again: nothing appended, the status stays equal.
        let mut same = first.clone();
        record(Some(&first), &mut same, &at(2));
        assert_eq!(same, first);

        let mut met = first.clone();
        met.conditions = with(&[
            ("FreshnessSLOMet", "True", "WithinSLO"),
            ("CompletenessSLOMet", "Unknown", "NoRecordsInWindow"),
        ])
        .conditions;
        record(Some(&first), &mut met, &at(3));
        let mut away = met.clone();
        // Same status, another reason: a change too.
        away.conditions = with(&[
            ("FreshnessSLOMet", "True", "WithinSLO"),
            ("CompletenessSLOMet", "Unknown", "PrometheusUnavailable"),
        ])
        .conditions;
        record(Some(&met), &mut away, &at(4));
        assert_eq!(
            history(&away),
            [
                ("freshness", "Unknown", "NoEventYet"),
                ("freshness", "True", "WithinSLO"),
                ("completeness", "Unknown", "NoRecordsInWindow"),
                ("completeness", "Unknown", "PrometheusUnavailable"),
            ]
        );
    }

    #[test]
    fn the_history_keeps_the_newest_changes_only() {
        let mut status = with(&[]);
        for i in 0..(SLO_HISTORY_LIMIT as i64 + 5) {
            let before = status.clone();
            let (state, reason) = if i % 2 == 0 {
                ("False", "FreshnessSLOBreached")
            } else {
                ("True", "WithinSLO")
            };
            status.conditions = with(&[("FreshnessSLOMet", state, reason)]).conditions;
            record(Some(&before), &mut status, &at(i));
        }
        assert_eq!(status.slo_history.len(), SLO_HISTORY_LIMIT);
        assert_eq!(
            status.slo_history.last().unwrap().at,
            at(SLO_HISTORY_LIMIT as i64 + 4)
        );
        assert_eq!(status.slo_history[0].at, at(5));
    }
}
