//! Standard labels on every object Meshplane creates.

use meshplane_api::DataProduct;
use std::collections::BTreeMap;

/// Label naming the product an object belongs to (`<name>`); with the namespace it is unique.
pub const PRODUCT_LABEL: &str = "meshplane.dev/product";
/// Label naming the product's namespace: with [`PRODUCT_LABEL`] it identifies the product
/// even on children in another namespace (KafkaTopics in the topic operator's).
pub const PRODUCT_NAMESPACE_LABEL: &str = "meshplane.dev/product-namespace";
/// Label naming the product's domain.
pub const DOMAIN_LABEL: &str = "meshplane.dev/domain";
/// Value of `app.kubernetes.io/managed-by`.
pub const MANAGED_BY: &str = "meshplane";

/// Labels for a child object with the given component (e.g. `ingest`, `access`).
pub fn for_child(product: &DataProduct, component: &str) -> BTreeMap<String, String> {
    let name = product.metadata.name.clone().unwrap_or_default();
    BTreeMap::from([
        (
            "app.kubernetes.io/name".to_string(),
            format!("meshplane-{component}"),
        ),
        ("app.kubernetes.io/instance".to_string(), name.clone()),
        (
            "app.kubernetes.io/component".to_string(),
            component.to_string(),
        ),
        (
            "app.kubernetes.io/part-of".to_string(),
            "meshplane".to_string(),
        ),
        (
            "app.kubernetes.io/managed-by".to_string(),
            MANAGED_BY.to_string(),
        ),
        (PRODUCT_LABEL.to_string(), name),
        (
            PRODUCT_NAMESPACE_LABEL.to_string(),
            product
                .metadata
                .namespace
                .clone()
                .unwrap_or_else(|| "default".into()),
        ),
        (DOMAIN_LABEL.to_string(), product.spec.domain.clone()),
    ])
}

/// The labels that select a product's ingestion pods.
pub fn worker_selector(product: &DataProduct) -> BTreeMap<String, String> {
    BTreeMap::from([
        (
            "app.kubernetes.io/name".to_string(),
            "meshplane-ingest".to_string(),
        ),
        (
            PRODUCT_LABEL.to_string(),
            product.metadata.name.clone().unwrap_or_default(),
        ),
    ])
}

/// [`worker_selector`] as a label selector query (`k=v,k=v`), to list the worker pods.
pub fn worker_pods_selector(product: &DataProduct) -> String {
    worker_selector(product)
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// The label selector that finds every child of a product (in any namespace).
pub fn children_selector(product: &DataProduct) -> String {
    format!(
        "app.kubernetes.io/managed-by={MANAGED_BY},{PRODUCT_LABEL}={}",
        product.metadata.name.as_deref().unwrap_or_default()
    )
}
