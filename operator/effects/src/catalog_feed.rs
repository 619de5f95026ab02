//! Keeps a catalog equal to the cluster: DataProducts and GovernancePolicies watched
//! into it, change by change. Every controller replica runs one, leader or not, so every
//! replica can answer catalog questions.

use crate::policies::usable_policies;
use futures::StreamExt;
use kube::api::Api;
use kube::runtime::{reflector, watcher, WatchStreamExt};
use kube::Client;
use meshplane_api::{DataProduct, GovernancePolicy};
use meshplane_catalog::{Catalog, ProductId};
use std::sync::{Arc, RwLock};

/// A catalog shared between the feed and the HTTP handlers.
pub type SharedCatalog = Arc<RwLock<Catalog>>;

/// Feeds `catalog` until both watches end; sets `synced` once products were listed.
pub async fn keep_catalog_current(
    client: Client,
    catalog: SharedCatalog,
    synced: tokio::sync::watch::Sender<bool>,
) {
    let products = watcher(
        Api::<DataProduct>::all(client.clone()),
        watcher::Config::default(),
    )
    .default_backoff();
    let (policy_reader, policy_writer) = reflector::store();
    let policies = reflector(
        policy_writer,
        watcher(
            Api::<GovernancePolicy>::all(client),
            watcher::Config::default(),
        ),
    )
    .default_backoff();
    futures::pin_mut!(products, policies);
    let mut listing: Vec<DataProduct> = Vec::new();
    let write = || {
        catalog
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    };
    loop {
        tokio::select! {
            Some(event) = products.next() => match event {
                Err(e) => tracing::warn!(error = %e, "catalog: watching DataProducts failed; retrying"),
                Ok(watcher::Event::Init) => listing.clear(),
                Ok(watcher::Event::InitApply(p)) => listing.push(p),
                Ok(watcher::Event::InitDone) => {
                    let count = listing.len();
                    write().replace_all(listing.drain(..));
                    synced.send_replace(true);
                    tracing::info!(products = count, "catalog listed every DataProduct");
                }
                Ok(watcher::Event::Apply(p)) => write().upsert(p),
                Ok(watcher::Event::Delete(p)) => write().remove(&ProductId::of(&p)),
            },
            Some(event) = policies.next() => match event {
                Err(e) => tracing::warn!(error = %e, "catalog: watching GovernancePolicies failed; retrying"),
                Ok(watcher::Event::Init | watcher::Event::InitApply(_)) => {}
                Ok(_) => {
                    let all: Vec<GovernancePolicy> =
                        policy_reader.state().iter().map(|p| (**p).clone()).collect();
                    if let Err(e) = write().set_policies(&usable_policies(&all)) {
                        tracing::error!(error = %e, "catalog: policies not applied");
                    }
                }
            },
            else => break,
        }
    }
}
