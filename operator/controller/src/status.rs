//! The product's status, derived in one place from what the steps of a reconcile
//! reported. Pure: [`derive_status`] takes the previous status, the reports, the
//! generation and the time, so every rule about conditions is tested without a cluster.

use crate::conditions::set;
pub use crate::conditions::ConditionType;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use meshplane_api::{DataProductStatus, ProductEndpoints};

/// The decide step: the governance engine's verdict on the stored product.
#[derive(Debug, Clone, PartialEq)]
pub struct DecideReport {
    /// No Enforce policy rejects the product.
    pub allowed: bool,
    /// Findings, one line each.
    pub violations: Vec<String>,
    /// Compliance tags derived by governance.
    pub compliance_tags: Vec<String>,
    /// How many policies apply.
    pub policies: usize,
    /// The source in one line.
    pub source: String,
}

/// The storage step.
#[derive(Debug, Clone, PartialEq)]
pub struct StorageReport {
    /// Bucket name.
    pub bucket: String,
    /// Created by this pass.
    pub created: bool,
    /// Settings found drifted and repaired.
    pub repaired: Vec<String>,
    /// Lifecycle expiration.
    pub expiration_days: u64,
}

impl StorageReport {
    /// The StorageReady reason.
    pub fn reason(&self) -> &'static str {
        if !self.created && !self.repaired.is_empty() {
            "DriftRepaired"
        } else {
            "BucketReady"
        }
    }

    /// What happened to the bucket, for the condition and the step's Event.
    pub fn message(&self) -> String {
        if self.created {
            format!("bucket {} created", self.bucket)
        } else if !self.repaired.is_empty() {
            format!(
                "bucket {} drift repaired: {}",
                self.bucket,
                self.repaired.join(", ")
            )
        } else {
            format!(
                "bucket {} encrypted, expiring after {} days",
                self.bucket, self.expiration_days
            )
        }
    }
}

/// The children step: server-side apply, then pruning.
#[derive(Debug, Clone, PartialEq)]
pub struct ChildrenReport {
    /// Children applied.
    pub applied: usize,
    /// Orphans deleted (`Kind namespace/name`).
    pub pruned: Vec<String>,
}

/// The topics step.
#[derive(Debug, Clone, PartialEq)]
pub struct TopicsReport {
    /// All topics exist as declared.
    pub ready: bool,
    /// Condition reason.
    pub reason: &'static str,
    /// Condition message.
    pub message: String,
}

impl TopicsReport {
    /// The topic operator has not answered yet (rather than refused).
    pub fn waiting(&self) -> bool {
        !self.ready && self.reason != "KafkaTopicFailed"
    }
}

/// The workload step: whether ingestion runs.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkloadReport {
    /// Workers are available (or the scheduled workload is in place).
    pub up: bool,
    /// Condition reason.
    pub reason: &'static str,
    /// Condition message.
    pub message: String,
}

/// A step that failed; the rest of the pass did not run.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    /// Why, as the error says it.
    pub message: String,
}

/// What one reconcile found, step by step; a step that did not run has no report.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reports {
    /// Decide.
    pub decide: Option<DecideReport>,
    /// Storage.
    pub storage: Option<StorageReport>,
    /// Children (apply and prune).
    pub children: Option<ChildrenReport>,
    /// Topics.
    pub topics: Option<TopicsReport>,
    /// Workload.
    pub workload: Option<WorkloadReport>,
    /// Where users find the product's data (from the plan).
    pub endpoints: Option<ProductEndpoints>,
    /// The step that failed, if one did.
    pub failure: Option<Failure>,
}

/// How a reconcile ended, as the status says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Everything is provisioned.
    Provisioned,
    /// Provisioned so far; waiting on another system (the topic operator).
    Waiting,
    /// An Enforce policy rejects the product; nothing was provisioned.
    NonCompliant,
    /// A step failed; retried with backoff.
    Failed,
    /// Only the workload was looked at (nothing that shapes provisioning changed).
    Refreshed,
}

