//! Decisions per second for a 50-field product under 5 policies (`make bench-governance`).

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use meshplane_api::load::{load_all, Resource};
use meshplane_api::{DataProduct, GovernancePolicy};
use meshplane_governance::Engine;
use std::hint::black_box;

const FIXTURE: &str = include_str!("../tests/fixtures/bench-50-fields-5-policies.yaml");

fn fixture() -> (DataProduct, Vec<GovernancePolicy>) {
    let mut product = None;
    let mut policies = Vec::new();
    for resource in load_all(FIXTURE, "bench fixture").expect("fixture loads") {
        match resource {
            Resource::DataProduct(p) => product = Some(*p),
            Resource::GovernancePolicy(p) => policies.push(*p),
        }
    }
    (product.expect("fixture has a product"), policies)
}

fn decisions(c: &mut Criterion) {
    let (product, policies) = fixture();
    assert_eq!(product.spec.schema.fields.len(), 50);
    assert_eq!(policies.len(), 5);
    let engine = Engine::new(&policies).expect("policies compile");
    let mut group = c.benchmark_group("governance");
    group.throughput(Throughput::Elements(1));
    group.bench_function("evaluate 50 fields x 5 policies", |b| {
        b.iter(|| engine.evaluate(black_box(&product)))
    });
    // Every field name new to the engine: no remembered pattern results.
    let mut generation = 0u64;
    group.bench_function("evaluate 50 fields x 5 policies, unseen field names", |b| {
        b.iter_batched(
            || {
                generation += 1;
                let mut p = product.clone();
                for f in &mut p.spec.schema.fields {
                    f.name = format!("{}_{generation}", f.name);
                }
                p.spec.output.table.as_mut().unwrap().partitioning = None;
                p.spec.quality.clear();
                p
            },
            |p| engine.evaluate(black_box(&p)),
            BatchSize::SmallInput,
        )
    });
    // The controller's periodic re-evaluation: the product is already admitted.
    let admitted = engine.evaluate(&product).effective;
    group.bench_function(
        "re-evaluate an admitted 50-field product x 5 policies",
        |b| b.iter(|| engine.evaluate(black_box(&admitted))),
    );
    group.bench_function("compile 5 policies", |b| {
        b.iter(|| Engine::new(black_box(&policies)).expect("compiles"))
    });
    group.finish();
}

criterion_group!(benches, decisions);
criterion_main!(benches);
