//! The Secrets a product's workload and readers reference: the namespace's S3 credentials
//! and masking key (shared by the namespace's workers), and the product's read
//! credentials (location, plus read-only keys when the platform provides them).

use crate::context::Context;
use crate::error::ReconcileError;
use meshplane_api::DataProduct;
use meshplane_effects::secrets::{create_if_absent, new_masking_key, SecretSpec};
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

/// Creates whichever of the product's Secrets are missing; existing ones are left alone.
pub async fn ensure_secrets(
    ctx: &Context,
    product: &DataProduct,
    bucket: &BucketSpec,
) -> Result<(), ReconcileError> {
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
    // The namespace's shared Secrets are checked once per process, not once per product.
    let shared_known = ctx
        .namespaces_with_secrets
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .contains(&namespace);
    if shared_known {
        return ensure_read_credentials(ctx, product, bucket).await;
    }
    if let Some(worker) = &ctx.credentials.worker {
        create_if_absent(
            &ctx.client,
            &SecretSpec {
                namespace: namespace.clone(),
                name: settings.s3_credentials_secret.clone(),
                labels: shared_labels.clone(),
                owner: None,
                data: BTreeMap::from(key_pair(worker)),
            },
        )
        .await?;
    }
    if let Some(uri) = &ctx.credentials.catalog_uri {
        create_if_absent(
            &ctx.client,
            &SecretSpec {
                namespace: namespace.clone(),
                name: settings.catalog_secret.clone(),
                labels: shared_labels.clone(),
                owner: None,
                data: BTreeMap::from([("uri".to_string(), uri.clone())]),
            },
        )
        .await?;
    }
    // Generated once per namespace and never replaced: pseudonyms stay joinable.
    let masking_key = SecretSpec {
        namespace: namespace.clone(),
        name: settings.masking_key_secret.clone(),
        labels: shared_labels,
        owner: None,
        data: BTreeMap::from([("key".to_string(), new_masking_key()?)]),
    };
    create_if_absent(&ctx.client, &masking_key).await?;
    ctx.namespaces_with_secrets
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(namespace);
    ensure_read_credentials(ctx, product, bucket).await
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
