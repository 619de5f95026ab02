//! The product's status, derived in one place from what the steps of a reconcile
//! reported. Pure: [`derive_status`] takes the previous status, the reports, the
//! generation and the time, so every rule about conditions is tested without a cluster.

use crate::completeness::CompletenessVerdict;
pub use crate::conditions::ConditionType;
use crate::conditions::{set, set_status};
use crate::slo::{freshness_of, FreshnessSlo};
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
    /// Lifecycle expiration (of the dead letters).
    pub expiration_days: u64,
    /// The Iceberg table; `None` when no catalog is configured.
    pub table: Option<TableReport>,
}

/// The product's Iceberg table after the storage step.
#[derive(Debug, Clone, PartialEq)]
pub struct TableReport {
    /// Catalog name.
    pub catalog: String,
    /// `namespace.name`.
    pub identifier: String,
    /// Location.
    pub location: String,
    /// Created by this pass.
    pub created: bool,
    /// Columns added by this pass.
    pub added_columns: Vec<String>,
    /// Current snapshot.
    pub snapshot_id: Option<i64>,
    /// Current metadata file.
    pub metadata_location: Option<String>,
    /// How the table is maintained.
    pub maintenance: String,
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

    /// What happened to the bucket and the table, for the condition and the step's Event.
    pub fn message(&self) -> String {
        let table = match &self.table {
            Some(t) if t.created => {
                format!("; Iceberg table {}.{} created", t.catalog, t.identifier)
            }
            Some(t) if !t.added_columns.is_empty() => format!(
                "; Iceberg table {}.{}: columns {} added",
                t.catalog,
                t.identifier,
                t.added_columns.join(", ")
            ),
            Some(t) => format!("; Iceberg table {}.{}", t.catalog, t.identifier),
            None => "; no Iceberg catalog is configured: the table is not created".into(),
        };
        format!("{}{table}", self.bucket_message())
    }

    fn bucket_message(&self) -> String {
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
                "bucket {} encrypted, dead letters expiring after {} days",
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

/// Why the ingestion workload is, or is not, up: the `IngestionReady` reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkloadReason {
    /// At least one worker is available.
    Available,
    /// No worker is available and no pod says why: none yet, or starting.
    Unavailable,
    /// A worker's image cannot be pulled (or is absent with pull policy `Never`).
    ImageMissing,
    /// A worker exits with an error and is restarted again and again.
    CrashLooping,
    /// No node can take a worker pod.
    Unschedulable,
    /// The product's kind of ingestion (scheduled batch pulls, derived products) does not
    /// run yet: its CronJob is suspended and nothing fills the table.
    NotYetSupported,
    /// Workers of the previous template are available (data flows), but the new pods of a
    /// rollout fail (image missing, crash loop, unschedulable), so the product's change
    /// (plan or rotated Secret) has not taken effect.
    RolloutStuck,
}

impl WorkloadReason {
    /// Every reason, for reading one back from a stored condition.
    pub const ALL: [WorkloadReason; 7] = [
        WorkloadReason::Available,
        WorkloadReason::Unavailable,
        WorkloadReason::ImageMissing,
        WorkloadReason::CrashLooping,
        WorkloadReason::Unschedulable,
        WorkloadReason::NotYetSupported,
        WorkloadReason::RolloutStuck,
    ];

