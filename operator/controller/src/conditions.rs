//! kstatus-compatible conditions, recomputed the same way every time: a condition keeps
//! its `lastTransitionTime` unless its status really changed, so an unchanged product
//! gets an identical status and no write.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

/// The conditions a DataProduct carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConditionType {
    /// kstatus: the product is provisioned as declared and its ingestion runs (see
    /// [`crate::status::derive_status`]).
    Ready,
    /// kstatus: the controller is working towards the declared state.
    Reconciling,
    /// kstatus: progress needs a change by someone (product, policy, topic operator).
    Stalled,
    /// The Enforce policies in force accept the product.
    PolicyCompliant,
    /// The bucket exists with its encryption, lifecycle and tags.
    StorageReady,
    /// The product's topics exist as declared.
    TopicReady,
    /// The ingestion workload runs.
    IngestionReady,
    /// ServiceMonitor, PrometheusRule and dashboard are applied.
    MonitoringReady,
    /// The newest committed event is within the product's freshness SLO (only products
    /// with `spec.slo.freshness`; `Unknown` while it cannot be measured).
    FreshnessSLOMet,
    /// The share of the last hour's records that passed the quality checks meets the
    /// product's completeness SLO (only products with `spec.slo.completeness`; `Unknown`
    /// while it cannot be measured).
    CompletenessSLOMet,
    /// AccessRequests: whether the request is approved (by the product's readers list, a
    /// policy or an approver); `Unknown` while it waits.
    Approved,
}

impl ConditionType {
    /// The condition's `type` as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            ConditionType::Ready => "Ready",
            ConditionType::Reconciling => "Reconciling",
            ConditionType::Stalled => "Stalled",
            ConditionType::PolicyCompliant => "PolicyCompliant",
            ConditionType::StorageReady => "StorageReady",
            ConditionType::TopicReady => "TopicReady",
            ConditionType::IngestionReady => "IngestionReady",
            ConditionType::MonitoringReady => "MonitoringReady",
            ConditionType::FreshnessSLOMet => "FreshnessSLOMet",
            ConditionType::CompletenessSLOMet => "CompletenessSLOMet",
            ConditionType::Approved => "Approved",
        }
    }
}

/// Sets condition `type_` in `conditions`, keeping the transition time when the status
/// is unchanged.
pub fn set(
    conditions: &mut Vec<Condition>,
    type_: ConditionType,
    status: bool,
    reason: &str,
    message: String,
    generation: Option<i64>,
    now: &Time,
) {
    let status = if status { "True" } else { "False" };
    set_status(conditions, type_, status, reason, message, generation, now);
}

/// [`set`] with any condition status (`True`, `False`, `Unknown`).
pub fn set_status(
    conditions: &mut Vec<Condition>,
    type_: ConditionType,
    status: &str,
    reason: &str,
    message: String,
    generation: Option<i64>,
    now: &Time,
) {
    let status = status.to_string();
    let type_ = type_.as_str();
    let previous = conditions.iter().position(|c| c.type_ == type_);
    let last_transition_time = match previous.map(|i| &conditions[i]) {
        Some(old) if old.status == status => old.last_transition_time.clone(),
        _ => now.clone(),
    };
    let condition = Condition {
        type_: type_.to_string(),
        status,
        reason: reason.to_string(),
        message,
        observed_generation: generation,
        last_transition_time,
    };
    match previous {
        Some(i) => conditions[i] = condition,
        None => conditions.push(condition),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::jiff::Timestamp;

    fn at(seconds: i64) -> Time {
        Time(Timestamp::from_second(seconds).unwrap())
    }

    #[test]
    fn an_unchanged_status_keeps_its_transition_time_and_a_change_moves_it() {
        let mut conditions = Vec::new();
        set(
            &mut conditions,
            ConditionType::Ready,
            false,
            "Provisioning",
            "m".into(),
            Some(1),
            &at(100),
        );
        set(
            &mut conditions,
            ConditionType::Ready,
            false,
            "Provisioning",
            "m".into(),
            Some(1),
            &at(200),
        );
        assert_eq!(conditions.len(), 1);
        assert_eq!(conditions[0].last_transition_time, at(100));
        set(
            &mut conditions,
            ConditionType::Ready,
            true,
            "Provisioned",
            "ok".into(),
            Some(1),
            &at(300),
        );
        assert_eq!(conditions[0].last_transition_time, at(300));
        assert_eq!(conditions[0].status, "True");
    }
}
