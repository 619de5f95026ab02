//! The GovernancePolicies in force, watched into the shared engine that the webhook and
//! the controller decide with.

use futures::StreamExt;
use kube::api::Api;
use kube::runtime::{reflector, watcher, WatchStreamExt};
use kube::Client;
use meshplane_api::GovernancePolicy;
use meshplane_governance::{validate_policy, Engine, SharedEngine};
use std::sync::Arc;

/// Builds an engine from the usable policies; an unusable one (admitted before the
/// webhook existed) is skipped and logged rather than stopping governance.
pub fn engine_from(policies: &[GovernancePolicy]) -> Engine {
    let usable: Vec<GovernancePolicy> = policies
        .iter()
        .filter(|p| {
            let problems = validate_policy(p);
            for problem in &problems {
                tracing::error!(policy = ?p.metadata.name, %problem, "GovernancePolicy is invalid and not in force");
            }
            problems.is_empty()
        })
        .cloned()
        .collect();
    Engine::new(&usable).expect("validated policies compile")
}

/// Watches GovernancePolicies and keeps `state`'s engine equal to the policies in force.
/// Counts rebuilds in `generation` (0 until the first complete listing), so waiters know
/// when policies are known and the controller re-evaluates products after each change.
/// Runs until the watch ends.
pub async fn keep_engine_current(
    client: Client,
    state: Arc<SharedEngine>,
    generation: tokio::sync::watch::Sender<u64>,
) {
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
                state.replace_engine(engine_from(&policies));
                generation.send_modify(|g| *g += 1);
                tracing::info!(policies = policies.len(), "governance engine updated");
            }
        }
    }
}
