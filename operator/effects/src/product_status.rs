//! What an ingestion worker writes into its product's status: the event time of the
//! newest event committed to the table, from which the catalog measures freshness, and
//! the table's current snapshot after its last commit.

use kube::api::{Api, Patch, PatchParams};
use kube::Client;
use meshplane_api::DataProduct;
use thiserror::Error;

/// Why the status could not be written.
#[derive(Debug, Error)]
pub enum ProductStatusError {
    /// The plan's product is not `namespace/name`.
    #[error("the plan's product `{0}` is not namespace/name")]
    BadProduct(String),
    /// The API server refused or could not be reached.
    #[error("patching the status of DataProduct {product}: {source}")]
    Patch {
        /// `namespace/name`.
        product: String,
        /// The client's error.
        #[source]
        source: kube::Error,
    },
}

/// The table after a worker's commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedSnapshot {
    /// Snapshot id.
    pub snapshot_id: i64,
    /// Metadata file.
    pub metadata_location: String,
}

/// Sets `status.lastEventTime` of `product` (`namespace/name`) to `rfc3339` and, when
/// given, `status.table.currentSnapshotId` / `metadataLocation`.
pub async fn report_last_event_time(
    client: &Client,
    product: &str,
    rfc3339: &str,
    snapshot: Option<&CommittedSnapshot>,
) -> Result<(), ProductStatusError> {
    let (namespace, name) = product
        .split_once('/')
        .ok_or_else(|| ProductStatusError::BadProduct(product.to_owned()))?;
    let api: Api<DataProduct> = Api::namespaced(client.clone(), namespace);
    // A merge patch of these fields leaves the controller's conditions untouched.
    let mut patch = serde_json::json!({ "status": { "lastEventTime": rfc3339 } });
    if let Some(s) = snapshot {
        patch["status"]["table"] = serde_json::json!({
            "currentSnapshotId": s.snapshot_id,
            "metadataLocation": s.metadata_location,
        });
    }
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map(|_| ())
        .map_err(|source| ProductStatusError::Patch {
            product: product.to_owned(),
            source,
        })
}
