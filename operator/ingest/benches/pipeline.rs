//! Criterion: decode + check + mask of one ~300-byte Orders event (8 fields, 2 PII), and
//! Parquet encoding of 10,000 decoded rows. `cargo bench -p meshplane-ingest`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use meshplane_api::ingest_plan::IngestPlan;
use meshplane_ingest::{arrow_schema, write_parquet, Decoder};
use std::hint::black_box;

fn event(i: usize) -> Vec<u8> {
    format!(
        r#"{{"order_id":"order-{i:09}","customer_id":"customer-{:06}","customer_email":"user{i}@example.com","shipping_address":"{i} Long Street, Apt {}, Springfield","order_total":{}.5,"currency":"EUR","status":"paid","event_time":"2026-11-27T09:{:02}:00Z"}}"#,
        i % 50_000,
        i % 97,
        i % 1000,
        i % 60
    )
    .into_bytes()
}

fn pipeline(c: &mut Criterion) {
    let plan: IngestPlan =
        serde_json::from_str(include_str!("../tests/fixtures/orders-plan.json")).unwrap();
    let decoder = Decoder::new(&plan, b"bench-key").unwrap();
    let events: Vec<Vec<u8>> = (0..1000).map(event).collect();
    let mut group = c.benchmark_group("ingest");
    group.throughput(Throughput::Elements(events.len() as u64));
    group.bench_function("decode_check_mask_1000_events", |b| {
        b.iter(|| {
            for e in &events {
                black_box(decoder.decode(black_box(e)).unwrap());
            }
        })
    });
    let rows: Vec<_> = (0..10_000)
        .map(|i| decoder.decode(&event(i)).unwrap().cells)
        .collect();
    let schema = arrow_schema(decoder.fields());
    group.throughput(Throughput::Elements(rows.len() as u64));
    group.bench_function("parquet_zstd_10000_rows", |b| {
        b.iter(|| black_box(write_parquet(&schema, black_box(&rows)).unwrap()))
    });
    group.finish();
}

criterion_group!(benches, pipeline);
criterion_main!(benches);
