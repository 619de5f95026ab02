//! `GovernancePolicy.status`: whether each policy is in force, how many products it
//! applies to and how many break it. Computed by [`status_for`] (pure) from the engine in
//! force and [`meshplane_governance::compliance::tally`]; written by [`keep_policy_status`]
//! (one writer: the controller replica that leads) only when it changed.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::Client;
use meshplane_api::{DataProduct, GovernancePolicy, GovernancePolicyStatus};
use meshplane_governance::compliance::{tally, PolicyTally};
use meshplane_governance::{validate_policy, Engine, SharedEngine};
use std::sync::Arc;
use std::time::Duration;

/// Reason of `Ready=True`.
pub const IN_FORCE: &str = "InForce";

/// What went wrong while writing policy statuses.
#[derive(Debug, thiserror::Error)]
pub enum PolicyStatusError {
    /// Listing the policies or the products failed.
    #[error("listing {what} failed: {source}")]
    List {
        /// `GovernancePolicies` or `DataProducts`.
        what: &'static str,
        /// The API error.
        source: kube::Error,
    },
    /// Writing one policy's status failed.
    #[error("writing the status of GovernancePolicy {policy} failed: {source}")]
    Write {
        /// Name of the policy.
        policy: String,
        /// The API error.
        source: kube::Error,
    },
}

fn condition(type_: &str, status: bool, reason: &str, message: String, now: &Time) -> Condition {
    Condition {
        type_: type_.into(),
        status: if status { "True" } else { "False" }.into(),
        reason: reason.into(),
        message,
        last_transition_time: now.clone(),
        observed_generation: None,
    }
}

/// The status `policy` should have, given the engine in force and the tally of the
/// products (`None`: the policy is not in the engine). A condition keeps its previous
/// transition time while its status stays the same. Pure.
pub fn status_for(
    policy: &GovernancePolicy,
    engine: &Engine,
    tally: Option<&PolicyTally>,
    now: Time,
) -> GovernancePolicyStatus {
    let in_force = engine.enforces(policy);
    let generation = policy.metadata.generation;
    let mut conditions = if in_force {
        let tally = tally.cloned().unwrap_or_default();
        vec![
            condition(
                "Ready",
                true,
                IN_FORCE,
                format!(
                    "in force: applies to {} products, {} non-compliant",
                    tally.matched, tally.non_compliant
                ),
                &now,
            ),
            condition("Stalled", false, IN_FORCE, String::new(), &now),
        ]
    } else {
        let problems = validate_policy(policy);
        let message = if problems.is_empty() {
            "not in force: it cannot be built into one engine with the other policies; \
             the policies in force before it stay (see the PolicyNotInForce event)"
                .to_string()
        } else {
            let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
            format!("not in force: the policy is invalid: {}", lines.join("; "))
        };
        vec![
            condition(
                "Ready",
                false,
                crate::policies::NOT_IN_FORCE_REASON,
                message.clone(),
                &now,
            ),
            condition(
                "Stalled",
                true,
                crate::policies::NOT_IN_FORCE_REASON,
                message,
                &now,
            ),
        ]
    };
    let previous = policy
        .status
        .as_ref()
        .map(|s| s.conditions.as_slice())
        .unwrap_or_default();
    for c in &mut conditions {
        c.observed_generation = generation;
        if let Some(old) = previous.iter().find(|o| o.type_ == c.type_) {
            if old.status == c.status {
                c.last_transition_time = old.last_transition_time.clone();
            }
        }
    }
    let counts = in_force.then(|| tally.cloned().unwrap_or_default());
    GovernancePolicyStatus {
        observed_generation: generation,
        matched_products: counts.as_ref().map(|t| t.matched as i64),
        non_compliant_products: counts.as_ref().map(|t| t.non_compliant as i64),
        non_compliant: counts
            .map(|t| t.examples.into_iter().collect())
            .unwrap_or_default(),
        conditions,
    }
}

/// One pass: lists policies and products, decides every product and writes each policy
/// whose status changed. Returns how many statuses were written.
pub async fn write_policy_statuses(
    client: &Client,
    engine: &Engine,
) -> Result<usize, PolicyStatusError> {
    let policies_api: Api<GovernancePolicy> = Api::all(client.clone());
    let policies = policies_api
        .list(&ListParams::default())
        .await
        .map_err(|source| PolicyStatusError::List {
            what: "GovernancePolicies",
            source,
        })?;
    let products = Api::<DataProduct>::all(client.clone())
        .list(&ListParams::default())
        .await
        .map_err(|source| PolicyStatusError::List {
            what: "DataProducts",
            source,
        })?;
    let tallies = tally(engine, &products.items);
    let now = Time(jiff::Timestamp::now());
    let mut written = 0;
    for policy in &policies.items {
        let name = policy.metadata.name.clone().unwrap_or_default();
        let status = status_for(policy, engine, tallies.get(&name), now.clone());
        if policy.status.as_ref() == Some(&status) {
            continue;
        }
        // A merge patch of the whole status: what is absent is written as null, so a
        // policy that left force loses its old counts and names.
        let names = (!status.non_compliant.is_empty()).then_some(&status.non_compliant);
        let patch = serde_json::json!({ "status": {
            "observedGeneration": status.observed_generation,
            "matchedProducts": status.matched_products,
            "nonCompliantProducts": status.non_compliant_products,
            "nonCompliant": names,
            "conditions": status.conditions,
        }});
        policies_api
            .patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(|source| PolicyStatusError::Write {
                policy: name.clone(),
                source,
            })?;
        written += 1;
    }
    Ok(written)
}

