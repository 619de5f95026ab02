//! `meshplane access request|approve|deny|list`: AccessRequests through the Kubernetes
//! API, as the current kubeconfig's user (so the API server and the admission webhook
//! see who files and who decides).

use anyhow::Context as _;
use clap::{Args, Subcommand};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, ListParams, ObjectMeta, Patch, PatchParams, PostParams};
use meshplane_api::access_request::{APPROVAL_ANNOTATION, APPROVED, DENIED};
use meshplane_api::{
    AccessRequest, AccessRequestSpec, AccessSubject, Classification, ProductReference, SubjectKind,
};
use std::process::ExitCode;

/// Arguments of `meshplane access`.
#[derive(Args)]
pub struct AccessArgs {
    /// Act as this user (Kubernetes impersonation, as `kubectl --as`; the kubeconfig's
    /// user needs the `impersonate` verb).
    #[arg(long = "as", global = true)]
    impersonate: Option<String>,
    #[command(subcommand)]
    command: AccessCommand,
}

#[derive(Subcommand)]
enum AccessCommand {
    /// File a request to read a product.
    Request(RequestArgs),
    /// Approve a request (needs the `approve` verb on the product; not your own request).
    Approve(DecideArgs),
    /// Deny a request (same rights as approving).
    Deny(DecideArgs),
    /// List requests with their phase and who decided.
    List(ListArgs),
}

#[derive(Args)]
struct RequestArgs {
    /// Name of the AccessRequest to create.
    name: String,
    /// Namespace of the request (the consumer's).
    #[arg(short, long, default_value = "default")]
    namespace: String,
    /// The product, as `namespace/name` (or `name` in the request's namespace).
    #[arg(long)]
    product: String,
    /// Who will read: `ServiceAccount:namespace/name`, `User:name` or `Group:name`.
    #[arg(long)]
    subject: String,
    /// Why the subject needs the product.
    #[arg(long)]
    purpose: String,
    /// The most sensitive columns needed (`public`, `internal`, `confidential`,
    /// `restricted`); default: the product's classification.
    #[arg(long)]
    classification: Option<String>,
    /// When the grant ends (RFC 3339, e.g. 2027-01-31T00:00:00Z).
    #[arg(long)]
    expires_at: Option<String>,
}

#[derive(Args)]
struct DecideArgs {
    /// Name of the AccessRequest.
    name: String,
    /// Its namespace.
    #[arg(short, long, default_value = "default")]
    namespace: String,
}

#[derive(Args)]
struct ListArgs {
    /// Namespace to list; omitted with `--all-namespaces`.
    #[arg(short, long, default_value = "default")]
    namespace: String,
    /// Every namespace.
    #[arg(short = 'A', long)]
    all_namespaces: bool,
}

