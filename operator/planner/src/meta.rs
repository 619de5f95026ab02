//! Metadata every child carries: a deterministic name, the standard labels and the
//! controller reference to its product.

use crate::labels;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use meshplane_api::{DataProduct, API_VERSION};
use serde_json::Value;

/// Metadata for a child object: deterministic name, standard labels, owner reference.
pub fn child_meta(product: &DataProduct, name: String, component: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name),
        namespace: product.metadata.namespace.clone(),
        labels: Some(labels::for_child(product, component)),
        owner_references: owner_reference(product).map(|o| vec![o]),
        ..ObjectMeta::default()
    }
}

/// The controller reference to the product, once it has a uid (it has one in a cluster).
pub fn owner_reference(product: &DataProduct) -> Option<OwnerReference> {
    Some(OwnerReference {
        api_version: API_VERSION.to_string(),
        kind: "DataProduct".to_string(),
        name: product.metadata.name.clone()?,
        uid: product.metadata.uid.clone()?,
        controller: Some(true),
        block_owner_deletion: Some(true),
    })
}

/// A typed Kubernetes object as the JSON manifest server-side apply sends.
pub(crate) fn to_value<T: serde::Serialize>(object: &T) -> Value {
    serde_json::to_value(object).expect("Kubernetes objects serialize")
}
