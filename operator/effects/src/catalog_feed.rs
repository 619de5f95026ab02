//! Keeps a catalog equal to the cluster: DataProducts and AccessRequests watched into it
//! change by change,
//! and the controller's governance engine (fed by its GovernancePolicy watch) applied
//! whenever the policies change. Every controller replica runs one, leader or not, so
//! every replica can answer catalog questions.

use futures::StreamExt;
use kube::api::Api;
use kube::runtime::{watcher, WatchStreamExt};
use kube::Client;
use meshplane_api::{AccessRequest, DataProduct};
use meshplane_catalog::{Catalog, ProductId};
use meshplane_governance::SharedEngine;
use std::sync::{Arc, RwLock};
use tokio::sync::watch;

/// A catalog shared between the feed and the HTTP handlers.
pub type SharedCatalog = Arc<RwLock<Catalog>>;

/// Feeds `catalog` until the product watch ends. `policy_generations` counts rebuilds of
/// `engine` (see [`crate::policies::keep_engine_current`]).
pub async fn keep_catalog_current(
    client: Client,
    catalog: SharedCatalog,
    engine: Arc<SharedEngine>,
    mut policy_generations: watch::Receiver<u64>,
) {
    let products = watcher(
        Api::<DataProduct>::all(client.clone()),
        watcher::Config::default(),
    )
    .default_backoff();
    futures::pin_mut!(products);
    // Access requests: grants are "who uses it", pending ones wait for the owner.
    let requests = watcher(
        Api::<AccessRequest>::all(client),
        watcher::Config::default(),
    )
    .default_backoff();
    futures::pin_mut!(requests);
    let mut listing: Vec<DataProduct> = Vec::new();
    let mut request_listing: Vec<AccessRequest> = Vec::new();
    let write = || {
        catalog
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    };
    write().set_engine(engine.engine());
    let mut policies_open = true;
    loop {
        tokio::select! {
            event = products.next() => match event {
                None => break,
                Some(Err(e)) => tracing::warn!(error = %e, "catalog: watching DataProducts failed; retrying"),
                Some(Ok(watcher::Event::Init)) => listing.clear(),
                Some(Ok(watcher::Event::InitApply(p))) => listing.push(p),
                Some(Ok(watcher::Event::InitDone)) => {
                    let count = listing.len();
                    write().replace_all(listing.drain(..));
                    tracing::info!(products = count, "catalog listed every DataProduct");
                }
                Some(Ok(watcher::Event::Apply(p))) => write().upsert(p),
                Some(Ok(watcher::Event::Delete(p))) => write().remove(&ProductId::of(&p)),
            },
            event = requests.next() => match event {
                None => break,
                Some(Err(e)) => tracing::warn!(error = %e, "catalog: watching AccessRequests failed; retrying"),
                Some(Ok(watcher::Event::Init)) => request_listing.clear(),
                Some(Ok(watcher::Event::InitApply(r))) => request_listing.push(r),
                Some(Ok(watcher::Event::InitDone)) => {
                    write().replace_requests(request_listing.iter());
                    request_listing.clear();
                }
                Some(Ok(watcher::Event::Apply(r))) => write().upsert_request(&r),
                Some(Ok(watcher::Event::Delete(r))) => write().remove_request(&r),
            },
            changed = policy_generations.changed(), if policies_open => match changed {
                Ok(()) => write().set_engine(engine.engine()),
                Err(_) => policies_open = false,
            },
        }
    }
}