/// Runs `meshplane access`.
pub fn run(args: AccessArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(execute(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `Kind:name` (`ServiceAccount:namespace/name`) as a subject.
fn parse_subject(text: &str) -> anyhow::Result<AccessSubject> {
    let (kind, rest) = text.split_once(':').with_context(|| {
        format!("--subject {text:?}: write Kind:name, e.g. ServiceAccount:analytics/reporting")
    })?;
    let kind = match kind {
        "ServiceAccount" => SubjectKind::ServiceAccount,
        "User" => SubjectKind::User,
        "Group" => SubjectKind::Group,
        other => anyhow::bail!(
            "--subject {text:?}: the kind {other:?} is not ServiceAccount, User or Group"
        ),
    };
    let (namespace, name) = match (kind, rest.split_once('/')) {
        (SubjectKind::ServiceAccount, Some((ns, name))) => (Some(ns.to_string()), name),
        _ => (None, rest),
    };
    anyhow::ensure!(!name.is_empty(), "--subject {text:?}: the name is empty");
    Ok(AccessSubject {
        kind,
        name: name.to_string(),
        namespace,
    })
}

fn parse_product(text: &str) -> anyhow::Result<ProductReference> {
    let (namespace, name) = match text.split_once('/') {
        Some((ns, name)) => (Some(ns.to_string()), name),
        None => (None, text),
    };
    anyhow::ensure!(
        !name.is_empty(),
        "--product {text:?}: write namespace/name or name"
    );
    Ok(ProductReference {
        name: name.to_string(),
        namespace,
    })
}

fn parse_classification(text: &str) -> anyhow::Result<Classification> {
    serde_json::from_value(serde_json::Value::String(text.to_string())).map_err(|_| {
        anyhow::anyhow!(
            "--classification {text:?}: use public, internal, confidential or restricted"
        )
    })
}

async fn execute(args: AccessArgs) -> anyhow::Result<()> {
    let mut config = kube::Config::infer()
        .await
        .context("cannot read the Kubernetes configuration (kubeconfig)")?;
    if let Some(user) = args.impersonate {
        config.auth_info.impersonate = Some(user);
    }
    let client = kube::Client::try_from(config).context("cannot connect to the Kubernetes API")?;
    match args.command {
        AccessCommand::Request(a) => {
            let request = AccessRequest {
                metadata: ObjectMeta {
                    name: Some(a.name.clone()),
                    namespace: Some(a.namespace.clone()),
                    ..ObjectMeta::default()
                },
                spec: AccessRequestSpec {
                    product: parse_product(&a.product)?,
                    subject: parse_subject(&a.subject)?,
                    purpose: a.purpose,
                    classification: a
                        .classification
                        .as_deref()
                        .map(parse_classification)
                        .transpose()?,
                    expires_at: a
                        .expires_at
                        .as_deref()
                        .map(|t| {
                            t.parse().map(Time).with_context(|| {
                                format!("--expires-at {t:?} is not an RFC 3339 time")
                            })
                        })
                        .transpose()?,
                },
                status: None,
            };
            let api: Api<AccessRequest> = Api::namespaced(client, &a.namespace);
            api.create(&PostParams::default(), &request)
                .await
                .with_context(|| format!("filing AccessRequest {}/{}", a.namespace, a.name))?;
            println!("accessrequest {}/{} filed", a.namespace, a.name);
        }
        AccessCommand::Approve(a) => decide(client, &a, APPROVED).await?,
        AccessCommand::Deny(a) => decide(client, &a, DENIED).await?,
        AccessCommand::List(a) => {
            let api: Api<AccessRequest> = if a.all_namespaces {
                Api::all(client)
            } else {
                Api::namespaced(client, &a.namespace)
            };
            let requests = api
                .list(&ListParams::default())
                .await
                .context("listing AccessRequests")?;
            println!(
                "{:<40} {:<32} {:<40} {:<9} DECIDED BY",
                "REQUEST", "PRODUCT", "SUBJECT", "PHASE"
            );
            for r in requests {
                let status = r.status.clone().unwrap_or_default();
                let (ns, name) = r.product_key();
                println!(
                    "{:<40} {:<32} {:<40} {:<9} {}",
                    format!(
                        "{}/{}",
                        r.namespace_or_default(),
                        r.metadata.name.clone().unwrap_or_default()
                    ),
                    format!("{ns}/{name}"),
                    r.spec.subject.qualified_name(&r.namespace_or_default()),
                    status
                        .phase
                        .map(|p| p.to_string())
                        .unwrap_or_else(|| "-".into()),
                    status.decided_by.unwrap_or_else(|| "-".into())
                );
            }
        }
    }
    Ok(())
}

async fn decide(client: kube::Client, args: &DecideArgs, value: &str) -> anyhow::Result<()> {
    let api: Api<AccessRequest> = Api::namespaced(client, &args.namespace);
    let patch = serde_json::json!({"metadata": {"annotations": {APPROVAL_ANNOTATION: value}}});
    api.patch(&args.name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .with_context(|| format!("deciding AccessRequest {}/{}", args.namespace, args.name))?;
    println!("accessrequest {}/{} {value}", args.namespace, args.name);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_products_and_levels_parse_or_say_what_is_wrong() {
        let sa = parse_subject("ServiceAccount:analytics/reporting").unwrap();
        assert_eq!(
            (sa.kind, sa.namespace.as_deref(), sa.name.as_str()),
            (SubjectKind::ServiceAccount, Some("analytics"), "reporting")
        );
        let user = parse_subject("User:jane@example.com").unwrap();
        assert_eq!((user.kind, user.namespace), (SubjectKind::User, None));
        let error = parse_subject("Robot:x").unwrap_err().to_string();
        assert!(
            error.contains("not ServiceAccount, User or Group"),
            "{error}"
        );
        assert!(parse_subject("reporting").is_err());
        let product = parse_product("orders/orders").unwrap();
        assert_eq!(product.namespace.as_deref(), Some("orders"));
        assert_eq!(parse_product("orders").unwrap().namespace, None);
        assert_eq!(
            parse_classification("confidential").unwrap(),
            Classification::Confidential
        );
        assert!(parse_classification("secret").is_err());
    }
}