/// Keeps every policy's status current: after each engine rebuild (`generations`) and
/// every `every` (products change without a policy changing). Failures are logged and
/// retried at the next pass; the API server being slow never blocks reconciles.
pub async fn keep_policy_status(
    client: Client,
    engine: Arc<SharedEngine>,
    mut generations: tokio::sync::watch::Receiver<u64>,
    every: Duration,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            changed = generations.changed() => if changed.is_err() { return },
        }
        match write_policy_statuses(&client, &engine.engine()).await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(written = n, "GovernancePolicy statuses written"),
            Err(e) => tracing::warn!(error = %e, "GovernancePolicy statuses not written; retrying"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn policy(name: &str, spec: &str) -> GovernancePolicy {
        let yaml = format!(
            "apiVersion: meshplane.dev/v1alpha1\nkind: GovernancePolicy\nmetadata: {{ name: {name}, generation: 3 }}\nspec: {spec}\n"
        );
        match meshplane_api::load::load_all(&yaml, "test").unwrap().pop() {
            Some(meshplane_api::load::Resource::GovernancePolicy(p)) => *p,
            _ => panic!("expected a policy"),
        }
    }

    fn at(seconds: i64) -> Time {
        Time(jiff::Timestamp::from_second(seconds).unwrap())
    }

    #[test]
    fn a_policy_in_force_reports_its_counts_and_ready() {
        let p = policy("baseline", "{ retention: { maxPii: 30d } }");
        let engine = Engine::new(std::slice::from_ref(&p)).unwrap();
        let tally = PolicyTally {
            matched: 7,
            non_compliant: 2,
            examples: BTreeSet::from(["a/x".to_string(), "b/y".to_string()]),
        };
        let status = status_for(&p, &engine, Some(&tally), at(100));
        assert_eq!(status.observed_generation, Some(3));
        assert_eq!(status.matched_products, Some(7));
        assert_eq!(status.non_compliant_products, Some(2));
        assert_eq!(status.non_compliant, ["a/x", "b/y"]);
        let ready = &status.conditions[0];
        assert_eq!(
            (ready.type_.as_str(), ready.status.as_str()),
            ("Ready", "True")
        );
        assert_eq!(
            ready.message,
            "in force: applies to 7 products, 2 non-compliant"
        );
        assert_eq!(status.conditions[1].status, "False");
    }

    #[test]
    fn a_policy_not_in_force_says_why_and_has_no_counts() {
        let broken = policy("broken", "{ piiDetection: { fieldPatterns: ['('] } }");
        let status = status_for(&broken, &Engine::default(), None, at(100));
        assert_eq!(status.matched_products, None);
        let ready = &status.conditions[0];
        assert_eq!(ready.status, "False");
        assert_eq!(ready.reason, "PolicyNotInForce");
        assert!(
            ready.message.contains("spec.piiDetection.fieldPatterns[0]"),
            "{}",
            ready.message
        );
        assert_eq!(status.conditions[1].status, "True");
        // Changed since the engine was built: the old spec is in force, not this one.
        let old = policy("baseline", "{ retention: { maxPii: 30d } }");
        let new = policy("baseline", "{ retention: { maxPii: 10d } }");
        let engine = Engine::new(&[old]).unwrap();
        let status = status_for(&new, &engine, None, at(100));
        assert_eq!(status.conditions[0].status, "False");
        assert!(status.conditions[0].message.contains("cannot be built"));
    }

    #[test]
    fn transition_times_change_only_with_the_status() {
        let mut p = policy("baseline", "{ retention: { maxPii: 30d } }");
        let engine = Engine::new(std::slice::from_ref(&p)).unwrap();
        p.status = Some(status_for(&p, &engine, None, at(100)));
        let again = status_for(&p, &engine, Some(&PolicyTally::default()), at(200));
        assert_eq!(again.conditions[0].last_transition_time, at(100));
        assert_eq!(Some(&again), p.status.as_ref());
        let not_in_force = status_for(&p, &Engine::default(), None, at(300));
        assert_eq!(not_in_force.conditions[0].last_transition_time, at(300));
    }
}
