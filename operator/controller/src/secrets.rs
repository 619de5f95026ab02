//! The Secrets a product's workload and readers reference: the namespace's masking key
//! and catalog URI (shared by the namespace's workers), the workers' S3 keys (the
//! product's own, issued through the object store's IAM API, or the namespace's shared
//! pair), and the product's read credentials (location, plus read-only keys when the
//! platform provides them).

use crate::context::{lock, Context};
use crate::error::ReconcileError;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::jiff::Timestamp;
use meshplane_api::{DataProduct, WorkerCredentials};
use meshplane_effects::grants::{create_secret, secret_missing};
use meshplane_effects::secrets::{
    create_if_absent, ensure_version, new_masking_key, version, SecretSpec,
};
use meshplane_planner::workload::worker_secrets;
use meshplane_planner::{labels, meta::owner_reference, names, BucketSpec};
use std::collections::BTreeMap;

/// S3 key pairs the controller hands out.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    /// Key pair the ingestion workers write with; `None` leaves the Secret to the platform team.
    pub worker: Option<(String, String)>,
    /// Read-only key pair put into each product's read credentials; `None` gives readers
    /// the location only.
    pub reader: Option<(String, String)>,
    /// The Iceberg catalog's URI (with its credentials) the workers commit through; `None`
    /// leaves the Secret to the platform team.
    pub catalog_uri: Option<String>,
}

fn key_pair(pair: &(String, String)) -> [(String, String); 2] {
    [
        ("access-key-id".to_string(), pair.0.clone()),
        ("secret-access-key".to_string(), pair.1.clone()),
    ]
}

/// What [`ensure_secrets`] found or made.
#[derive(Debug, Default)]
pub struct WorkerSecrets {
    /// The version of each Secret the workers read, by name: a resourceVersion, or the
    /// access key id of the product's own keys. A Secret the platform team has not
    /// provided yet is left out.
    pub versions: BTreeMap<String, String>,
    /// The product's own worker keys, when the platform issues them.
    pub credentials: Option<WorkerCredentials>,
}

/// Creates whichever of the product's Secrets are missing (existing ones are left alone;
/// the product's own worker keys are issued when their Secret is missing) and returns
/// what the workers read.
pub async fn ensure_secrets(
    ctx: &Context,
    product: &DataProduct,
    bucket: &BucketSpec,
) -> Result<WorkerSecrets, ReconcileError> {
    let namespace = product.metadata.namespace.clone().unwrap_or_default();
    let shared_labels = BTreeMap::from([
        (
            "app.kubernetes.io/managed-by".to_string(),
            labels::MANAGED_BY.to_string(),
        ),
        (
            "app.kubernetes.io/part-of".to_string(),
            "meshplane".to_string(),
        ),
    ]);
    let settings = &ctx.settings;
    let shared = |name: &str, data: BTreeMap<String, String>| SecretSpec {
        namespace: namespace.clone(),
        name: name.to_string(),
        labels: shared_labels.clone(),
        owner: None,
        data,
    };
    let mut versions = BTreeMap::new();
    for name in worker_secrets(settings) {
        // Known from the watch of the workers' Secrets (or an earlier pass): no request.
        let known = lock(&ctx.secret_versions)
            .get(&(namespace.clone(), name.clone()))
            .cloned();
        let version = match known {
            Some(version) => Some(version),
            None => {
                let spec = if name == settings.s3_credentials_secret {
                    ctx.credentials
                        .worker
                        .as_ref()
                        .map(|pair| shared(&name, BTreeMap::from(key_pair(pair))))
                } else if name == settings.catalog_secret {
                    ctx.credentials.catalog_uri.as_ref().map(|uri| {
                        shared(&name, BTreeMap::from([("uri".to_string(), uri.clone())]))
                    })
                } else if name == settings.masking_key_secret {
                    // Generated once per namespace and never replaced: pseudonyms stay
                    // joinable.
                    Some(shared(
                        &name,
                        BTreeMap::from([("key".to_string(), new_masking_key()?)]),
                    ))
                } else {
                    None
                };
                match spec {
                    Some(spec) => Some(ensure_version(&ctx.client, &spec).await?),
                    // Left to the platform team: only looked at.
                    None => version(&ctx.client, &namespace, &name).await?,
                }
                .filter(|v| !v.is_empty())
            }
        };
        if let Some(version) = version {
            lock(&ctx.secret_versions).insert((namespace.clone(), name.clone()), version.clone());
            versions.insert(name, version);
        }
    }
    let credentials = if settings.worker_keys_per_product {
        let credentials = ensure_worker_keys(ctx, product, bucket).await?;
        // The key id changes with each issue: a rotation rolls the workers.
        let version = credentials
            .access_key_id
            .clone()
            .unwrap_or_else(|| "issued".into());
        versions.insert(credentials.secret.clone(), version);
        Some(credentials)
    } else {
        None
    };
    ensure_read_credentials(ctx, product, bucket).await?;
    Ok(WorkerSecrets {
        versions,
        credentials,
    })
}

