//! The Secrets a product's workload and readers reference: the namespace's S3 credentials
//! and masking key (shared by the namespace's workers), and the product's read
//! credentials (location, plus read-only keys when the platform provides them).

use crate::context::{lock, Context};
use crate::error::ReconcileError;
use meshplane_api::DataProduct;
use meshplane_effects::secrets::{
    create_if_absent, ensure_version, new_masking_key, version, SecretSpec,
};
use meshplane_planner::workload::worker_secrets;
use meshplane_planner::{labels, meta::owner_reference, BucketSpec};
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

/// Creates whichever of the product's Secrets are missing (existing ones are left alone)
/// and returns the resourceVersion of each Secret the workers read, by name; a Secret the
/// platform team has not provided yet is left out.
pub async fn ensure_secrets(
    ctx: &Context,
    product: &DataProduct,
    bucket: &BucketSpec,
) -> Result<BTreeMap<String, String>, ReconcileError> {
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
    ensure_read_credentials(ctx, product, bucket).await?;
    Ok(versions)
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
