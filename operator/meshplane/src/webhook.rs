//! `meshplane webhook`: the admission webhooks, with self-managed certificates.

use axum_server::tls_rustls::RustlsConfig;
use clap::Args;
use meshplane_admission::configuration::WebhookTarget;
use meshplane_admission::{router, AdmissionState};
use meshplane_effects::webhook::{apply_configurations, ensure_certificate, keep_engine_current};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Arguments of `meshplane webhook`.
#[derive(Args)]
pub struct WebhookArgs {
    /// Address to serve HTTPS on.
    #[arg(long, default_value = "0.0.0.0:9443")]
    listen: SocketAddr,
    /// The operator's namespace: holds the certificate Secret, and is exempt from the webhooks.
    #[arg(long, env = "MESHPLANE_NAMESPACE", default_value = "meshplane-system")]
    namespace: String,
    /// Name of the Secret holding the CA and serving certificate.
    #[arg(long, default_value = "meshplane-webhook-tls")]
    cert_secret: String,
    /// Reach the webhook through this Service (in-cluster).
    #[arg(long, default_value = "meshplane-webhook", conflicts_with = "url")]
    service_name: String,
    /// Port of the Service.
    #[arg(long, default_value_t = 443)]
    service_port: i32,
    /// Reach the webhook at this base URL instead of a Service, e.g. https://127.0.0.1:9443.
    #[arg(long)]
    url: Option<String>,
}

fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Runs the webhook until SIGTERM or Ctrl-C.
pub fn run(args: WebhookArgs) -> ExitCode {
    crate::init_tracing();
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime starts");
    match runtime.block_on(serve(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(args: WebhookArgs) -> anyhow::Result<()> {
    use anyhow::Context;
    let client = kube::Client::try_default()
        .await
        .context("failed to connect to the Kubernetes API")?;
    let (target, names) = match &args.url {
        Some(url) => {
            let host = url
                .trim_start_matches("https://")
                .split(['/', ':'])
                .next()
                .unwrap_or_default()
                .to_string();
            (WebhookTarget::Url(url.clone()), vec![host])
        }
        None => {
            let svc = format!("{}.{}.svc", args.service_name, args.namespace);
            (
                WebhookTarget::Service {
                    name: args.service_name.clone(),
                    namespace: args.namespace.clone(),
                    port: args.service_port,
                },
                vec![svc.clone(), format!("{svc}.cluster.local")],
            )
        }
    };
    let mut bundle = ensure_certificate(
        &client,
        &args.namespace,
        &args.cert_secret,
        &names,
        now_unix(),
    )
    .await?;

    // Never answer before the policies in force are known: that would admit everything.
    let state = Arc::new(AdmissionState::default());
    let (ready_tx, mut ready_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(keep_engine_current(client.clone(), state.clone(), ready_tx));
    ready_rx
        .wait_for(|ready| *ready)
        .await
        .context("the policy watch ended before it synced")?;

    let tls = RustlsConfig::from_pem(
        bundle.cert_pem.clone().into_bytes(),
        bundle.key_pem.clone().into_bytes(),
    )
    .await
    .context("failed to load the serving certificate")?;
    let handle = axum_server::Handle::new();
    let server = axum_server::bind_rustls(args.listen, tls.clone())
        .handle(handle.clone())
        .serve(router(state).into_make_service());
    let server = tokio::spawn(server);
    apply_configurations(&client, &target, &bundle.ca_cert_pem, &args.namespace).await?;
    tracing::info!(listen = %args.listen, "admission webhook serving");

    let mut renewal = tokio::time::interval(Duration::from_secs(3600));
    renewal.tick().await;
    let shutdown = crate::shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            _ = renewal.tick() => {
                match ensure_certificate(&client, &args.namespace, &args.cert_secret, &names, now_unix()).await {
                    Ok(renewed) if renewed != bundle => {
                        tls.reload_from_pem(renewed.cert_pem.clone().into_bytes(), renewed.key_pem.clone().into_bytes())
                            .await
                            .context("failed to reload the renewed certificate")?;
                        apply_configurations(&client, &target, &renewed.ca_cert_pem, &args.namespace).await?;
                        tracing::info!(not_after = renewed.not_after, "webhook certificate renewed and reloaded");
                        bundle = renewed;
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "certificate renewal check failed; retrying in an hour"),
                }
            }
        }
    }
    handle.graceful_shutdown(Some(Duration::from_secs(10)));
    server
        .await
        .context("the server task failed")?
        .context("the server failed")?;
    Ok(())
}
