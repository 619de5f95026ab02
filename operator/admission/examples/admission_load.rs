//! Open-loop load generator for the admission webhook (`make bench-admission`).
//!
//! Sends AdmissionReview bodies at a fixed rate over a few keep-alive HTTPS connections
//! and reports latency percentiles. Latency is measured from each request's *scheduled*
//! send time, so a stalled server cannot hide its queueing (no coordinated omission).
//!
//!   cargo run --release -p meshplane-admission --example admission_load -- \
//!     https://127.0.0.1:9443/validate/dataproducts body.json 500 20

use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 5 {
        eprintln!("usage: admission_load URL BODY_FILE RATE_PER_SECOND SECONDS");
        std::process::exit(2);
    }
    let (url, body_file) = (args[1].clone(), &args[2]);
    let rate: u64 = args[3].parse().expect("rate is a number");
    let seconds: u64 = args[4].parse().expect("seconds is a number");
    let body = bytes(body_file);

    rustls::crypto::ring::default_provider()
        .install_default()
        .expect("one crypto provider");
    // The webhook's certificate is signed by its own CA; TLS cost is the same either way.
    let client = reqwest::Client::builder()
        .tls_danger_accept_invalid_certs(true)
        .pool_max_idle_per_host(64)
        .build()
        .expect("client builds");

    // Warm up connections and the server's memo.
    for _ in 0..200 {
        let _ = client
            .post(&url)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await;
    }

    let latencies = Arc::new(Mutex::new(Vec::with_capacity((rate * seconds) as usize)));
    let errors = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let interval = Duration::from_nanos(1_000_000_000 / rate);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..rate * seconds {
        let scheduled = start + interval * i as u32;
        tokio::time::sleep_until(scheduled.into()).await;
        let (client, url, body, latencies, errors) = (
            client.clone(),
            url.clone(),
            body.clone(),
            latencies.clone(),
            errors.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let result = client
                .post(&url)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await;
            let ok = match result {
                Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                Err(_) => false,
            };
            if ok {
                latencies.lock().await.push(scheduled.elapsed());
            } else {
                errors.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let elapsed = start.elapsed();
    let mut l = latencies.lock().await.clone();
    l.sort();
    let pct = |p: f64| l[((l.len() as f64 * p) as usize).min(l.len() - 1)];
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "requests={} errors={} achieved_rate={:.0}/s p50={:.2}ms p90={:.2}ms p99={:.2}ms max={:.2}ms",
        l.len(),
        errors.load(std::sync::atomic::Ordering::Relaxed),
        l.len() as f64 / elapsed.as_secs_f64(),
        ms(pct(0.50)),
        ms(pct(0.90)),
        ms(pct(0.99)),
        ms(*l.last().unwrap()),
    );
}

fn bytes(path: &str) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
}
