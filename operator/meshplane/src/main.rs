//! `meshplane`: one binary, one image, with a subcommand per process.
#![forbid(unsafe_code)]

mod access_cli;
mod catalog_cli;
mod controller;
mod iceberg_args;
mod ingest;
mod maintain;
mod plan;
mod query;
mod table;
mod webhook;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// jemalloc serves every allocation of the process, librdkafka's included (the
/// `unprefixed` build replaces `malloc`/`free`): the ingestion worker frees on its consuming
/// thread what librdkafka's broker thread allocated per message, which glibc's arenas make
/// expensive (measured in BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Meshplane: a self-serve data mesh platform for Kubernetes.
#[derive(Parser)]
#[command(name = "meshplane", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the CustomResourceDefinitions (DataProduct, GovernancePolicy, AccessRequest) as YAML.
    Crds,
    /// Decide on products offline, as admission would, and render what would be provisioned.
    ///
    /// Exit status: 0 every product admitted, 1 any product rejected, 2 bad input.
    Plan(plan::PlanArgs),
    /// Reconcile DataProducts into buckets, workloads, access and monitoring.
    Controller(Box<controller::ControllerArgs>),
    /// Stream a product's source topic into its masked, partitioned Iceberg table.
    Ingest(ingest::IngestArgs),
    /// Create or evolve the Iceberg table of an ingestion plan (as the controller does).
    Table(table::TableArgs),
    /// Maintain a product's Iceberg table through Trino: delete partitions past retention,
    /// compact small files, rewrite manifests, expire snapshots, remove orphan files.
    ///
    /// Exit status: 0 every step succeeded, 1 a step failed, 2 bad input.
    Maintain(maintain::MaintainArgs),
    /// Serve the admission webhooks (HTTPS) that enforce governance in the API server.
    Webhook(webhook::WebhookArgs),
    /// Ask the catalog: search products, show one, export its contract.
    Catalog(catalog_cli::CatalogArgs),
    /// Impact analysis: which products (and fields) a question or a proposed policy touches.
    Impact(catalog_cli::ImpactArgs),
    /// Request, approve, deny and list access to products (AccessRequests).
    Access(access_cli::AccessArgs),
    /// Serve the query port: PostgreSQL's wire protocol over the products' Iceberg tables,
    /// for subjects holding grants (a Kubernetes token as the password).
    Query(Box<query::QueryArgs>),
}

fn main() -> ExitCode {
    // Both ring and aws-lc-rs are linked (kube uses ring, the AWS SDK aws-lc-rs), so rustls
    // cannot pick a default by itself: choose one for the whole process.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    match cli.command {
        Command::Crds => {
            print!("{}", meshplane_api::crds_yaml());
            ExitCode::SUCCESS
        }
        Command::Plan(args) => plan::run(&args),
        Command::Webhook(args) => webhook::run(args),
        Command::Controller(args) => controller::run(*args),
        Command::Ingest(args) => ingest::run(args),
        Command::Table(args) => table::run(args),
        Command::Maintain(args) => maintain::run(args),
        Command::Catalog(args) => catalog_cli::run_catalog(args),
        Command::Impact(args) => catalog_cli::run_impact(args),
        Command::Access(args) => access_cli::run(args),
        Command::Query(args) => query::run(*args),
    }
}

/// Reads an ingestion plan (`plan.json` of a product's ConfigMap).
pub(crate) fn read_plan(
    path: &std::path::Path,
) -> anyhow::Result<meshplane_api::ingest_plan::IngestPlan> {
    use anyhow::Context as _;
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the plan {}", path.display()))?;
    serde_json::from_str(&text)
        .with_context(|| format!("{} is not a valid ingestion plan", path.display()))
}

/// The object store of the products' table files: flags, with keys from the standard AWS
/// variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`).
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct S3Args {
    /// S3 endpoint of the tables' files; empty for AWS.
    #[arg(
        long = "s3-endpoint",
        env = "MESHPLANE_S3_ENDPOINT",
        default_value = ""
    )]
    endpoint: String,
    /// S3 region.
    #[arg(long = "s3-region", env = "AWS_REGION", default_value = "us-east-1")]
    region: String,
}

impl S3Args {
    /// The settings, with the keys read from the environment.
    pub(crate) fn settings(&self) -> anyhow::Result<meshplane_effects::s3::S3Settings> {
        use anyhow::Context as _;
        let env = |name: &str| std::env::var(name).with_context(|| format!("{name} is not set"));
        Ok(meshplane_effects::s3::S3Settings {
            endpoint: (!self.endpoint.is_empty()).then(|| self.endpoint.clone()),
            region: self.region.clone(),
            access_key_id: env("AWS_ACCESS_KEY_ID")?,
            secret_access_key: env("AWS_SECRET_ACCESS_KEY")?,
        })
    }
}

/// Reads a file, or standard input for `-`.
pub(crate) fn read_input(path: &PathBuf) -> std::io::Result<(String, String)> {
    if path.as_os_str() == "-" {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)?;
        Ok((text, "<stdin>".to_string()))
    } else {
        Ok((std::fs::read_to_string(path)?, path.display().to_string()))
    }
}

/// Runs a long-lived service on a tokio runtime, with logging; errors end the process
/// with status 1 and a message.
pub(crate) fn run_service(
    service: impl std::future::Future<Output = anyhow::Result<()>>,
) -> ExitCode {
    init_tracing();
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime starts");
    match runtime.block_on(service) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Logs to stderr; `RUST_LOG` filters (default `info`).
pub(crate) fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Resolves on SIGTERM or Ctrl-C.
pub(crate) async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler installs");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// Serves `/metrics` (from `render`), `/healthz` and `/readyz` (200 once `ready` is true).
pub(crate) async fn serve_metrics(
    addr: std::net::SocketAddr,
    render: impl Fn() -> String + Clone + Send + Sync + 'static,
    ready: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<()> {
    use anyhow::Context as _;
    use axum::http::StatusCode;
    use axum::routing::get;
    let app = axum::Router::new()
        .route("/metrics", get(move || async move { render() }))
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/readyz",
            get(move || async move {
                if *ready.borrow() {
                    (StatusCode::OK, "ok")
                } else {
                    (StatusCode::SERVICE_UNAVAILABLE, "starting")
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} for metrics"))?;
    axum::serve(listener, app)
        .await
        .context("the metrics server failed")
}