/// The status the reports call for. Conditions keep their transition times unless their
/// status changes, so the same reports give the same status (and no write).
pub fn derive_status(
    previous: Option<&DataProductStatus>,
    reports: &Reports,
    generation: Option<i64>,
    now: &Time,
) -> (DataProductStatus, Outcome) {
    use ConditionType::*;
    let mut status = previous.cloned().unwrap_or_default();
    let conditions = &mut status.conditions;
    let mut put = |type_: ConditionType, value: bool, reason: &str, message: String| {
        set(conditions, type_, value, reason, message, generation, now)
    };

    if let Some(decide) = &reports.decide {
        status_decided(&mut put, decide);
    }
    if let Some(storage) = &reports.storage {
        put(StorageReady, true, storage.reason(), storage.message());
    }
    if let Some(workload) = &reports.workload {
        put(
            IngestionReady,
            workload.up,
            workload.reason,
            workload.message.clone(),
        );
    }
    if reports.children.is_some() {
        put(
            MonitoringReady,
            true,
            "MonitoringApplied",
            "ServiceMonitor, PrometheusRule and dashboard applied".into(),
        );
    }
    if let Some(topics) = &reports.topics {
        put(
            TopicReady,
            topics.ready,
            topics.reason,
            topics.message.clone(),
        );
    }

    let outcome = if let Some(failure) = &reports.failure {
        put(Ready, false, "ProvisioningFailed", failure.message.clone());
        put(
            Reconciling,
            true,
            "ProvisioningFailed",
            failure.message.clone(),
        );
        Outcome::Failed
    } else if let Some(decide) = reports.decide.as_ref().filter(|d| !d.allowed) {
        put(
            Ready,
            false,
            "PolicyViolation",
            decide.violations.join("; "),
        );
        put(
            Stalled,
            true,
            "PolicyViolation",
            "the product violates an Enforce policy; change the product or the policy".into(),
        );
        put(Reconciling, false, "PolicyViolation", String::new());
        Outcome::NonCompliant
    } else if let Some(topics) = reports.topics.as_ref().filter(|t| !t.ready) {
        let waiting = topics.waiting();
        put(Ready, false, topics.reason, topics.message.clone());
        put(Reconciling, waiting, topics.reason, topics.message.clone());
        put(Stalled, !waiting, topics.reason, topics.message.clone());
        Outcome::Waiting
    } else if reports.topics.is_some() {
        put(
            Ready,
            true,
            "Provisioned",
            "storage, workload, access and monitoring provisioned".into(),
        );
        put(Reconciling, false, "Provisioned", String::new());
        put(Stalled, false, "Provisioned", String::new());
        Outcome::Provisioned
    } else {
        Outcome::Refreshed
    };

    if let Some(decide) = &reports.decide {
        status.observed_generation = generation;
        status.source = Some(decide.source.clone());
        status.compliance_tags = decide.compliance_tags.clone();
        status.violations = decide.violations.clone();
    }
    if let Some(endpoints) = &reports.endpoints {
        status.endpoints = Some(endpoints.clone());
    }
    (status, outcome)
}

fn status_decided(put: &mut impl FnMut(ConditionType, bool, &str, String), decide: &DecideReport) {
    if decide.allowed {
        put(
            ConditionType::PolicyCompliant,
            true,
            "Compliant",
            format!("{} policies apply", decide.policies),
        );
    } else {
        put(
            ConditionType::PolicyCompliant,
            false,
            "PolicyViolation",
            decide.violations.join("; "),
        );
    }
}

/// Whether the stored status says the product was compliant (or says nothing yet): a
/// transition to non-compliant deserves an Event.
pub fn was_compliant(previous: Option<&DataProductStatus>) -> bool {
    previous
        .and_then(|s| {
            s.conditions
                .iter()
                .find(|c| c.type_ == ConditionType::PolicyCompliant.as_str())
        })
        .is_none_or(|c| c.status == "True")
}

