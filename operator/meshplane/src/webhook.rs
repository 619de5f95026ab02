//! `meshplane webhook`: the admission webhooks, with self-managed certificates.

use axum_server::tls_rustls::RustlsConfig;
use clap::Args;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use meshplane_admission::configuration::WebhookTarget;
use meshplane_admission::{access_router, router, AdmissionState};
use meshplane_effects::authorization::SubjectAccessReviews;
use meshplane_effects::policies::keep_engine_current;
use meshplane_effects::webhook::{apply_configurations, cluster_role_owner, ensure_certificate};
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
    /// Serve the certificate in this directory (`tls.crt`, `tls.key`, `ca.crt`) — e.g. a
    /// cert-manager Secret mounted as a volume — instead of managing one, reloading it when
    /// it changes. The webhook configurations get `ca.crt` as their caBundle.
    #[arg(long)]
    cert_dir: Option<std::path::PathBuf>,
    /// Seconds between certificate checks (renewal of a managed certificate, rotation of a
    /// mounted one). Defaults: 3600 managed, 60 mounted.
    #[arg(long)]
    cert_check_seconds: Option<u64>,
    /// Make this ClusterRole (the chart's) the owner of the webhook configurations, so
    /// that they are deleted with the release instead of refusing every DataProduct.
    #[arg(long)]
    owner_cluster_role: Option<String>,
}

/// Where the serving certificate comes from.
enum Certificates {
    /// Self-managed in a Secret; the configurations are applied with its CA.
    Managed {
        bundle: Box<meshplane_admission::certs::CertBundle>,
    },
    /// Mounted files owned by someone else (cert-manager).
    Mounted {
        dir: std::path::PathBuf,
        cert: Vec<u8>,
        key: Vec<u8>,
        ca: String,
    },
}

fn read_mounted(dir: &std::path::Path) -> anyhow::Result<(Vec<u8>, Vec<u8>, String)> {
    use anyhow::Context;
    let read = |file: &str| {
        std::fs::read(dir.join(file))
            .with_context(|| format!("cannot read {}/{file}", dir.display()))
    };
    let ca = String::from_utf8(read("ca.crt")?).context("ca.crt is not PEM text")?;
    Ok((read("tls.crt")?, read("tls.key")?, ca))
}

fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Reloads the serving certificate when it changed (renewed, written by another
/// replica, or rotated by cert-manager).
async fn refresh(
    client: &kube::Client,
    args: &WebhookArgs,
    target: &WebhookTarget,
    names: &[String],
    tls: &RustlsConfig,
    certificates: &mut Certificates,
    owner: Option<&OwnerReference>,
) -> anyhow::Result<()> {
    use anyhow::Context;
    match certificates {
        Certificates::Managed { bundle } => {
            let current = ensure_certificate(
                client,
                &args.namespace,
                &args.cert_secret,
                names,
                now_unix(),
            )
            .await?;
            if current != **bundle {
                tls.reload_from_pem(
                    current.cert_pem.clone().into_bytes(),
                    current.key_pem.clone().into_bytes(),
                )
                .await
                .context("failed to reload the renewed certificate")?;
                apply_configurations(client, target, &current.ca_cert_pem, &args.namespace, owner)
                    .await?;
                tracing::info!(
                    not_after = current.not_after,
                    "webhook certificate renewed and reloaded"
                );
                **bundle = current;
            }
        }
        Certificates::Mounted { dir, cert, key, ca } => {
            let (new_cert, new_key, new_ca) = read_mounted(dir)?;
            if (&new_cert, &new_key, &new_ca) != (cert, key, ca) {
                if new_ca != *ca {
                    // Trust the new CA before serving a certificate it signed.
                    apply_configurations(client, target, &new_ca, &args.namespace, owner).await?;
                }
                tls.reload_from_pem(new_cert.clone(), new_key.clone())
                    .await
                    .context("failed to reload the mounted certificate")?;
                tracing::info!(dir = %dir.display(), "mounted webhook certificate reloaded");
                (*cert, *key, *ca) = (new_cert, new_key, new_ca);
            }
        }
    }
    Ok(())
}

/// Runs the webhook until SIGTERM or Ctrl-C.
pub fn run(args: WebhookArgs) -> ExitCode {
    crate::run_service(serve(args))
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
    let mut certificates = match &args.cert_dir {
        Some(dir) => {
            let (cert, key, ca) = read_mounted(dir)?;
            Certificates::Mounted {
                dir: dir.clone(),
                cert,
                key,
                ca,
            }
        }
        None => Certificates::Managed {
            bundle: Box::new(
                ensure_certificate(
                    &client,
                    &args.namespace,
                    &args.cert_secret,
                    &names,
                    now_unix(),
                )
                .await?,
            ),
        },
    };

    let owner = match &args.owner_cluster_role {
        Some(name) => Some(cluster_role_owner(&client, name).await?),
        None => None,
    };

    // Never answer before the policies in force are known: that would admit everything.
    let state = Arc::new(AdmissionState::default());
    let (ready_tx, mut ready_rx) = tokio::sync::watch::channel(0u64);
    tokio::spawn(keep_engine_current(client.clone(), state.clone(), ready_tx));
    ready_rx
        .wait_for(|generation| *generation > 0)
        .await
        .context("the policy watch ended before it synced")?;

    let (cert, key) = match &certificates {
        Certificates::Managed { bundle } => (
            bundle.cert_pem.clone().into_bytes(),
            bundle.key_pem.clone().into_bytes(),
        ),
        Certificates::Mounted { cert, key, .. } => (cert.clone(), key.clone()),
    };
    let tls = RustlsConfig::from_pem(cert, key)
        .await
        .context("failed to load the serving certificate")?;
    // The policy watch's counters, on the port already served: no second listener to
    // configure, and scrapers reach it with the webhook's CA.
    let approvers = Arc::new(SubjectAccessReviews::new(client.clone()));
    let app = router(state).merge(access_router(approvers)).route(
        "/metrics",
        axum::routing::get(|| async { meshplane_effects::policies::render_metrics() }),
    );
    let handle = axum_server::Handle::new();
    let server = axum_server::bind_rustls(args.listen, tls.clone())
        .handle(handle.clone())
        .serve(app.into_make_service());
    let server = tokio::spawn(server);
    let ca = match &certificates {
        Certificates::Managed { bundle } => &bundle.ca_cert_pem,
        Certificates::Mounted { ca, .. } => ca,
    };
    apply_configurations(&client, &target, ca, &args.namespace, owner.as_ref()).await?;
    tracing::info!(listen = %args.listen, "admission webhook serving");

    // Managed certificates are checked hourly (renewal, or another replica's newer one);
    // mounted ones every minute, as cert-manager rotates the Secret.
    let period = Duration::from_secs(args.cert_check_seconds.unwrap_or(match certificates {
        Certificates::Managed { .. } => 3600,
        Certificates::Mounted { .. } => 60,
    }));
    let mut check = tokio::time::interval(period);
    check.tick().await;
    let shutdown = crate::shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            _ = check.tick() => {
                if let Err(e) = refresh(&client, &args, &target, &names, &tls, &mut certificates, owner.as_ref()).await {
                    tracing::warn!(error = %format!("{e:#}"), "certificate check failed; retrying later");
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
