//! `meshplane controller`: reconciles DataProducts into storage, workloads, access and
//! monitoring.

use clap::{Args, ValueEnum};
use meshplane_catalog::{CatalogState, Ui};
use meshplane_controller::access::run as run_access;
use meshplane_controller::{run as run_controller, Context, Credentials};
use meshplane_effects::catalog_feed::{keep_catalog_current, SharedCatalog};
use meshplane_effects::kafka::KafkaAdmin;
use meshplane_effects::leader::{self, LeaseSettings};
use meshplane_effects::policies::keep_engine_current;
use meshplane_effects::policy_status::keep_policy_status;
use meshplane_effects::s3::{client as s3_client, S3Settings};
use meshplane_governance::SharedEngine;
use meshplane_planner::{PlatformSettings, TopicMode};
use std::process::ExitCode;
use std::sync::Arc;

/// The catalog's web UI, shipped in the binary.
const CATALOG_UI: Ui = Ui {
    index_html: include_str!("../ui/index.html"),
    app_js: include_str!("../ui/app.js"),
    style_css: include_str!("../ui/style.css"),
};

/// How topics are provisioned.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum TopicModeFlag {
    /// KafkaTopic resources for Strimzi's topic operator.
    Strimzi,
    /// The Kafka admin API on --kafka-bootstrap.
    Direct,
}

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
    /// When nodes pull the worker image: IfNotPresent, Always, or Never (images imported
    /// into the nodes).
    #[arg(long, env = "MESHPLANE_IMAGE_PULL_POLICY", default_value = "IfNotPresent",
          value_parser = ["IfNotPresent", "Always", "Never"])]
    image_pull_policy: String,
    /// CPU each ingestion worker requests.
    #[arg(long, env = "MESHPLANE_WORKER_CPU_REQUEST", default_value = "250m")]
    worker_cpu_request: String,
    /// Memory each ingestion worker requests.
    #[arg(long, env = "MESHPLANE_WORKER_MEMORY_REQUEST", default_value = "256Mi")]
    worker_memory_request: String,
    /// Memory limit of each ingestion worker.
    #[arg(long, env = "MESHPLANE_WORKER_MEMORY_LIMIT", default_value = "1Gi")]
    worker_memory_limit: String,
    /// Trino coordinator that runs each product's scheduled table maintenance (retention,
    /// compaction, snapshot expiry), e.g. `http://trino.trino.svc:8080`. Empty: no
    /// maintenance jobs, and the products' status says their tables are not maintained.
    #[arg(long, env = "MESHPLANE_MAINTENANCE_TRINO_URL", default_value = "")]
    maintenance_trino_url: String,
    /// Trino's catalog holding the products' tables.
    #[arg(long, default_value = "meshplane")]
    maintenance_trino_catalog: String,
    /// Cron schedule of the maintenance jobs.
    #[arg(long, default_value = "30 * * * *")]
    maintenance_schedule: String,
    /// Snapshots kept before maintenance expires them (e.g. `7d`).
    #[arg(long, default_value = "7d", value_parser = duration_text)]
    maintenance_keep_snapshots: String,
    /// Age after which unreferenced files are removed (e.g. `7d`): longer than any worker
    /// holds written, uncommitted files.
    #[arg(long, default_value = "7d", value_parser = duration_text)]
    maintenance_orphan_age: String,
    /// How long every SLO alert's condition must hold before it fires (e.g. `2m`); empty:
    /// each alert's own (freshness 5m, rejecting records 15m, ingestion down 10m).
    #[arg(long, default_value = "", value_parser = optional_duration_text)]
    alert_for: String,
    /// The platform's Prometheus scrapes the query port: render each product's
    /// query-latency panel and its `queryLatencyP99` alert.
    #[arg(long)]
    query_latency_scraped: bool,
    /// The platform's Prometheus (e.g. `http://prometheus-operated.monitoring:9090`),
    /// from which the products' completeness is measured; empty: not measured, and the
    /// `CompletenessSLOMet` condition says so.
    #[arg(long, env = "MESHPLANE_PROMETHEUS_URL", default_value = "")]
    prometheus_url: String,
    /// The object store's IAM endpoint (the IAM Query API: `https://iam.amazonaws.com`
    /// on AWS; SeaweedFS serves it on its S3 URL), signed with the controller's S3 keys,
    /// through which each access grant gets its own read-only keys for one product, and
    /// each product's workers their own keys for its bucket alone (Secret
    /// `<product>-worker-keys`; the MESHPLANE_WORKER_* pair is then not used). Empty:
    /// grants carry the product's location only (their status says so), and the workers
    /// share the namespace's `meshplane-s3-credentials`.
    #[arg(long, env = "MESHPLANE_IAM_ENDPOINT", default_value = "")]
    iam_endpoint: String,
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
    /// How topics are provisioned.
    #[arg(long, value_enum, default_value_t = TopicModeFlag::Strimzi)]
    topic_mode: TopicModeFlag,
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
    /// Reconciles running at once. The Kubernetes client has no client-side rate limit;
    /// this bounds the load on the API server, S3 and Kafka instead.
    #[arg(long, default_value_t = 16)]
    concurrency: u16,
    /// Elect a leader on a Lease so that only one replica reconciles.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    leader_elect: bool,
    /// Namespace of the leader-election Lease.
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    lease_namespace: String,
    /// Name of the leader-election Lease.
    #[arg(long, default_value = "meshplane-controller")]
    lease_name: String,
    /// Seconds a Lease stays valid without renewal (takeover time after a crash).
    #[arg(long, default_value_t = 15)]
    lease_seconds: u64,
    /// Address of the metrics (`/metrics`) and health (`/healthz`, `/readyz`) endpoints.
    #[arg(long, default_value = "0.0.0.0:8080")]
    metrics_addr: std::net::SocketAddr,
    #[command(flatten)]
    tables: crate::iceberg_args::IcebergArgs,
    /// Address of the catalog's web UI and JSON API (served by every replica).
    #[arg(long, default_value = "0.0.0.0:8090")]
    catalog_addr: std::net::SocketAddr,
}

