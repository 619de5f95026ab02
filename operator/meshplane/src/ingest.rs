//! `meshplane ingest`: the streaming ingestion worker of one product.

use anyhow::Context as _;
use clap::Args;
use meshplane_effects::product_status::report_last_event_time;
use meshplane_worker::metrics::Metrics;
use meshplane_worker::{run as run_worker, WorkerSettings};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// Arguments of `meshplane ingest`.
#[derive(Args)]
pub struct IngestArgs {
    /// The plan (`plan.json` of the product's ConfigMap, mounted as a file).
    #[arg(long)]
    plan: PathBuf,
    /// Commit this many seconds after an event arrived instead of the plan's update interval.
    #[arg(long)]
    flush_seconds: Option<u64>,
    /// Commit when no event arrived for this many seconds.
    #[arg(long, default_value_t = 5)]
    idle_seconds: u64,
    /// Write a partition's buffer as a data file at this many events.
    #[arg(long, default_value_t = 500_000)]
    max_events: usize,
    /// Write a partition's buffer as a data file at this many bytes of source events.
    #[arg(long, default_value_t = 128 * 1024 * 1024)]
    max_bytes: usize,
    /// Events larger than this many bytes go to the dead letter.
    #[arg(long, default_value_t = 1024 * 1024)]
    max_event_bytes: usize,
    #[command(flatten)]
    s3: crate::S3Args,
    #[command(flatten)]
    catalog: crate::iceberg_args::IcebergArgs,
    /// Address of `/metrics`, `/healthz` and `/readyz`.
    #[arg(long, env = "MESHPLANE_METRICS_ADDR", default_value = "0.0.0.0:9464")]
    metrics_addr: std::net::SocketAddr,
    /// Seconds between reports of the newest committed event time into the product's
    /// status (the catalog's measured freshness); 0 turns reporting off.
    #[arg(long, default_value_t = 15)]
    status_seconds: u64,
}

/// Runs the worker until SIGTERM, then flushes and commits.
pub fn run(args: IngestArgs) -> ExitCode {
    crate::run_service(serve(args))
}

async fn serve(args: IngestArgs) -> anyhow::Result<()> {
    let plan = crate::read_plan(&args.plan)?;
    let env = |name: &str| std::env::var(name).with_context(|| format!("{name} is not set"));
    let masking_key = env("MESHPLANE_MASKING_KEY")?.into_bytes();
    anyhow::ensure!(!masking_key.is_empty(), "MESHPLANE_MASKING_KEY is empty");
    let s3 = args.s3.settings()?;
    let settings = WorkerSettings {
        flush_interval: Duration::from_secs(
            args.flush_seconds
                .unwrap_or(plan.flush_interval_seconds)
                .max(1),
        ),
        idle_timeout: Duration::from_secs(args.idle_seconds.max(1)),
        max_events: args.max_events.max(1),
        max_bytes: args.max_bytes.max(1),
        max_event_bytes: args.max_event_bytes,
        catalog: args.catalog.settings(
            s3.clone(),
            plan.encryption.clone(),
            plan.kms_key_id.clone(),
        )?,
        s3,
        masking_key,
        plan,
    };
    let product = settings.plan.product.clone();
    let metrics = Arc::new(Metrics::default());
    if args.status_seconds > 0 {
        tokio::spawn(report_freshness(
            product,
            metrics.clone(),
            Duration::from_secs(args.status_seconds),
        ));
    }
    let (ready_tx, ready_rx) = tokio::sync::watch::channel(false);
    let render = metrics.clone();
    let server = tokio::spawn(crate::serve_metrics(
        args.metrics_addr,
        move || render.render(),
        ready_rx,
    ));
    tokio::select! {
        result = run_worker(settings, metrics, ready_tx, crate::shutdown_signal()) => result.map_err(Into::into),
        result = server => result.context("the metrics task failed")?,
    }
}

/// Copies the newest committed event time into the product's status whenever it moves.
/// Without a reachable API server (a worker run by hand) reporting stops with a warning;
/// a failed patch is retried at the next interval. Never stops ingestion.
async fn report_freshness(product: String, metrics: Arc<Metrics>, every: Duration) {
    let client = match kube::Client::try_default().await {
        Ok(client) => client,
        Err(e) => {
            tracing::warn!(error = %e, "no Kubernetes API: freshness is not reported into the product status");
            return;
        }
    };
    let mut reported = 0;
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        let newest = metrics.newest_committed_event_seconds.get();
        if newest <= reported {
            continue;
        }
        let Ok(time) = jiff::Timestamp::from_second(newest) else {
            continue;
        };
        let snapshot = metrics
            .last_snapshot
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        match report_last_event_time(&client, &product, &time.to_string(), snapshot.as_ref()).await
        {
            Ok(()) => reported = newest,
            Err(e) => tracing::warn!(error = %e, "reporting freshness failed; retrying"),
        }
    }
}
