//! Search and impact-analysis latency with 10,000 products in the catalog, p50 and p99.
//! `cargo bench -p meshplane-catalog --bench queries` (also `make bench-catalog`).

#[path = "../tests/support/mod.rs"]
mod support;

use meshplane_catalog::query::{ImpactQuery, SearchQuery};
use meshplane_catalog::Catalog;
use std::time::{Duration, Instant};

const PRODUCTS: usize = 10_000;
const ROUNDS: usize = 2_000;

fn percentiles(mut samples: Vec<Duration>) -> (Duration, Duration) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
    (at(0.50), at(0.99))
}

fn measure(name: &str, run: impl FnMut() -> usize) {
    measure_rounds(name, ROUNDS, run);
}

fn measure_rounds(name: &str, rounds: usize, mut run: impl FnMut() -> usize) {
    let mut samples = Vec::with_capacity(rounds);
    let mut found = 0;
    for _ in 0..rounds {
        let start = Instant::now();
        found = std::hint::black_box(run());
        samples.push(start.elapsed());
    }
    let (p50, p99) = percentiles(samples);
    println!(
        "{name:<58} {found:>6} hits   p50 {:>9.3} ms   p99 {:>9.3} ms",
        p50.as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3
    );
}

fn main() {
    let (_, policies) = support::examples();
    let mut catalog = Catalog::new();
    catalog
        .set_policies(&policies)
        .expect("example policies compile");
    let start = Instant::now();
    for product in support::synthetic(PRODUCTS) {
        catalog.upsert(product);
    }
    println!(
        "indexed {} products in {:.2} s",
        catalog.len(),
        start.elapsed().as_secs_f64()
    );

    let search = |pairs: &[(&str, &str)]| SearchQuery::from_pairs(pairs.iter().copied()).unwrap();
    let q = search(&[("q", "payment")]);
    measure("search q=payment", || catalog.search(&q).total);
    let q = search(&[("q", "refund ledger")]);
    measure("search q=refund ledger", || catalog.search(&q).total);
    let q = search(&[("q", "cust")]);
    measure("search q=cust (prefix of many tokens)", || {
        catalog.search(&q).total
    });
    let q = search(&[
        ("pii", "true"),
        ("classification", "confidential"),
        ("limit", "50"),
    ]);
    measure(
        "search filters only: pii, classification>=confidential",
        || catalog.search(&q).total,
    );

    let impact = |pairs: &[(&str, &str)]| ImpactQuery::from_pairs(pairs.iter().copied()).unwrap();
    let q = impact(&[
        ("pii", "true"),
        ("compliance", "gdpr"),
        ("retentionOver", "30d"),
    ]);
    measure("impact pii, compliance=gdpr, retentionOver=30d", || {
        catalog.impact(&q).total
    });
    let q = impact(&[("field", "customer_email")]);
    measure("impact field=customer_email", || catalog.impact(&q).total);

    let text = include_str!("../tests/fixtures/pii-30-days.yaml");
    let Ok(mut loaded) = meshplane_api::load::load_all(text, "pii-30-days.yaml") else {
        panic!("the fixture policy loads");
    };
    let Some(meshplane_api::load::Resource::GovernancePolicy(policy)) = loaded.pop() else {
        panic!("the fixture is a policy");
    };
    measure_rounds(
        "proposed policy pii-30-days against every product",
        50,
        || {
            catalog
                .policy_impact(&policy)
                .map_or(0, |i| i.rejected.len())
        },
    );
}
