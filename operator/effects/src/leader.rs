//! Leader election on a `coordination.k8s.io/v1` Lease, so that two controller replicas
//! never reconcile at once. The holder renews the Lease; a standby takes it over once it
//! has not been renewed for its duration (for example after `kill -9` of the leader).

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Api, PostParams};
use kube::Client;
use std::time::Duration;
use thiserror::Error;

/// Leadership could not be kept.
#[derive(Debug, Error)]
pub enum LeaderError {
    /// Another identity renewed or took the Lease.
    #[error("lost the lease {namespace}/{name} to {holder}")]
    Lost {
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
        /// The new holder.
        holder: String,
    },
    /// The Lease could not be renewed within its duration.
    #[error("could not renew the lease {namespace}/{name} in time: {source}")]
    Renew {
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
        /// Last cause.
        source: kube::Error,
    },
}

/// Which Lease, who we are, and the timings.
#[derive(Debug, Clone)]
pub struct LeaseSettings {
    /// Namespace of the Lease.
    pub namespace: String,
    /// Name of the Lease.
    pub name: String,
    /// This replica's identity (its pod name).
    pub identity: String,
    /// How long a Lease stays valid without renewal.
    pub duration: Duration,
    /// How often the holder renews (and a standby retries).
    pub renew_every: Duration,
}

fn now() -> MicroTime {
    MicroTime(Timestamp::now())
}

/// True when the Lease has no live holder other than `identity`.
fn available(spec: &LeaseSpec, identity: &str, at: Timestamp) -> bool {
    let holder = spec.holder_identity.as_deref().unwrap_or("");
    if holder.is_empty() || holder == identity {
        return true;
    }
    let Some(renewed) = spec.renew_time.as_ref() else {
        return true;
    };
    let duration = SignedDuration::from_secs(i64::from(spec.lease_duration_seconds.unwrap_or(15)));
    renewed.0 + duration < at
}

fn held_by(settings: &LeaseSettings, transitions: i32, acquired: Option<MicroTime>) -> LeaseSpec {
    LeaseSpec {
        holder_identity: Some(settings.identity.clone()),
        lease_duration_seconds: Some(settings.duration.as_secs().max(1) as i32),
        acquire_time: acquired.or_else(|| Some(now())),
        renew_time: Some(now()),
        lease_transitions: Some(transitions),
        ..LeaseSpec::default()
    }
}

/// Tries once to take or renew the Lease. `Ok(None)` on success, `Ok(Some(holder))` when
/// someone else holds it.
async fn try_acquire(
    api: &Api<Lease>,
    settings: &LeaseSettings,
) -> Result<Option<String>, kube::Error> {
    let Some(mut lease) = api.get_opt(&settings.name).await? else {
        let lease = Lease {
            metadata: ObjectMeta {
                name: Some(settings.name.clone()),
                namespace: Some(settings.namespace.clone()),
                ..ObjectMeta::default()
            },
            spec: Some(held_by(settings, 0, None)),
        };
        return match api.create(&PostParams::default(), &lease).await {
            Ok(_) => Ok(None),
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(Some("another replica".into())),
            Err(e) => Err(e),
        };
    };
    let spec = lease.spec.clone().unwrap_or_default();
    if !available(&spec, &settings.identity, Timestamp::now()) {
        return Ok(spec.holder_identity);
    }
    let ours = spec.holder_identity.as_deref() == Some(settings.identity.as_str());
    let transitions = spec.lease_transitions.unwrap_or(0) + i32::from(!ours);
    lease.spec = Some(held_by(
        settings,
        transitions,
        if ours { spec.acquire_time } else { None },
    ));
    // The resourceVersion in `lease` makes this a compare-and-swap.
    match api
        .replace(&settings.name, &PostParams::default(), &lease)
        .await
    {
        Ok(_) => Ok(None),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(Some("another replica".into())),
        Err(e) => Err(e),
    }
}

/// Waits until this replica holds the Lease.
pub async fn acquire(client: &Client, settings: &LeaseSettings) {
    let api: Api<Lease> = Api::namespaced(client.clone(), &settings.namespace);
    loop {
        match try_acquire(&api, settings).await {
            Ok(None) => {
                tracing::info!(lease = %settings.name, identity = %settings.identity, "leadership acquired");
                return;
            }
            Ok(Some(holder)) => {
                tracing::debug!(lease = %settings.name, %holder, "standing by");
            }
            Err(e) => {
                tracing::warn!(lease = %settings.name, error = %e, "failed to read the lease")
            }
        }
        tokio::time::sleep(settings.renew_every).await;
    }
}

/// Renews the Lease until it is lost; returns why.
pub async fn hold(client: &Client, settings: &LeaseSettings) -> LeaderError {
    let api: Api<Lease> = Api::namespaced(client.clone(), &settings.namespace);
    let mut last_renewal = tokio::time::Instant::now();
    loop {
        tokio::time::sleep(settings.renew_every).await;
        match try_acquire(&api, settings).await {
            Ok(None) => last_renewal = tokio::time::Instant::now(),
            Ok(Some(holder)) => {
                return LeaderError::Lost {
                    namespace: settings.namespace.clone(),
                    name: settings.name.clone(),
                    holder,
                }
            }
            Err(source) if last_renewal.elapsed() >= settings.duration => {
                return LeaderError::Renew {
                    namespace: settings.namespace.clone(),
                    name: settings.name.clone(),
                    source,
                }
            }
            Err(e) => {
                tracing::warn!(lease = %settings.name, error = %e, "lease renewal failed; retrying")
            }
        }
    }
}

/// Gives the Lease up on a clean shutdown, so a standby takes over at once.
pub async fn release(client: &Client, settings: &LeaseSettings) {
    let api: Api<Lease> = Api::namespaced(client.clone(), &settings.namespace);
    let Ok(Some(mut lease)) = api.get_opt(&settings.name).await else {
        return;
    };
    let Some(spec) = lease.spec.as_mut() else {
        return;
    };
    if spec.holder_identity.as_deref() != Some(settings.identity.as_str()) {
        return;
    }
    spec.holder_identity = None;
    spec.renew_time = None;
    if let Err(e) = api
        .replace(&settings.name, &PostParams::default(), &lease)
        .await
    {
        tracing::warn!(lease = %settings.name, error = %e, "failed to release the lease");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(holder: &str, renewed_secs_ago: i64) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(holder.into()),
            lease_duration_seconds: Some(15),
            renew_time: Some(MicroTime(
                Timestamp::now() - SignedDuration::from_secs(renewed_secs_ago),
            )),
            ..LeaseSpec::default()
        }
    }

    #[test]
    fn a_live_lease_of_another_holder_is_not_available() {
        assert!(!available(&spec("b", 3), "a", Timestamp::now()));
    }

    #[test]
    fn an_expired_lease_released_or_our_own_is_available() {
        assert!(available(&spec("b", 20), "a", Timestamp::now()));
        assert!(available(&spec("a", 3), "a", Timestamp::now()));
        assert!(available(&LeaseSpec::default(), "a", Timestamp::now()));
    }
}