/// How often a provisioned product's own worker keys are looked for between full passes.
pub const WORKER_KEYS_CHECK: std::time::Duration = std::time::Duration::from_secs(20);

/// True when the product's own worker keys were not looked for within
/// [`WORKER_KEYS_CHECK`] and their Secret is now missing (deleted to rotate them): the
/// refresh becomes a full pass, which issues new keys. A failed look is logged and taken
/// as "present": it must not fail the refresh of a healthy product; the next look or full
/// pass asks again.
pub async fn worker_keys_missing(ctx: &Context, product: &DataProduct) -> bool {
    if !ctx.settings.worker_keys_per_product {
        return false;
    }
    let object = kube::runtime::reflector::ObjectRef::from_obj(product);
    let due = lock(&ctx.worker_keys_checked)
        .get(&object)
        .is_none_or(|at| at.elapsed() >= WORKER_KEYS_CHECK);
    if !due {
        return false;
    }
    match secret_missing(&ctx.client, &worker_keys_meta(product)).await {
        Ok(missing) => {
            if !missing {
                lock(&ctx.worker_keys_checked).insert(object, std::time::Instant::now());
            }
            missing
        }
        Err(error) => {
            tracing::warn!(product = %crate::context::key(product), %error, "could not look for the workers' keys Secret");
            false
        }
    }
}

fn worker_keys_meta(product: &DataProduct) -> ObjectMeta {
    let name = product.metadata.name.clone().unwrap_or_default();
    ObjectMeta {
        name: Some(names::worker_credentials(&name)),
        namespace: product.metadata.namespace.clone(),
        labels: Some(labels::for_child(product, "ingest")),
        owner_references: owner_reference(product).map(|o| vec![o]),
        ..ObjectMeta::default()
    }
}

/// The product's own worker keys: kept while their Secret exists, issued anew (replacing
/// the user's old keys) when it is missing, which is how they are rotated. Whether it
/// exists is asked with a dry-run create, so the controller needs no right to read it.
async fn ensure_worker_keys(
    ctx: &Context,
    product: &DataProduct,
    bucket: &BucketSpec,
) -> Result<WorkerCredentials, ReconcileError> {
    let metadata = worker_keys_meta(product);
    let secret = metadata.name.clone().unwrap_or_default();
    let user = names::worker_user(product.metadata.uid.as_deref().unwrap_or_default());
    let object = kube::runtime::reflector::ObjectRef::from_obj(product);
    let issued_here = lock(&ctx.worker_keys_issued).get(&object).cloned();
    let previous = issued_here
        .or_else(|| {
            product
                .status
                .as_ref()
                .and_then(|s| s.worker_credentials.clone())
        })
        .filter(|c| c.secret == secret && c.user.as_deref() == Some(user.as_str()));
    if !secret_missing(&ctx.client, &metadata).await? {
        return Ok(previous.unwrap_or(WorkerCredentials {
            secret,
            user: Some(user),
            ..WorkerCredentials::default()
        }));
    }
    let identity = ctx
        .identity
        .as_ref()
        .ok_or(ReconcileError::NoIdentityProvider)?;
    let keys = identity
        .issue_writer(&user, &bucket.name)
        .await
        .map_err(|source| ReconcileError::WorkerKeys {
            product: crate::context::key(product),
            source,
        })?;
    create_secret(
        &ctx.client,
        &metadata,
        BTreeMap::from(key_pair(&(
            keys.access_key_id.clone(),
            keys.secret_access_key.clone(),
        ))),
    )
    .await?;
    lock(&ctx.worker_keys_checked).insert(object.clone(), std::time::Instant::now());
    tracing::info!(product = %crate::context::key(product), user = %user, access_key_id = %keys.access_key_id, "issued the workers' object-store keys");
    let credentials = WorkerCredentials {
        secret,
        user: Some(user),
        access_key_id: Some(keys.access_key_id),
        issued_at: Some(Time(Timestamp::now())),
    };
    lock(&ctx.worker_keys_issued).insert(object, credentials.clone());
    Ok(credentials)
}

async fn ensure_read_credentials(
    ctx: &Context,
    product: &DataProduct,
    bucket: &BucketSpec,
) -> Result<(), ReconcileError> {
    let settings = &ctx.settings;
    let namespace = product.metadata.namespace.clone().unwrap_or_default();
    let mut read = BTreeMap::from([
        ("bucket".to_string(), bucket.name.clone()),
        ("prefix".to_string(), bucket.table_prefix.clone()),
        ("endpoint".to_string(), settings.s3_endpoint.clone()),
        ("region".to_string(), settings.s3_region.clone()),
    ]);
    if let Some(reader) = &ctx.credentials.reader {
        read.extend(key_pair(reader));
    }
    let name = product.metadata.name.clone().unwrap_or_default();
    create_if_absent(
        &ctx.client,
        &SecretSpec {
            namespace,
            name: meshplane_planner::names::child(&name, "read-credentials"),
            labels: labels::for_child(product, "access"),
            owner: owner_reference(product),
            data: read,
        },
    )
    .await?;
    Ok(())
}