/// Connects to the Iceberg catalog, waiting until it answers: products cannot be
/// provisioned without their tables.
async fn connect_tables(
    settings: &meshplane_effects::iceberg::CatalogSettings,
) -> meshplane_controller::context::TableCatalog {
    let mut delay = std::time::Duration::from_millis(200);
    loop {
        match meshplane_effects::iceberg::connect(settings).await {
            Ok(catalog) => {
                tracing::info!(uri = %settings.redacted_uri(), name = %settings.name, "Iceberg catalog connected");
                return meshplane_controller::context::TableCatalog {
                    catalog,
                    name: settings.name.clone(),
                };
            }
            Err(e) => {
                tracing::warn!(error = %e, retry_in = ?delay, "Iceberg catalog unreachable; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(std::time::Duration::from_secs(10));
            }
        }
    }
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
    let s3_settings = S3Settings {
        endpoint: (!args.s3_endpoint.is_empty()).then(|| args.s3_endpoint.clone()),
        region: args.s3_region.clone(),
        access_key_id: credential("AWS_ACCESS_KEY_ID")?,
        secret_access_key: credential("AWS_SECRET_ACCESS_KEY")?,
    };
    let s3 = s3_client(&s3_settings);
    let tables = if args.tables.configured() {
        let settings = args.tables.settings(s3_settings.clone(), None, None)?;
        Some(connect_tables(&settings).await)
    } else {
        tracing::warn!("no Iceberg catalog configured (--iceberg-uri): products get no table");
        None
    };
    let pair = |id: &str, secret: &str| match (std::env::var(id), std::env::var(secret)) {
        (Ok(id), Ok(secret)) => Some((id, secret)),
        _ => None,
    };
    let credentials = Credentials {
        worker: pair(
            "MESHPLANE_WORKER_ACCESS_KEY_ID",
            "MESHPLANE_WORKER_SECRET_ACCESS_KEY",
        ),
        reader: pair(
            "MESHPLANE_READER_ACCESS_KEY_ID",
            "MESHPLANE_READER_SECRET_ACCESS_KEY",
        ),
        catalog_uri: args.tables.uri(),
    };
    let catalog = SharedCatalog::default();
    let catalog_listener = tokio::net::TcpListener::bind(args.catalog_addr)
        .await
        .with_context(|| format!("cannot listen on {} for the catalog", args.catalog_addr))?;
    let catalog_app = meshplane_catalog::router(
        CatalogState {
            catalog: catalog.clone(),
            kafka_namespace: format!("kafka://{}", args.kafka_bootstrap),
        },
        CATALOG_UI,
    );
    let catalog_server =
        tokio::spawn(async move { axum::serve(catalog_listener, catalog_app).await });
    tracing::info!(addr = %args.catalog_addr, "catalog serving");
    let direct = args.topic_mode == TopicModeFlag::Direct;
    let kafka = if direct {
        Some(KafkaAdmin::new(&args.kafka_bootstrap).context("direct topic mode")?)
    } else {
        None
    };
    let settings = PlatformSettings {
        image: args.image,
        bucket_prefix: args.bucket_prefix,
        kafka_bootstrap_servers: args.kafka_bootstrap,
        topic_mode: if direct {
            TopicMode::Direct
        } else {
            TopicMode::Strimzi {
                cluster: args.strimzi_cluster,
                namespace: (!args.strimzi_namespace.is_empty()).then_some(args.strimzi_namespace),
            }
        },
        topic_replicas: args.topic_replicas,
        s3_endpoint: args.s3_endpoint,
        s3_region: args.s3_region,
        image_pull_policy: args.image_pull_policy,
        worker_cpu_request: args.worker_cpu_request,
        worker_memory_request: args.worker_memory_request,
        worker_memory_limit: args.worker_memory_limit,
        catalog_type: args.tables.kind_name().into(),
        catalog_name: args.tables.name().into(),
        catalog_warehouse: args.tables.warehouse().into(),
        maintenance_trino_url: args.maintenance_trino_url,
        maintenance_trino_catalog: args.maintenance_trino_catalog,
        maintenance_schedule: args.maintenance_schedule,
        maintenance_keep_snapshots: args.maintenance_keep_snapshots,
        maintenance_orphan_age: args.maintenance_orphan_age,
        alert_for: args.alert_for,
        query_latency_scraped: args.query_latency_scraped,
        worker_keys_per_product: !args.iam_endpoint.is_empty(),
        ..PlatformSettings::default()
    };
    let engine = Arc::new(SharedEngine::default());
    let (generation_tx, mut generation_rx) = tokio::sync::watch::channel(0u64);
    tokio::spawn(keep_engine_current(
        client.clone(),
        engine.clone(),
        generation_tx,
    ));
    // The catalog decides with the same engine, rebuilt by the same policy watch.
    tokio::spawn(keep_catalog_current(
        client.clone(),
        catalog,
        engine.clone(),
        generation_rx.clone(),
    ));
    // Decide nothing before the policies in force are known.
    generation_rx
        .wait_for(|generation| *generation > 0)
        .await
        .context("the policy watch ended before it synced")?;
    let mut ctx = Context::new(client.clone(), engine, settings, s3, kafka, credentials);
    ctx.concurrency = args.concurrency;
    if let Some(tables) = tables {
        ctx = ctx.with_tables(tables);
    }
    if !args.prometheus_url.is_empty() {
        ctx = ctx.with_prometheus(meshplane_effects::prometheus::Prometheus::new(
            &args.prometheus_url,
        ));
    }
    if !args.iam_endpoint.is_empty() {
        ctx = ctx.with_identity(Arc::new(meshplane_effects::identity::IamApi::new(
            &args.iam_endpoint,
            &s3_settings.region,
            meshplane_effects::identity::KeyPair {
                access_key_id: s3_settings.access_key_id.clone(),
                secret_access_key: s3_settings.secret_access_key.clone(),
            },
        )));
    }
    let ctx = Arc::new(ctx);
    // Started after the policies in force are known, so ready from the start.
    let (_ready_tx, ready_rx) = tokio::sync::watch::channel(true);
    let render = ctx.clone();
    let metrics = tokio::spawn(crate::serve_metrics(
        args.metrics_addr,
        move || render.metrics.render() + &meshplane_effects::policies::render_metrics(),
        ready_rx,
    ));
    let lease = LeaseSettings {
        namespace: args.lease_namespace,
        name: args.lease_name,
        identity: identity(),
        duration: std::time::Duration::from_secs(args.lease_seconds.max(2)),
        renew_every: std::time::Duration::from_secs((args.lease_seconds / 3).max(1)),
    };
    if args.leader_elect {
        tracing::info!(lease = %lease.name, identity = %lease.identity, "waiting for leadership");
        tokio::select! {
            () = leader::acquire(&client, &lease) => {}
            () = crate::shutdown_signal() => return Ok(()),
        }
    }
    tracing::info!("controller running");
    // Policy statuses have one writer, the replica that leads.
    tokio::spawn(keep_policy_status(
        client.clone(),
        ctx.engine.clone(),
        generation_rx.clone(),
        std::time::Duration::from_secs(30),
    ));
    let lost = async {
        if args.leader_elect {
            leader::hold(&client, &lease).await
        } else {
            std::future::pending().await
        }
    };
    let result = tokio::select! {
        _ = async {
            tokio::join!(
                run_controller(ctx.clone(), generation_rx.clone(), crate::shutdown_signal()),
                run_access(ctx, generation_rx, crate::shutdown_signal()),
            )
        } => Ok(()),
        error = lost => Err(anyhow::Error::new(error).context("stopping: leadership lost")),
        result = metrics => result.context("the metrics task failed")?,
        result = catalog_server => Err(match result {
            Ok(Ok(())) => anyhow::anyhow!("the catalog server stopped"),
            Ok(Err(e)) => anyhow::Error::new(e).context("the catalog server failed"),
            Err(e) => anyhow::Error::new(e).context("the catalog task failed"),
        }),
    };
    if args.leader_elect && result.is_ok() {
        leader::release(&client, &lease).await;
    }
    result
}

/// This replica's identity: its pod name in a cluster, host and process id elsewhere.
fn identity() -> String {
    std::env::var("POD_NAME").unwrap_or_else(|_| {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "localhost".into());
        format!("{host}-{}", std::process::id())
    })
}

/// A duration as resources write them (`7d`), checked at start-up.
fn duration_text(text: &str) -> Result<String, String> {
    meshplane_api::duration::parse(text)
        .map(|_| text.to_string())
        .map_err(|e| e.to_string())
}

fn optional_duration_text(text: &str) -> Result<String, String> {
    if text.is_empty() {
        return Ok(String::new());
    }
    duration_text(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: ControllerArgs,
    }

    #[test]
    fn topic_mode_is_strimzi_or_direct_and_nothing_else() {
        let mode = |argv: &[&str]| Cli::try_parse_from(argv).map(|c| c.args.topic_mode);
        assert_eq!(mode(&["controller"]).unwrap(), TopicModeFlag::Strimzi);
        assert_eq!(
            mode(&["controller", "--topic-mode", "direct"]).unwrap(),
            TopicModeFlag::Direct
        );
        let error = mode(&["controller", "--topic-mode=kraft"])
            .err()
            .unwrap()
            .to_string();
        assert!(
            error.contains("[possible values: strimzi, direct]"),
            "{error}"
        );
    }
}