/// Whether the stored status says Ready for this generation.
pub fn is_ready(previous: Option<&DataProductStatus>, generation: Option<i64>) -> bool {
    previous.is_some_and(|s| {
        s.conditions.iter().any(|c| {
            c.type_ == ConditionType::Ready.as_str()
                && c.status == "True"
                && c.observed_generation == generation
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::jiff::Timestamp;

    fn at(seconds: i64) -> Time {
        Time(Timestamp::from_second(seconds).unwrap())
    }

    fn condition(status: &DataProductStatus, type_: ConditionType) -> (&str, &str) {
        let c = status
            .conditions
            .iter()
            .find(|c| c.type_ == type_.as_str())
            .unwrap_or_else(|| panic!("no {}", type_.as_str()));
        (c.status.as_str(), c.reason.as_str())
    }

    fn decided(allowed: bool) -> DecideReport {
        DecideReport {
            allowed,
            violations: if allowed {
                vec![]
            } else {
                vec!["spec.retention: too long".into()]
            },
            compliance_tags: vec!["gdpr".into()],
            policies: 1,
            source: "kafka:orders.events".into(),
        }
    }

    fn full_pass() -> Reports {
        Reports {
            decide: Some(decided(true)),
            storage: Some(StorageReport {
                bucket: "b".into(),
                created: true,
                repaired: vec![],
                expiration_days: 90,
            }),
            children: Some(ChildrenReport {
                applied: 13,
                pruned: vec![],
            }),
            topics: Some(TopicsReport {
                ready: true,
                reason: "TopicsProvisioned",
                message: "ok".into(),
            }),
            workload: Some(WorkloadReport {
                up: false,
                reason: "WorkerUnavailable",
                message: "none yet".into(),
            }),
            endpoints: Some(ProductEndpoints::default()),
            failure: None,
        }
    }

    #[test]
    fn a_full_pass_is_ready_and_the_same_reports_give_the_same_status() {
        let (first, outcome) = derive_status(None, &full_pass(), Some(1), &at(100));
        assert_eq!(outcome, Outcome::Provisioned);
        assert_eq!(
            condition(&first, ConditionType::Ready),
            ("True", "Provisioned")
        );
        assert_eq!(condition(&first, ConditionType::Stalled).0, "False");
        assert_eq!(
            condition(&first, ConditionType::StorageReady),
            ("True", "BucketReady")
        );
        assert_eq!(condition(&first, ConditionType::IngestionReady).0, "False");
        assert_eq!(first.observed_generation, Some(1));
        assert_eq!(first.compliance_tags, vec!["gdpr".to_string()]);
        let (again, _) = derive_status(Some(&first), &full_pass(), Some(1), &at(200));
        assert_eq!(again, first, "no change, no new transition times");
    }

    #[test]
    fn a_policy_violation_stalls_and_keeps_what_was_provisioned() {
        let (ready, _) = derive_status(None, &full_pass(), Some(1), &at(100));
        let reports = Reports {
            decide: Some(decided(false)),
            ..Reports::default()
        };
        let (status, outcome) = derive_status(Some(&ready), &reports, Some(2), &at(200));
        assert_eq!(outcome, Outcome::NonCompliant);
        assert_eq!(
            condition(&status, ConditionType::PolicyCompliant),
            ("False", "PolicyViolation")
        );
        assert_eq!(
            condition(&status, ConditionType::Ready),
            ("False", "PolicyViolation")
        );
        assert_eq!(
            condition(&status, ConditionType::Stalled),
            ("True", "PolicyViolation")
        );
        assert_eq!(condition(&status, ConditionType::Reconciling).0, "False");
        assert_eq!(condition(&status, ConditionType::StorageReady).0, "True");
        assert_eq!(
            status.violations,
            vec!["spec.retention: too long".to_string()]
        );
    }

    #[test]
    fn a_failed_step_is_not_ready_and_reconciling_with_the_error() {
        let reports = Reports {
            decide: Some(decided(true)),
            failure: Some(Failure {
                message: "failed to create bucket b: timeout".into(),
            }),
            ..Reports::default()
        };
        let (status, outcome) = derive_status(None, &reports, Some(1), &at(100));
        assert_eq!(outcome, Outcome::Failed);
        assert_eq!(
            condition(&status, ConditionType::Ready),
            ("False", "ProvisioningFailed")
        );
        assert_eq!(
            condition(&status, ConditionType::Reconciling),
            ("True", "ProvisioningFailed")
        );
        assert!(status.conditions.iter().all(|c| c.type_ != "StorageReady"));
    }

    #[test]
    fn a_pending_topic_waits_and_a_failed_topic_stalls() {
        let mut reports = full_pass();
        reports.topics = Some(TopicsReport {
            ready: false,
            reason: "KafkaTopicPending",
            message: "not ready yet".into(),
        });
        let (status, outcome) = derive_status(None, &reports, Some(1), &at(100));
        assert_eq!(outcome, Outcome::Waiting);
        assert_eq!(condition(&status, ConditionType::Reconciling).0, "True");
        assert_eq!(condition(&status, ConditionType::Stalled).0, "False");
        reports.topics = Some(TopicsReport {
            ready: false,
            reason: "KafkaTopicFailed",
            message: "invalid config".into(),
        });
        let (status, _) = derive_status(None, &reports, Some(1), &at(100));
        assert_eq!(condition(&status, ConditionType::Stalled).0, "True");
        assert_eq!(condition(&status, ConditionType::Reconciling).0, "False");
    }

    #[test]
    fn a_refresh_changes_only_ingestion_ready() {
        let (ready, _) = derive_status(None, &full_pass(), Some(1), &at(100));
        let reports = Reports {
            decide: Some(decided(true)),
            workload: Some(WorkloadReport {
                up: true,
                reason: "WorkerAvailable",
                message: "1 ingestion worker(s) available".into(),
            }),
            ..Reports::default()
        };
        let (status, outcome) = derive_status(Some(&ready), &reports, Some(1), &at(200));
        assert_eq!(outcome, Outcome::Refreshed);
        assert_eq!(
            condition(&status, ConditionType::IngestionReady),
            ("True", "WorkerAvailable")
        );
        let unchanged: Vec<_> = ready
            .conditions
            .iter()
            .filter(|c| c.type_ != "IngestionReady")
            .collect();
        for c in unchanged {
            assert!(status.conditions.contains(c), "{} changed", c.type_);
        }
    }
}