    /// The condition reason as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            WorkloadReason::Available => "WorkerAvailable",
            WorkloadReason::Unavailable => "WorkerUnavailable",
            WorkloadReason::ImageMissing => "WorkerImageMissing",
            WorkloadReason::CrashLooping => "WorkerCrashLooping",
            WorkloadReason::Unschedulable => "WorkerUnschedulable",
            WorkloadReason::NotYetSupported => "NotYetSupported",
            WorkloadReason::RolloutStuck => "WorkerRolloutStuck",
        }
    }

    /// The reason a stored condition names, if it is a workload reason.
    pub fn parse(reason: &str) -> Option<WorkloadReason> {
        WorkloadReason::ALL
            .into_iter()
            .find(|r| r.as_str() == reason)
    }

    /// The workers fail in a way a pod tells (not merely "none available yet").
    pub fn is_failure(self) -> bool {
        matches!(
            self,
            WorkloadReason::ImageMissing
                | WorkloadReason::CrashLooping
                | WorkloadReason::Unschedulable
        )
    }

    /// Waiting does not help: no controller action will make the workload run.
    pub fn stalls(self) -> bool {
        self == WorkloadReason::NotYetSupported
    }
}

/// The workload step: whether ingestion runs, and if not, why.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkloadReport {
    /// Condition reason.
    pub reason: WorkloadReason,
    /// Condition message.
    pub message: String,
}

impl WorkloadReport {
    /// At least one worker is available (possibly of the previous template, while a
    /// rollout is stuck).
    pub fn up(&self) -> bool {
        matches!(
            self.reason,
            WorkloadReason::Available | WorkloadReason::RolloutStuck
        )
    }
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
    /// The product's own worker keys (when the platform issues them per product).
    pub worker_credentials: Option<meshplane_api::WorkerCredentials>,
    /// The step that failed, if one did.
    pub failure: Option<Failure>,
    /// The product's freshness SLO, judged against the stored `status.lastEventTime`.
    pub freshness: Option<FreshnessSlo>,
    /// The product's completeness SLO, judged against what Prometheus measured.
    pub completeness: Option<CompletenessVerdict>,
}

/// How a reconcile ended, as the status says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Everything is provisioned and a worker is available: Ready.
    Provisioned,
    /// Everything is provisioned but the workload is not up: its workers are starting or
    /// failing (Reconciling), or its kind of ingestion does not run yet (Stalled).
    WorkloadDown,
    /// Provisioned so far; waiting on another system (the topic operator).
    Waiting,
    /// An Enforce policy rejects the product; nothing was provisioned.
    NonCompliant,
    /// A step failed; retried with backoff.
    Failed,
    /// Only the workload was looked at, and the stored status does not say the product
    /// was provisioned for this generation: Ready is left as it was.
    Refreshed,
}

