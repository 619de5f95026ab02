//! The GovernancePolicies in force, watched into the shared engine that the webhook and
//! the controller decide with.

use futures::StreamExt;
use kube::api::Api;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::{reflector, watcher, WatchStreamExt};
use kube::{Client, Resource};
use meshplane_api::GovernancePolicy;
use meshplane_governance::{validate_policy, Engine, PolicyError, SharedEngine};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Reason of the Warning Event recorded on a policy that is not in force.
pub const NOT_IN_FORCE_REASON: &str = "PolicyNotInForce";
/// Name of the counter of rebuilds that left a policy out of force.
pub const REBUILD_FAILURES_METRIC: &str = "meshplane_policy_rebuild_failures_total";
/// Longest Event note the API server accepts.
const NOTE_LIMIT: usize = 1024;

/// A policy the engine in force does not enforce, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotInForce {
    /// Name of the policy.
    pub policy: String,
    /// What kept it out.
    pub cause: Cause,
    /// Why, for the log and the policy's Event.
    pub reason: String,
}

/// What kept a policy out of force; also the `reason` label of the counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// The policy is invalid on its own.
    InvalidPolicy,
    /// The policies could not be built into one engine; the one in force was kept.
    EngineKept,
}

/// What a rebuild decided.
#[derive(Debug)]
pub struct Rebuild {
    /// The engine to put in force; `None` keeps the engine in force, because the
    /// policies could not be built into one.
    pub engine: Option<Engine>,
    /// Why the engine could not be built, when it is kept.
    pub error: Option<PolicyError>,
    /// The policies left out of force.
    pub not_in_force: Vec<NotInForce>,
}

/// Decides what replaces `in_force` given the policies now in the cluster. Pure, so the
/// keep-or-replace decision is testable without a cluster; never panics.
///
/// An invalid policy (admitted before the webhook existed, or by an older one) is left
/// out rather than stopping governance. Valid policies that cannot be built into one
/// engine together (their field patterns exceed the regex size limit as one set) keep
/// the engine in force: deciding with no policies would admit everything. The policies
/// new or changed since are then the ones not in force.
pub fn engine_from(in_force: &Engine, policies: &[GovernancePolicy]) -> Rebuild {
    let mut not_in_force = Vec::new();
    let usable: Vec<GovernancePolicy> = policies
        .iter()
        .filter(|p| {
            let problems = validate_policy(p);
            if !problems.is_empty() {
                let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
                not_in_force.push(NotInForce {
                    policy: name(p),
                    cause: Cause::InvalidPolicy,
                    reason: format!(
                        "GovernancePolicy {} is invalid and not in force: {}",
                        name(p),
                        lines.join("; ")
                    ),
                });
            }
            problems.is_empty()
        })
        .cloned()
        .collect();
    match Engine::new(&usable) {
        Ok(engine) => Rebuild {
            engine: Some(engine),
            error: None,
            not_in_force,
        },
        Err(error) => {
            for policy in usable.iter().filter(|p| !in_force.enforces(p)) {
                not_in_force.push(NotInForce {
                    policy: name(policy),
                    cause: Cause::EngineKept,
                    reason: format!(
                        "GovernancePolicy {} is not in force; the policies in force before it stay: {error}",
                        name(policy)
                    ),
                });
            }
            Rebuild {
                engine: None,
                error: Some(error),
                not_in_force,
            }
        }
    }
}

fn name(policy: &GovernancePolicy) -> String {
    policy.metadata.name.clone().unwrap_or_default()
}

/// Rebuilds that left a policy out of force since the process started, by reason.
/// Plain atomics rendered by hand, not a Prometheus registry: this crate does not
/// depend on `prometheus`, and each process running the policy watch (controller,
/// webhook) appends [`render_metrics`] to its own `/metrics`.
static INVALID_POLICY: AtomicU64 = AtomicU64::new(0);
static ENGINE_KEPT: AtomicU64 = AtomicU64::new(0);

/// Counts a rebuild once per cause it hit.
fn count(rebuild: &Rebuild) {
    if rebuild.engine.is_none() {
        ENGINE_KEPT.fetch_add(1, Ordering::Relaxed);
    }
    if rebuild
        .not_in_force
        .iter()
        .any(|n| n.cause == Cause::InvalidPolicy)
    {
        INVALID_POLICY.fetch_add(1, Ordering::Relaxed);
    }
}

