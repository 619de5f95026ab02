//! Running the admission webhook against a cluster: certificates kept in a Secret,
//! webhook configurations applied with the CA bundle.

use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, ValidatingWebhookConfiguration,
};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::rbac::v1::ClusterRole;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use k8s_openapi::ByteString;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::Client;
use meshplane_admission::certs::{self, CertBundle};
use meshplane_admission::configuration::{webhook_configurations, WebhookTarget};
use std::collections::BTreeMap;
use thiserror::Error;

/// Keys of the certificate Secret.
const CA_CERT: &str = "ca.crt";
const CA_KEY: &str = "ca.key";
const TLS_CERT: &str = "tls.crt";
const TLS_KEY: &str = "tls.key";
const NOT_AFTER_ANNOTATION: &str = "meshplane.dev/not-after";
const NAMES_ANNOTATION: &str = "meshplane.dev/names";

/// A step of running the webhook failed.
#[derive(Debug, Error)]
pub enum WebhookError {
    /// Reading the certificate Secret failed.
    #[error("failed to read Secret {namespace}/{name}: {source}")]
    ReadSecret {
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
        /// Cause.
        source: kube::Error,
    },
    /// Writing the certificate Secret failed.
    #[error("failed to write Secret {namespace}/{name}: {source}")]
    WriteSecret {
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
        /// Cause.
        source: kube::Error,
    },
    /// Issuing a certificate failed.
    #[error("failed to issue the webhook certificate: {0}")]
    Issue(#[from] certs::CertError),
    /// Reading the ClusterRole that owns the configurations failed.
    #[error(
        "failed to read ClusterRole {name} (the owner of the webhook configurations): {source}"
    )]
    ReadOwner {
        /// Name.
        name: String,
        /// Cause.
        source: kube::Error,
    },
    /// Applying a webhook configuration failed.
    #[error("failed to apply the {kind} webhook configuration: {source}")]
    ApplyConfiguration {
        /// Mutating or Validating.
        kind: &'static str,
        /// Cause.
        source: kube::Error,
    },
}

fn text(secret: &Secret, key: &str) -> Option<String> {
    let bytes = secret.data.as_ref()?.get(key)?;
    String::from_utf8(bytes.0.clone()).ok()
}

fn bundle_from(secret: &Secret) -> Option<CertBundle> {
    let annotations = secret.metadata.annotations.as_ref()?;
    Some(CertBundle {
        ca_cert_pem: text(secret, CA_CERT)?,
        ca_key_pem: text(secret, CA_KEY)?,
        cert_pem: text(secret, TLS_CERT)?,
        key_pem: text(secret, TLS_KEY)?,
        not_after: annotations.get(NOT_AFTER_ANNOTATION)?.parse().ok()?,
        names: annotations
            .get(NAMES_ANNOTATION)?
            .split(',')
            .map(String::from)
            .collect(),
    })
}

/// The serving certificate from Secret `namespace/name`, issued (or renewed, keeping the
/// CA) when missing, expiring within 30 days, or for other names. Replicas race safely:
/// the Secret is created or replaced with optimistic concurrency, and a replica that
/// loses reads the winner's certificate, so every replica serves one CA.
pub async fn ensure_certificate(
    client: &Client,
    namespace: &str,
    name: &str,
    names: &[String],
    now_unix: i64,
) -> Result<CertBundle, WebhookError> {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let read_error = |source| WebhookError::ReadSecret {
        namespace: namespace.into(),
        name: name.into(),
        source,
    };
    let write_error = |source| WebhookError::WriteSecret {
        namespace: namespace.into(),
        name: name.into(),
        source,
    };
    let mut attempts = 0;
    loop {
        attempts += 1;
        let existing = secrets.get_opt(name).await.map_err(read_error)?;
        let current = existing.as_ref().and_then(bundle_from);
        if let Some(bundle) = &current {
            if !certs::needs_renewal(bundle, names, now_unix) {
                return Ok(bundle.clone());
            }
        }
        let ca = current
            .as_ref()
            .map(|b| (b.ca_cert_pem.as_str(), b.ca_key_pem.as_str()));
        let bundle = certs::issue(ca, names, now_unix)?;
        let mut secret = certificate_secret(namespace, name, &bundle);
        let written = match &existing {
            None => secrets.create(&PostParams::default(), &secret).await,
            Some(old) => {
                secret.metadata.resource_version = old.metadata.resource_version.clone();
                secrets.replace(name, &PostParams::default(), &secret).await
            }
        };
        match written {
            Ok(_) => {
                tracing::info!(secret = %format!("{namespace}/{name}"), not_after = bundle.not_after, "issued webhook serving certificate");
                return Ok(bundle);
            }
            // Another replica wrote first: use its certificate.
            Err(kube::Error::Api(e)) if e.code == 409 && attempts < 5 => continue,
            Err(e) => return Err(write_error(e)),
        }
    }
}

