//! `meshplane controller`: reconciles DataProducts into storage, workloads, access and
//! monitoring.

use clap::Args;
use meshplane_controller::{run as run_controller, Context};
use meshplane_effects::policies::keep_engine_current;
use meshplane_effects::s3::{client as s3_client, S3Settings};
use meshplane_governance::SharedEngine;
use meshplane_planner::{PlatformSettings, TopicMode};
use std::process::ExitCode;
use std::sync::Arc;

/// Arguments of `meshplane controller`.
#[derive(Args)]
pub struct ControllerArgs {
    /// Image of the ingestion workers.
    #[arg(
        long,
        env = "MESHPLANE_IMAGE",
        default_value = "ghcr.io/meshplane/meshplane:0.1.0"
    )]
    image: String,
    /// Prefix of every bucket name.
    #[arg(long, default_value = "meshplane")]
    bucket_prefix: String,
    /// Kafka bootstrap servers the workers use.
    #[arg(
        long,
        env = "MESHPLANE_KAFKA_BOOTSTRAP",
        default_value = "kafka-kafka-bootstrap.kafka.svc:9092"
    )]
    kafka_bootstrap: String,
    /// Strimzi `Kafka` cluster name (the `strimzi.io/cluster` label of KafkaTopics).
    #[arg(long, default_value = "kafka")]
    strimzi_cluster: String,
    /// Namespace Strimzi's topic operator watches; empty puts topics beside each product.
    #[arg(long, default_value = "kafka")]
    strimzi_namespace: String,
    /// Replication factor of created topics.
    #[arg(long, default_value_t = 3)]
    topic_replicas: i32,
    /// S3 endpoint (MinIO, SeaweedFS); empty for AWS.
    #[arg(long, env = "MESHPLANE_S3_ENDPOINT", default_value = "")]
    s3_endpoint: String,
    /// S3 region.
    #[arg(long, env = "AWS_REGION", default_value = "us-east-1")]
    s3_region: String,
    /// Address of the metrics (`/metrics`) and health (`/healthz`, `/readyz`) endpoints.
    #[arg(long, default_value = "0.0.0.0:8080")]
    metrics_addr: std::net::SocketAddr,
}

/// Serves `/metrics`, `/healthz` and `/readyz` (ready once the policies in force are known).
async fn serve_metrics(addr: std::net::SocketAddr, ctx: Arc<Context>) -> anyhow::Result<()> {
    use anyhow::Context as _;
    use axum::routing::get;
    let app = axum::Router::new()
        .route("/metrics", get(move || async move { ctx.metrics.render() }))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(|| async { "ok" }));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} for metrics"))?;
    axum::serve(listener, app)
        .await
        .context("the metrics server failed")
}

/// Runs the controller until SIGTERM or Ctrl-C.
pub fn run(args: ControllerArgs) -> ExitCode {
    crate::run_service(serve(args))
}

async fn serve(args: ControllerArgs) -> anyhow::Result<()> {
    use anyhow::Context as _;
    let client = kube::Client::try_default()
        .await
        .context("failed to connect to the Kubernetes API")?;
    let credential = |name: &str| {
        std::env::var(name).with_context(|| format!("{name} is not set (S3 credentials)"))
    };
    let s3 = s3_client(&S3Settings {
        endpoint: (!args.s3_endpoint.is_empty()).then(|| args.s3_endpoint.clone()),
        region: args.s3_region.clone(),
        access_key_id: credential("AWS_ACCESS_KEY_ID")?,
        secret_access_key: credential("AWS_SECRET_ACCESS_KEY")?,
    });
    let settings = PlatformSettings {
        image: args.image,
        bucket_prefix: args.bucket_prefix,
        kafka_bootstrap_servers: args.kafka_bootstrap,
        topic_mode: TopicMode::Strimzi {
            cluster: args.strimzi_cluster,
            namespace: (!args.strimzi_namespace.is_empty()).then_some(args.strimzi_namespace),
        },
        topic_replicas: args.topic_replicas,
        s3_endpoint: args.s3_endpoint,
        s3_region: args.s3_region,
        ..PlatformSettings::default()
    };
    let engine = Arc::new(SharedEngine::default());
    let (generation_tx, mut generation_rx) = tokio::sync::watch::channel(0u64);
    tokio::spawn(keep_engine_current(
        client.clone(),
        engine.clone(),
        generation_tx,
    ));
    // Decide nothing before the policies in force are known.
    generation_rx
        .wait_for(|generation| *generation > 0)
        .await
        .context("the policy watch ended before it synced")?;
    tracing::info!("controller running");
    let ctx = Arc::new(Context::new(client, engine, settings, s3));
    let metrics = tokio::spawn(serve_metrics(args.metrics_addr, ctx.clone()));
    tokio::select! {
        _ = run_controller(ctx, generation_rx, crate::shutdown_signal()) => Ok(()),
        result = metrics => result.context("the metrics task failed")?,
    }
}
