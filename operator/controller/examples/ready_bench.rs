//! Apply-to-Ready benchmark client: creates DataProducts through the API server (as
//! `kubectl apply` would) and watches for their `Ready=True` condition, reporting the time
//! from each create to the watch event that shows it Ready.
//!
//! Usage: `ready_bench <namespace> <template.yaml> <count> <concurrency> [pace_ms]`;
//! products are named `<template name>-<i>` with their own source topic; `pace_ms` spaces
//! the creates (to measure one product at a time). Prints p50/p99/max and the
//! time until all are Ready.

use futures::{StreamExt, TryStreamExt};
use kube::api::{Api, PostParams};
use kube::runtime::watcher::{self, Event};
use meshplane_api::DataProduct;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn is_ready(product: &DataProduct) -> bool {
    product.status.as_ref().is_some_and(|s| {
        s.conditions
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True")
    })
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[index]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args: Vec<String> = std::env::args().collect();
    let (namespace, template, count, concurrency, pace) = match args.as_slice() {
        [_, n, t, c, k] => (n, t, c, k, 0),
        [_, n, t, c, k, pace] => (n, t, c, k, pace.parse()?),
        _ => anyhow::bail!(
            "usage: ready_bench <namespace> <template.yaml> <count> <concurrency> [pace_ms]"
        ),
    };
    let pace = Duration::from_millis(pace);
    let count: usize = count.parse()?;
    let concurrency: usize = concurrency.parse()?;
    let template: DataProduct = serde_yaml::from_str(&std::fs::read_to_string(template)?)?;
    let client = kube::Client::try_default().await?;
    let api: Api<DataProduct> = Api::namespaced(client, namespace);
    let base = template.metadata.name.clone().unwrap_or_default();

    let created: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::unbounded_channel();
    // Watch first, so no Ready transition is missed.
    let watch_api = api.clone();
    tokio::spawn(async move {
        let mut events = watcher::watcher(watch_api, watcher::Config::default()).boxed();
        while let Ok(Some(event)) = events.try_next().await {
            if let Event::Apply(p) | Event::InitApply(p) = event {
                if is_ready(&p) {
                    let _ = ready_tx
                        .send((p.metadata.name.clone().unwrap_or_default(), Instant::now()));
                }
            }
        }
    });

    let start = Instant::now();
    let products: Vec<DataProduct> = (0..count)
        .map(|i| {
            let mut p = template.clone();
            p.metadata.name = Some(format!("{base}-{i:04}"));
            p.metadata.namespace = Some(namespace.clone());
            if let Some(kafka) = p.spec.source.kafka.as_mut() {
                kafka.topic = format!("{}-{namespace}-{i:04}", kafka.topic);
            }
            p
        })
        .collect();
    futures::stream::iter(products)
        .map(|p| {
            let api = api.clone();
            let created = created.clone();
            async move {
                if !pace.is_zero() {
                    let index: u64 = p
                        .metadata
                        .name
                        .as_deref()
                        .and_then(|n| n.rsplit('-').next())
                        .and_then(|i| i.parse().ok())
                        .unwrap_or(0);
                    tokio::time::sleep_until((start + pace * index as u32).into()).await;
                }
                let name = p.metadata.name.clone().unwrap_or_default();
                let t0 = Instant::now();
                api.create(&PostParams::default(), &p).await?;
                created.lock().unwrap().insert(name, t0);
                anyhow::Ok(())
            }
        })
        .buffer_unordered(concurrency)
        .try_collect::<Vec<_>>()
        .await?;
    let applied = start.elapsed();

    let mut latencies = HashMap::new();
    while latencies.len() < count {
        let Some((name, at)) =
            tokio::time::timeout(Duration::from_secs(300), ready_rx.recv()).await?
        else {
            anyhow::bail!("the watch ended");
        };
        if let Some(t0) = created.lock().unwrap().get(&name) {
            latencies.entry(name).or_insert(at.duration_since(*t0));
        }
    }
    let all_ready = start.elapsed();
    let mut sorted: Vec<Duration> = latencies.into_values().collect();
    sorted.sort();
    println!(
        "products={count} create_concurrency={concurrency} applied_in={:.2}s all_ready_in={:.2}s apply_to_ready p50={:.0}ms p99={:.0}ms max={:.0}ms",
        applied.as_secs_f64(),
        all_ready.as_secs_f64(),
        percentile(&sorted, 0.50).as_secs_f64() * 1000.0,
        percentile(&sorted, 0.99).as_secs_f64() * 1000.0,
        sorted.last().copied().unwrap_or_default().as_secs_f64() * 1000.0,
    );
    Ok(())
}
