//! Keeps the grants current: watches DataProducts and AccessRequests cluster-wide and
//! rebuilds [`Grants`] on every change, so a revoked request denies the next statement.

use crate::grants::Grants;
use crate::server::SharedGrants;
use futures::{StreamExt, TryStreamExt};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Api, Client};
use meshplane_api::access_request::AccessRequest;
use meshplane_api::DataProduct;
use std::sync::Arc;

/// Watches until the process ends; `ready` turns true once both lists are loaded.
pub async fn keep_current(
    client: Client,
    grants: SharedGrants,
    ready: tokio::sync::watch::Sender<bool>,
) {
    let (products, products_writer) = reflector::store::<DataProduct>();
    let (requests, requests_writer) = reflector::store::<AccessRequest>();
    let product_events = reflector::reflector(
        products_writer,
        watcher(
            Api::<DataProduct>::all(client.clone()),
            watcher::Config::default(),
        ),
    )
    .default_backoff()
    .map_ok(|event| (Kind::Products, matches!(event, watcher::Event::InitDone)))
    .boxed();
    let request_events = reflector::reflector(
        requests_writer,
        watcher(
            Api::<AccessRequest>::all(client),
            watcher::Config::default(),
        ),
    )
    .default_backoff()
    .map_ok(|event| (Kind::Requests, matches!(event, watcher::Event::InitDone)))
    .boxed();
    let (mut products_listed, mut requests_listed) = (false, false);
    let mut events = futures::stream::select(product_events, request_events);
    while let Some(event) = events.next().await {
        match event {
            Err(e) => {
                tracing::warn!("watching products and access requests: {e}");
                continue;
            }
            Ok((Kind::Products, true)) => products_listed = true,
            Ok((Kind::Requests, true)) => requests_listed = true,
            Ok(_) => {}
        }
        if products_listed && requests_listed {
            publish(&products, &requests, &grants);
            let _ = ready.send(true);
        }
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Products,
    Requests,
}

fn publish(products: &Store<DataProduct>, requests: &Store<AccessRequest>, grants: &SharedGrants) {
    let products = products.state();
    let requests = requests.state();
    let fresh = Grants::new(
        products.iter().map(|p| p.as_ref()),
        requests.iter().map(|r| r.as_ref()),
    );
    *grants.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(fresh);
}