/// The status the reports call for. Conditions keep their transition times unless their
/// status changes, so the same reports give the same status (and no write).
///
/// Ready is True only when the product is provisioned and its workload is up. Provisioned
/// means this pass ran every step (its topics report is there and ready), or this pass
/// only refreshed the workload and [`was_provisioned`] says the last full pass did, for
/// this generation. A provisioned product whose workload is not up is Ready=False with
/// the workload's reason and message, and Reconciling=True (workers starting or failing)
/// or Stalled=True (`NotYetSupported`). So a refresh flips Ready both ways as workers come
/// and go.
pub fn derive_status(
    previous: Option<&DataProductStatus>,
    reports: &Reports,
    generation: Option<i64>,
    now: &Time,
) -> (DataProductStatus, Outcome) {
    use ConditionType::*;
    let provisioned_before = was_provisioned(previous, generation);
    let mut status = previous.cloned().unwrap_or_default();
    let conditions = &mut status.conditions;
    if let Some(slo) = &reports.freshness {
        let verdict = freshness_of(slo, previous, now);
        set_status(
            conditions,
            FreshnessSLOMet,
            verdict.status.as_str(),
            verdict.reason,
            verdict.message,
            generation,
            now,
        );
    }

    if let Some(verdict) = &reports.completeness {
        set_status(
            conditions,
            CompletenessSLOMet,
            verdict.status.as_str(),
            verdict.reason,
            verdict.message.clone(),
            generation,
            now,
        );
        // An unanswered query keeps the last measurement (its time says how old it is).
        if verdict.measured.is_some() {
            status.measured_completeness = verdict.measured.clone();
        }
    }

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
            workload.up(),
            workload.reason.as_str(),
            workload.message.clone(),
        );
    }
    if reports.children.is_some() {
        put(
            MonitoringReady,
            true,
            "MonitoringApplied",
            "ServiceMonitor, dashboard and the SLO alerts of streaming products applied".into(),
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
    } else if let Some(workload) = reports
        .workload
        .as_ref()
        .filter(|_| reports.topics.is_some() || provisioned_before)
    {
        if workload.up() {
            put(
                Ready,
                true,
                "Provisioned",
                format!(
                    "storage, topics, access and monitoring provisioned; {}",
                    workload.message
                ),
            );
            put(Reconciling, false, "Provisioned", String::new());
            put(Stalled, false, "Provisioned", String::new());
            Outcome::Provisioned
        } else {
            let (reason, message) = (workload.reason.as_str(), &workload.message);
            let stalled = workload.reason.stalls();
            put(Ready, false, reason, message.clone());
            put(Reconciling, !stalled, reason, message.clone());
            put(Stalled, stalled, reason, message.clone());
            Outcome::WorkloadDown
        }
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
        // A full pass (it plans the endpoints) also says whose keys the workers use:
        // none of their own when the namespace's pair is shared.
        status.worker_credentials = reports.worker_credentials.clone();
        status.endpoints = Some(endpoints.clone());
    }
    if let Some(table) = reports.storage.as_ref().and_then(|s| s.table.as_ref()) {
        status.table = Some(meshplane_api::ProductTable {
            catalog: Some(table.catalog.clone()),
            identifier: Some(table.identifier.clone()),
            location: Some(table.location.clone()),
            // The worker reports later snapshots; the controller's look never goes back.
            current_snapshot_id: table.snapshot_id.or_else(|| {
                previous
                    .and_then(|p| p.table.as_ref())
                    .and_then(|t| t.current_snapshot_id)
            }),
            metadata_location: table.metadata_location.clone(),
            maintenance: Some(table.maintenance.clone()),
        });
    }
    crate::slo_history::record(previous, &mut status, now);
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

/// Whether the stored status says that a full pass provisioned everything but the
/// workload for this generation: its Ready condition, of this generation, is True, or
/// False for a workload reason ([`WorkloadReason`]).
///
/// Ready's reason doubles as the marker because [`derive_status`] gives Ready a workload
/// reason only past every other check (no failure, compliant, topics ready), and every
/// other outcome (a failed step, a policy violation, a topic not ready) overwrites the
/// reason with its own. No separate condition is needed, and a new generation (its Ready
/// not yet written) is never taken for provisioned.
pub fn was_provisioned(previous: Option<&DataProductStatus>, generation: Option<i64>) -> bool {
    previous
        .and_then(|s| {
            s.conditions
                .iter()
                .find(|c| c.type_ == ConditionType::Ready.as_str())
        })
        .is_some_and(|c| {
            c.observed_generation == generation
                && (c.status == "True" || WorkloadReason::parse(&c.reason).is_some())
        })
}

/// A change of `IngestionReady` that deserves an Event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkerChange {
    /// A worker became available (Normal).
    Available,
    /// The workers were lost, or started failing for a new reason a pod tells (Warning).
    Down,
    /// Workers are available but a rollout's new pods fail (Warning).
    RolloutStuck,
}