/// The rebuild-failure counter in the Prometheus text format, to append to a process's
/// `/metrics`.
pub fn render_metrics() -> String {
    format!(
        "# HELP {REBUILD_FAILURES_METRIC} Governance engine rebuilds that left a GovernancePolicy out of force, by reason\n\
         # TYPE {REBUILD_FAILURES_METRIC} counter\n\
         {REBUILD_FAILURES_METRIC}{{reason=\"engine_kept\"}} {}\n\
         {REBUILD_FAILURES_METRIC}{{reason=\"invalid_policy\"}} {}\n",
        ENGINE_KEPT.load(Ordering::Relaxed),
        INVALID_POLICY.load(Ordering::Relaxed),
    )
}

/// Watches GovernancePolicies and keeps `state`'s engine equal to the policies in force.
/// Counts rebuilds in `generation` (0 until the first complete listing), so waiters know
/// when policies are known and the controller re-evaluates products after each change.
/// A rebuild that keeps the engine in force does not count: until the first engine is
/// built, nothing is decided. Runs until the watch ends.
pub async fn keep_engine_current(
    client: Client,
    state: Arc<SharedEngine>,
    generation: tokio::sync::watch::Sender<u64>,
) {
    let recorder = Recorder::new(
        client.clone(),
        Reporter {
            controller: "meshplane-governance".into(),
            instance: std::env::var("POD_NAME").ok(),
        },
    );
    let (reader, writer) = reflector::store();
    let stream = reflector(
        writer,
        watcher(
            Api::<GovernancePolicy>::all(client),
            watcher::Config::default(),
        ),
    )
    .default_backoff();
    futures::pin_mut!(stream);
    while let Some(event) = stream.next().await {
        match event {
            Err(e) => tracing::warn!(error = %e, "watching GovernancePolicies failed; retrying"),
            // Mid-listing the store is incomplete; rebuild once the listing is done.
            Ok(watcher::Event::Init | watcher::Event::InitApply(_)) => {}
            Ok(watcher::Event::InitDone | watcher::Event::Apply(_) | watcher::Event::Delete(_)) => {
                let policies: Vec<GovernancePolicy> =
                    reader.state().iter().map(|p| (**p).clone()).collect();
                let rebuild = engine_from(&state.engine(), &policies);
                count(&rebuild);
                report(&recorder, &rebuild, &policies);
                match rebuild.engine {
                    Some(engine) => {
                        state.replace_engine(engine);
                        generation.send_modify(|g| *g += 1);
                        tracing::info!(policies = policies.len(), "governance engine updated");
                    }
                    None => tracing::error!(
                        error = %rebuild.error.as_ref().map(ToString::to_string).unwrap_or_default(),
                        "the governance engine could not be rebuilt; the policies in force stay"
                    ),
                }
            }
        }
    }
}

/// Logs every policy left out of force and records a Warning Event on it. Events are
/// published on a task of their own so a slow API server does not delay the engine; a
/// failure to record is logged, never fatal.
fn report(recorder: &Recorder, rebuild: &Rebuild, policies: &[GovernancePolicy]) {
    let mut events = Vec::new();
    for entry in &rebuild.not_in_force {
        tracing::error!(policy = %entry.policy, reason = %entry.reason, "GovernancePolicy is not in force");
        if let Some(policy) = policies.iter().find(|p| name(p) == entry.policy) {
            events.push((policy.object_ref(&()), note(&entry.reason)));
        }
    }
    if events.is_empty() {
        return;
    }
    let recorder = recorder.clone();
    tokio::spawn(async move {
        for (reference, note) in events {
            let event = Event {
                type_: EventType::Warning,
                reason: NOT_IN_FORCE_REASON.into(),
                note: Some(note),
                action: "BuildEngine".into(),
                secondary: None,
            };
            if let Err(e) = recorder.publish(&event, &reference).await {
                tracing::warn!(policy = ?reference.name, error = %e, "failed to record an event");
            }
        }
    });
}