fn certificate_secret(namespace: &str, name: &str, bundle: &CertBundle) -> Secret {
    Secret {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some(namespace.into()),
            annotations: Some(BTreeMap::from([
                (
                    NOT_AFTER_ANNOTATION.to_string(),
                    bundle.not_after.to_string(),
                ),
                (NAMES_ANNOTATION.to_string(), bundle.names.join(",")),
            ])),
            labels: Some(BTreeMap::from([(
                "app.kubernetes.io/managed-by".to_string(),
                "meshplane".to_string(),
            )])),
            ..ObjectMeta::default()
        },
        type_: Some("kubernetes.io/tls".into()),
        data: Some(BTreeMap::from([
            (
                CA_CERT.to_string(),
                ByteString(bundle.ca_cert_pem.clone().into_bytes()),
            ),
            (
                CA_KEY.to_string(),
                ByteString(bundle.ca_key_pem.clone().into_bytes()),
            ),
            (
                TLS_CERT.to_string(),
                ByteString(bundle.cert_pem.clone().into_bytes()),
            ),
            (
                TLS_KEY.to_string(),
                ByteString(bundle.key_pem.clone().into_bytes()),
            ),
        ])),
        ..Secret::default()
    }
}

/// An owner reference to a cluster-scoped ClusterRole (the chart's), so that the webhook
/// configurations, which the webhook creates itself, are garbage-collected when the
/// release that created the ClusterRole is uninstalled. A namespaced owner cannot own
/// cluster-scoped objects.
pub async fn cluster_role_owner(
    client: &Client,
    name: &str,
) -> Result<OwnerReference, WebhookError> {
    let role = Api::<ClusterRole>::all(client.clone())
        .get(name)
        .await
        .map_err(|source| WebhookError::ReadOwner {
            name: name.to_string(),
            source,
        })?;
    Ok(OwnerReference {
        api_version: "rbac.authorization.k8s.io/v1".into(),
        kind: "ClusterRole".into(),
        name: name.to_string(),
        uid: role.metadata.uid.unwrap_or_default(),
        ..OwnerReference::default()
    })
}

/// Applies both webhook configurations with the CA bundle (server-side apply), owned by
/// `owner` when one is given.
pub async fn apply_configurations(
    client: &Client,
    target: &WebhookTarget,
    ca_bundle: &str,
    operator_namespace: &str,
    owner: Option<&OwnerReference>,
) -> Result<(), WebhookError> {
    let (mut mutating, mut validating) =
        webhook_configurations(target, ca_bundle, operator_namespace);
    mutating.metadata.owner_references = owner.map(|o| vec![o.clone()]);
    validating.metadata.owner_references = owner.map(|o| vec![o.clone()]);
    let params = PatchParams::apply(crate::FIELD_MANAGER).force();
    let name = meshplane_admission::configuration::CONFIGURATION_NAME;
    Api::<MutatingWebhookConfiguration>::all(client.clone())
        .patch(name, &params, &Patch::Apply(&mutating))
        .await
        .map_err(|source| WebhookError::ApplyConfiguration {
            kind: "mutating",
            source,
        })?;
    Api::<ValidatingWebhookConfiguration>::all(client.clone())
        .patch(name, &params, &Patch::Apply(&validating))
        .await
        .map_err(|source| WebhookError::ApplyConfiguration {
            kind: "validating",
            source,
        })?;
    Ok(())
}