/// What `report` changes about the stored `IngestionReady`, if it deserves an Event: only
/// transitions, so a crash loop reported at every reconcile is told once.
pub fn worker_change(
    previous: Option<&DataProductStatus>,
    report: &WorkloadReport,
) -> Option<WorkerChange> {
    let before = previous.and_then(|s| {
        s.conditions
            .iter()
            .find(|c| c.type_ == ConditionType::IngestionReady.as_str())
    });
    let was_up = before.is_some_and(|c| c.status == "True");
    let was_stuck = before.is_some_and(|c| c.reason == WorkloadReason::RolloutStuck.as_str());
    if report.reason == WorkloadReason::RolloutStuck {
        return (!was_stuck).then_some(WorkerChange::RolloutStuck);
    }
    if report.up() {
        return (!was_up || was_stuck).then_some(WorkerChange::Available);
    }
    let new_failure =
        report.reason.is_failure() && before.is_none_or(|c| c.reason != report.reason.as_str());
    (was_up || new_failure).then_some(WorkerChange::Down)
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
                table: None,
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
            workload: Some(workers(WorkloadReason::Available)),
            endpoints: Some(ProductEndpoints::default()),
            worker_credentials: None,
            failure: None,
            freshness: None,
            completeness: None,
        }
    }

    fn workers(reason: WorkloadReason) -> WorkloadReport {
        WorkloadReport {
            reason,
            message: format!("{} (test)", reason.as_str()),
        }
    }

    /// A full pass whose workload step reported `reason`.
    fn full_pass_with(reason: WorkloadReason) -> Reports {
        Reports {
            workload: Some(workers(reason)),
            ..full_pass()
        }
    }

    /// A refresh: the decision, then only the workload step.
    fn refresh(reason: WorkloadReason) -> Reports {
        Reports {
            decide: Some(decided(true)),
            workload: Some(workers(reason)),
            ..Reports::default()
        }
    }

    /// `(status, reason)` of Ready, Reconciling and Stalled.
    fn kstatus(status: &DataProductStatus) -> [(&str, &str); 3] {
        [
            condition(status, ConditionType::Ready),
            condition(status, ConditionType::Reconciling),
            condition(status, ConditionType::Stalled),
        ]
    }

    #[test]
    fn completeness_is_a_condition_with_its_measurement_kept_while_prometheus_is_away() {
        use crate::completeness::{completeness, CompletenessSlo, Measurement};
        let slo = CompletenessSlo {
            target_percent: 99.5,
            streams: true,
        };
        let with = |measurement: Measurement| Reports {
            completeness: Some(completeness(&slo, &measurement)),
            ..refresh(WorkloadReason::Available)
        };
        let measured = Measurement::Counts {
            rejected: Some(10.0),
            written: Some(990.0),
            at: 3_600,
        };
        let (breached, _) = derive_status(None, &with(measured), Some(1), &at(3_650));
        assert_eq!(
            condition(&breached, ConditionType::CompletenessSLOMet),
            ("False", "CompletenessSLOBreached")
        );
        let kept = breached.measured_completeness.clone().unwrap();
        assert_eq!(
            (kept.percent, kept.records, kept.rejected),
            (99.0, 1000, 10)
        );
        let down = with(Measurement::Failed("connection refused".into()));
        let (unknown, _) = derive_status(Some(&breached), &down, Some(1), &at(3_700));
        assert_eq!(
            condition(&unknown, ConditionType::CompletenessSLOMet),
            ("Unknown", "PrometheusUnavailable")
        );
        assert_eq!(unknown.measured_completeness, Some(kept));
        // No SLO declared: no condition.
        let (none, _) = derive_status(None, &refresh(WorkloadReason::Available), Some(1), &at(1));
        assert!(none
            .conditions
            .iter()
            .all(|c| c.type_ != ConditionType::CompletenessSLOMet.as_str()));
    }

    #[test]
    fn the_freshness_slo_is_judged_from_the_reported_event_time_on_every_pass() {
        let slo = crate::slo::FreshnessSlo {
            text: "10m".into(),
            limit: std::time::Duration::from_secs(600),
            streams: true,
        };
        let with_slo = |reports: Reports| Reports {
            freshness: Some(slo.clone()),
            ..reports
        };
        let (first, _) = derive_status(None, &with_slo(full_pass()), Some(1), &at(1_000));
        assert_eq!(
            condition(&first, ConditionType::FreshnessSLOMet),
            ("Unknown", "NoEventYet")
        );
        // The worker reports an event time; a refresh (not a full pass) judges it.
        let mut reported = first.clone();
        reported.last_event_time = Some("1970-01-01T00:16:40Z".into()); // 1,000 s
        let refreshed = with_slo(refresh(WorkloadReason::Available));
        let (met, _) = derive_status(Some(&reported), &refreshed, Some(1), &at(1_300));
        assert_eq!(
            condition(&met, ConditionType::FreshnessSLOMet),
            ("True", "WithinSLO")
        );
        let (breached, _) = derive_status(Some(&met), &refreshed, Some(1), &at(1_601));
        assert_eq!(
            condition(&breached, ConditionType::FreshnessSLOMet),
            ("False", "FreshnessSLOBreached")
        );
        assert_eq!(condition(&breached, ConditionType::Ready).0, "True");
        // No SLO declared: no condition.
        let (none, _) = derive_status(None, &full_pass(), Some(1), &at(1_000));
        assert!(none
            .conditions
            .iter()
            .all(|c| c.type_ != ConditionType::FreshnessSLOMet.as_str()));
    }

    #[test]
    fn the_workers_own_keys_are_kept_by_a_refresh_and_dropped_by_a_full_pass_without_them() {
        let keys = meshplane_api::WorkerCredentials {
            secret: "orders-worker-keys".into(),
            user: Some("meshplane-worker-u1".into()),
            access_key_id: Some("AK1".into()),
            issued_at: None,
        };
        let issued = Reports {
            worker_credentials: Some(keys.clone()),
            ..full_pass()
        };
        let (first, _) = derive_status(None, &issued, Some(1), &at(100));
        assert_eq!(first.worker_credentials.as_ref(), Some(&keys));
        let (refreshed, _) = derive_status(
            Some(&first),
            &refresh(WorkloadReason::Available),
            Some(1),
            &at(110),
        );
        assert_eq!(refreshed.worker_credentials.as_ref(), Some(&keys));
        // Keys no longer issued per product (the workers share the namespace's pair).
        let (shared, _) = derive_status(Some(&refreshed), &full_pass(), Some(1), &at(120));
        assert_eq!(shared.worker_credentials, None);
    }

    #[test]
    fn a_full_pass_with_a_worker_up_is_ready_and_the_same_reports_give_the_same_status() {
        let (first, outcome) = derive_status(None, &full_pass(), Some(1), &at(100));
        assert_eq!(outcome, Outcome::Provisioned);
        assert_eq!(
            condition(&first, ConditionType::Ready),
            ("True", "Provisioned")
        );
        assert_eq!(condition(&first, ConditionType::Stalled).0, "False");
        assert_eq!(condition(&first, ConditionType::Reconciling).0, "False");
        assert_eq!(
            condition(&first, ConditionType::StorageReady),
            ("True", "BucketReady")
        );
        assert_eq!(
            condition(&first, ConditionType::IngestionReady),
            ("True", "WorkerAvailable")
        );
        assert!(was_provisioned(Some(&first), Some(1)));
        assert!(!was_provisioned(Some(&first), Some(2)), "a new generation");
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
    fn a_provisioned_product_without_a_worker_is_not_ready_and_reconciling() {
        let reports = full_pass_with(WorkloadReason::Unavailable);
        let (status, outcome) = derive_status(None, &reports, Some(1), &at(100));
        assert_eq!(outcome, Outcome::WorkloadDown);
        assert_eq!(
            kstatus(&status),
            [
                ("False", "WorkerUnavailable"),
                ("True", "WorkerUnavailable"),
                ("False", "WorkerUnavailable"),
            ]
        );
        let ready = status.conditions.iter().find(|c| c.type_ == "Ready");
        assert_eq!(
            ready.map(|c| c.message.as_str()),
            Some("WorkerUnavailable (test)"),
            "Ready says why, in the workload's words"
        );
        assert_eq!(
            condition(&status, ConditionType::IngestionReady),
            ("False", "WorkerUnavailable")
        );
        assert_eq!(condition(&status, ConditionType::StorageReady).0, "True");
        assert!(
            was_provisioned(Some(&status), Some(1)),
            "everything but the workload is in place"
        );
    }

    #[test]
    fn a_crash_looping_worker_keeps_the_product_reconciling() {
        let reports = full_pass_with(WorkloadReason::CrashLooping);
        let (status, outcome) = derive_status(None, &reports, Some(1), &at(100));
        assert_eq!(outcome, Outcome::WorkloadDown);
        assert_eq!(
            kstatus(&status),
            [
                ("False", "WorkerCrashLooping"),
                ("True", "WorkerCrashLooping"),
                ("False", "WorkerCrashLooping"),
            ]
        );
    }

    #[test]
    fn a_batch_or_derived_product_is_not_ready_and_stalled_as_not_yet_supported() {
        let reports = full_pass_with(WorkloadReason::NotYetSupported);
        let (status, outcome) = derive_status(None, &reports, Some(1), &at(100));
        assert_eq!(outcome, Outcome::WorkloadDown);
        assert_eq!(
            kstatus(&status),
            [
                ("False", "NotYetSupported"),
                ("False", "NotYetSupported"),
                ("True", "NotYetSupported"),
            ]
        );
        assert_eq!(
            condition(&status, ConditionType::IngestionReady),
            ("False", "NotYetSupported")
        );
        // A later refresh (nothing changed) gives the same status: no write.
        let (again, _) = derive_status(
            Some(&status),
            &refresh(WorkloadReason::NotYetSupported),
            Some(1),
            &at(200),
        );
        assert_eq!(again, status);
    }

    #[test]
    fn a_refresh_makes_the_product_ready_when_its_worker_becomes_available_and_not_when_it_is_lost()
    {
        let (starting, _) = derive_status(
            None,
            &full_pass_with(WorkloadReason::Unavailable),
            Some(1),
            &at(100),
        );
        let (up, outcome) = derive_status(
            Some(&starting),
            &refresh(WorkloadReason::Available),
            Some(1),
            &at(200),
        );
        assert_eq!(outcome, Outcome::Provisioned);
        assert_eq!(
            kstatus(&up),
            [
                ("True", "Provisioned"),
                ("False", "Provisioned"),
                ("False", "Provisioned"),
            ]
        );
        assert_eq!(
            condition(&up, ConditionType::IngestionReady),
            ("True", "WorkerAvailable")
        );

        let (lost, outcome) = derive_status(
            Some(&up),
            &refresh(WorkloadReason::CrashLooping),
            Some(1),
            &at(300),
        );
        assert_eq!(outcome, Outcome::WorkloadDown);
        assert_eq!(
            kstatus(&lost),
            [
                ("False", "WorkerCrashLooping"),
                ("True", "WorkerCrashLooping"),
                ("False", "WorkerCrashLooping"),
            ]
        );
        let ready = lost.conditions.iter().find(|c| c.type_ == "Ready").unwrap();
        assert_eq!(ready.last_transition_time, at(300));

        // Everything a refresh does not look at is kept.
        for c in up.conditions.iter().filter(|c| {
            !["Ready", "Reconciling", "Stalled", "IngestionReady"].contains(&c.type_.as_str())
        }) {
            assert!(lost.conditions.contains(c), "{} changed", c.type_);
        }
    }

    #[test]
    fn a_refresh_after_a_failure_or_of_a_new_generation_leaves_ready_alone() {
        let failed = Reports {
            decide: Some(decided(true)),
            failure: Some(Failure {
                message: "failed to apply".into(),
            }),
            ..Reports::default()
        };
        let (status, _) = derive_status(None, &failed, Some(1), &at(100));
        assert!(!was_provisioned(Some(&status), Some(1)));
        let (after, outcome) = derive_status(
            Some(&status),
            &refresh(WorkloadReason::Available),
            Some(1),
            &at(200),
        );
        assert_eq!(outcome, Outcome::Refreshed);
        assert_eq!(
            condition(&after, ConditionType::Ready),
            ("False", "ProvisioningFailed")
        );

        let (ready, _) = derive_status(None, &full_pass(), Some(1), &at(100));
        let (next, outcome) = derive_status(
            Some(&ready),
            &refresh(WorkloadReason::Available),
            Some(2),
            &at(200),
        );
        assert_eq!(outcome, Outcome::Refreshed);
        let stored = ready.conditions.iter().find(|c| c.type_ == "Ready");
        assert_eq!(
            next.conditions.iter().find(|c| c.type_ == "Ready"),
            stored,
            "generation 2 is not provisioned yet"
        );
    }

    #[test]
    fn worker_events_are_told_on_transitions_only() {
        let status_with =
            |reason| derive_status(None, &full_pass_with(reason), Some(1), &at(100)).0;
        let report = workers;
        use WorkloadReason::*;
        // Up for the first time, and again after being down.
        assert_eq!(
            worker_change(None, &report(Available)),
            Some(WorkerChange::Available)
        );
        assert_eq!(
            worker_change(Some(&status_with(Unavailable)), &report(Available)),
            Some(WorkerChange::Available)
        );
        assert_eq!(
            worker_change(Some(&status_with(Available)), &report(Available)),
            None
        );
        // Lost, for whatever reason.
        assert_eq!(
            worker_change(Some(&status_with(Available)), &report(Unavailable)),
            Some(WorkerChange::Down)
        );
        // Starting is not news; a failure a pod tells is, once per reason.
        assert_eq!(worker_change(None, &report(Unavailable)), None);
        assert_eq!(
            worker_change(Some(&status_with(Unavailable)), &report(CrashLooping)),
            Some(WorkerChange::Down)
        );
        assert_eq!(
            worker_change(Some(&status_with(CrashLooping)), &report(CrashLooping)),
            None
        );
        assert_eq!(
            worker_change(Some(&status_with(CrashLooping)), &report(ImageMissing)),
            Some(WorkerChange::Down)
        );
        assert_eq!(
            worker_change(None, &report(Unschedulable)),
            Some(WorkerChange::Down)
        );
        assert_eq!(
            worker_change(
                Some(&status_with(NotYetSupported)),
                &report(NotYetSupported)
            ),
            None
        );
    }

    #[test]
    fn a_stuck_rollout_keeps_the_product_ready_and_is_told_once_and_its_end_too() {
        let status_with =
            |reason| derive_status(None, &full_pass_with(reason), Some(1), &at(100)).0;
        let report = workers;
        use WorkloadReason::*;
        let stuck = status_with(RolloutStuck);
        assert_eq!(
            condition(&stuck, ConditionType::IngestionReady),
            ("True", "WorkerRolloutStuck")
        );
        assert_eq!(condition(&stuck, ConditionType::Ready).0, "True");
        assert_eq!(
            worker_change(Some(&status_with(Available)), &report(RolloutStuck)),
            Some(WorkerChange::RolloutStuck)
        );
        assert_eq!(worker_change(Some(&stuck), &report(RolloutStuck)), None);
        // The rollout completes: told as available again.
        assert_eq!(
            worker_change(Some(&stuck), &report(Available)),
            Some(WorkerChange::Available)
        );
        // The old workers go too: down, with the new pods' reason.
        assert_eq!(
            worker_change(Some(&stuck), &report(CrashLooping)),
            Some(WorkerChange::Down)
        );
    }

    #[test]
    fn workload_reasons_read_back_from_their_names() {
        for reason in WorkloadReason::ALL {
            assert_eq!(WorkloadReason::parse(reason.as_str()), Some(reason));
        }
        assert_eq!(WorkloadReason::parse("Provisioned"), None);
    }
}