/// `reason` cut to what an Event note may hold.
fn note(reason: &str) -> String {
    if reason.len() <= NOTE_LIMIT {
        return reason.to_string();
    }
    let mut cut = NOTE_LIMIT - 3;
    while !reason.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}...", &reason[..cut])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(name: &str, spec: &str) -> GovernancePolicy {
        let yaml = format!(
            "apiVersion: meshplane.dev/v1alpha1\nkind: GovernancePolicy\nmetadata: {{ name: {name} }}\nspec: {spec}\n"
        );
        match meshplane_api::load::load_all(&yaml, "test")
            .expect("policy loads")
            .pop()
        {
            Some(meshplane_api::load::Resource::GovernancePolicy(p)) => *p,
            _ => panic!("expected a policy"),
        }
    }

    /// Twelve policies whose field name patterns each compile but not as one set.
    fn too_large_together() -> Vec<GovernancePolicy> {
        (1..=12)
            .map(|i| {
                policy(
                    &format!("wide-{i:02}"),
                    &format!("{{ naming: {{ fieldNamePattern: '\\w{{30}}x{i}' }} }}"),
                )
            })
            .collect()
    }

    fn names(engine: &Engine) -> Vec<String> {
        engine
            .policies()
            .iter()
            .map(|p| p.name.to_string())
            .collect()
    }

    #[test]
    fn valid_policies_replace_the_engine() {
        let baseline = policy("baseline", "{ retention: { maxPii: 30d } }");
        let rebuild = engine_from(&Engine::default(), &[baseline]);
        assert!(rebuild.error.is_none() && rebuild.not_in_force.is_empty());
        assert_eq!(names(&rebuild.engine.expect("replaced")), ["baseline"]);
    }

    #[test]
    fn an_invalid_policy_is_left_out_and_reported() {
        let baseline = policy("baseline", "{ retention: { maxPii: 30d } }");
        let broken = policy("broken", "{ piiDetection: { fieldPatterns: ['('] } }");
        let rebuild = engine_from(&Engine::default(), &[baseline, broken]);
        assert_eq!(names(&rebuild.engine.expect("replaced")), ["baseline"]);
        assert_eq!(rebuild.not_in_force.len(), 1);
        assert_eq!(rebuild.not_in_force[0].policy, "broken");
        assert_eq!(rebuild.not_in_force[0].cause, Cause::InvalidPolicy);
        assert!(
            rebuild.not_in_force[0]
                .reason
                .contains("spec.piiDetection.fieldPatterns[0]"),
            "{:?}",
            rebuild.not_in_force
        );
    }

    #[test]
    fn policies_that_cannot_be_built_together_keep_the_engine_in_force() {
        let baseline = policy("baseline", "{ retention: { maxPii: 30d } }");
        let in_force = Engine::new(std::slice::from_ref(&baseline)).unwrap();
        let mut policies = vec![baseline];
        policies.extend(too_large_together());
        let rebuild = engine_from(&in_force, &policies);
        assert!(rebuild.engine.is_none(), "the engine in force must stay");
        let error = rebuild.error.expect("the reason is kept").to_string();
        assert!(
            error.contains("spec.naming.fieldNamePattern") && error.contains("size limit"),
            "{error}"
        );
        // The unchanged baseline is still in force; the twelve new ones are not.
        let left_out: Vec<&str> = rebuild
            .not_in_force
            .iter()
            .map(|n| n.policy.as_str())
            .collect();
        assert_eq!(left_out.len(), 12, "{left_out:?}");
        assert!(!left_out.contains(&"baseline"));
        assert!(rebuild
            .not_in_force
            .iter()
            .all(|n| n.cause == Cause::EngineKept));
        assert!(rebuild.not_in_force[0].reason.contains("wide-01"));
        assert_eq!(names(&in_force), ["baseline"]);
    }

    #[test]
    fn the_counter_renders_in_the_prometheus_text_format() {
        let text = render_metrics();
        assert!(text.contains(&format!("# TYPE {REBUILD_FAILURES_METRIC} counter")));
        assert!(text.contains(&format!(
            "{REBUILD_FAILURES_METRIC}{{reason=\"engine_kept\"}} "
        )));
    }

    #[test]
    fn long_notes_are_cut_at_a_character_boundary() {
        let long = "é".repeat(NOTE_LIMIT);
        let cut = note(&long);
        assert!(cut.len() <= NOTE_LIMIT && cut.ends_with("..."));
    }
}
