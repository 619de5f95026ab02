//! `meshplane query`: the query port. PostgreSQL clients (psql, BI tools, Grafana)
//! connect with a Kubernetes token as the password and query the products they hold
//! grants on; see docs/query.md.

use anyhow::Context as _;
use clap::Args;
use meshplane_effects::authentication::TokenReviews;
use meshplane_query::engine::{Engine, Limits};
use meshplane_query::grants::{Grants, Subject};
use meshplane_query::metrics::Metrics;
use meshplane_query::server::{Authenticator, QueryPort};
use meshplane_query::table::TableCache;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// Arguments of `meshplane query`.
#[derive(Args)]
pub struct QueryArgs {
    /// Address the PostgreSQL protocol is served on.
    #[arg(long, env = "MESHPLANE_QUERY_LISTEN", default_value = "0.0.0.0:5433")]
    listen: SocketAddr,
    /// Address of `/metrics`, `/healthz` and `/readyz`.
    #[arg(long, default_value = "0.0.0.0:8080")]
    metrics_addr: SocketAddr,
    #[command(flatten)]
    catalog: crate::iceberg_args::IcebergArgs,
    #[command(flatten)]
    s3: crate::S3Args,
    /// Longest a statement may run before it is cancelled (e.g. `30s`).
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    statement_timeout: Duration,
    /// Most rows a result may have; a statement past it is cancelled.
    #[arg(long, default_value_t = 100_000)]
    max_rows: usize,
    /// Memory, in MiB, that running statements share; sorts, joins and aggregates past it
    /// fail with a message.
    #[arg(long, default_value_t = 512)]
    memory_mib: usize,
    /// How long a table's metadata is reused before the catalog is asked again (a
    /// commit becomes visible within this).
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    table_refresh: Duration,
    /// Most connections served at once; more wait to be accepted.
    #[arg(long, default_value_t = 256)]
    max_connections: usize,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    meshplane_api::duration::parse(text).map_err(|e| e.to_string())
}

/// Serves until SIGTERM.
pub fn run(args: QueryArgs) -> ExitCode {
    crate::run_service(serve(args))
}

struct ClusterTokens(TokenReviews);

#[async_trait::async_trait]
impl Authenticator for ClusterTokens {
    async fn authenticate(&self, token: &str) -> Result<Subject, String> {
        let reviewed = self.0.review(token).await.map_err(|e| e.to_string())?;
        Ok(Subject {
            user: reviewed.username,
            groups: reviewed.groups,
        })
    }
}

async fn serve(args: QueryArgs) -> anyhow::Result<()> {
    let s3 = args.s3.settings()?;
    let settings = args.catalog.settings(s3, None, None)?;
    let catalog = meshplane_effects::iceberg::connect(&settings).await?;
    let cache = Arc::new(TableCache::new(catalog, args.table_refresh));
    let engine = Arc::new(Engine::new(
        cache,
        Limits {
            statement_timeout: args.statement_timeout,
            max_rows: args.max_rows,
            memory_bytes: args.memory_mib * 1024 * 1024,
        },
    )?);
    let client = kube::Client::try_default()
        .await
        .context("cannot reach the Kubernetes API")?;
    let grants = Arc::new(RwLock::new(Arc::new(Grants::default())));
    let metrics = Arc::new(Metrics::default());
    let (ready_tx, ready_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(meshplane_query::watch::keep_current(
        client.clone(),
        grants.clone(),
        ready_tx,
    ));
    let render = {
        let metrics = metrics.clone();
        move || metrics.render()
    };
    let metrics_addr = args.metrics_addr;
    tokio::spawn(async move {
        if let Err(e) = crate::serve_metrics(metrics_addr, render, ready_rx).await {
            tracing::error!("{e:#}");
        }
    });
    let port = Arc::new(QueryPort::new(
        engine,
        grants,
        metrics,
        Arc::new(ClusterTokens(TokenReviews::new(client))),
    ));
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    tracing::info!("query port listening on {}", args.listen);
    let connections = Arc::new(tokio::sync::Semaphore::new(args.max_connections.max(1)));
    let shutdown = crate::shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            _ = &mut shutdown => return Ok(()),
            permit = connections.clone().acquire_owned() => permit.context("connection limit closed")?,
        };
        let (socket, peer) = tokio::select! {
            _ = &mut shutdown => return Ok(()),
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!("accepting a connection: {e}");
                    continue;
                }
            },
        };
        let handlers = port.handlers();
        tokio::spawn(async move {
            if let Err(e) = pgwire::tokio::process_socket(socket, None, handlers).await {
                tracing::debug!("connection from {peer} ended: {e}");
            }
            drop(permit);
        });
    }
}
