//! The product's Apache Iceberg table: its identifier in the catalog, location and
//! properties. The schema and partition spec follow from the ingestion plan's fields.

use crate::external::BucketSpec;
use meshplane_api::ingest_plan::{IcebergTablePlan, PlannedField};
use std::collections::BTreeMap;

/// Target size of data files written by maintenance (compaction), 128 MiB.
pub const TARGET_FILE_SIZE_BYTES: u64 = 128 * 1024 * 1024;

/// Table property naming the product that owns the table (`namespace/name`): a second
/// product with the same domain and name is refused instead of writing into it.
pub const OWNER_PROPERTY: &str = "meshplane.product";

/// An identifier engines accept unquoted: lower case, `[a-z0-9_]`, `-` and anything else
/// as `_`.
pub fn identifier(name: &str) -> String {
    name.chars()
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9' | '_') => c,
            _ => '_',
        })
        .collect()
}

/// The table's name in its domain's namespace: the product's name, prefixed with its
/// Kubernetes namespace when that is not named after the domain (product names are unique
/// per Kubernetes namespace, not per domain).
pub fn table_name(domain: &str, namespace: &str, product_name: &str) -> String {
    if identifier(namespace) == identifier(domain) {
        identifier(product_name)
    } else {
        identifier(&format!("{namespace}_{product_name}"))
    }
}

/// The table of product `namespace/name` in `domain`.
pub fn table_plan(
    domain: &str,
    (namespace, product_name): (&str, &str),
    bucket: &BucketSpec,
    fields: &[PlannedField],
) -> IcebergTablePlan {
    let product_key = &format!("{namespace}/{product_name}");
    let mut properties = BTreeMap::from([
        ("format-version".to_string(), "2".to_string()),
        ("write.format.default".to_string(), "parquet".to_string()),
        (
            "write.parquet.compression-codec".to_string(),
            "zstd".to_string(),
        ),
        (
            "write.target-file-size-bytes".to_string(),
            TARGET_FILE_SIZE_BYTES.to_string(),
        ),
        // Each commit writes a metadata file; keep the last 100, not all of them.
        (
            "write.metadata.delete-after-commit.enabled".to_string(),
            "true".to_string(),
        ),
        (
            "write.metadata.previous-versions-max".to_string(),
            "100".to_string(),
        ),
        (OWNER_PROPERTY.to_string(), product_key.clone()),
    ]);
    // Pseudonyms must not sit in manifests as min/max bounds.
    for field in fields.iter().filter(|f| f.pii) {
        properties.insert(
            format!("write.metadata.metrics.column.{}", field.name),
            "none".to_string(),
        );
    }
    IcebergTablePlan {
        namespace: identifier(domain),
        name: table_name(domain, namespace, product_name),
        location: format!("s3://{}/{}", bucket.name, bucket.table_prefix),
        properties,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_plain_lower_case() {
        assert_eq!(identifier("Orders-EU"), "orders_eu");
        assert_eq!(identifier("a.b c"), "a_b_c");
    }

    #[test]
    fn tables_of_a_domain_named_namespace_keep_the_product_name() {
        assert_eq!(
            table_name("customers", "customers", "customer-profile"),
            "customer_profile"
        );
        assert_eq!(table_name("sales", "orders", "orders"), "orders_orders");
    }
}
