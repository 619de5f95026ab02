//! Whether a subject may run a query: every table it reads is a product the subject holds
//! a grant on, or the port's `information_schema` (pure).

use crate::grants::{Grants, Subject, VisibleTable};
use datafusion::sql::TableReference;
use thiserror::Error;

/// The catalog name products are under on the query port (`meshplane.<domain>.<table>`).
pub const CATALOG: &str = "meshplane";

/// The schema unqualified names resolve in (holds nothing: products are in their domain).
pub const DEFAULT_SCHEMA: &str = "public";

/// A query the subject may not run.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum Denied {
    /// The table is a product the subject holds no grant on.
    #[error(
        "permission denied for product {product} (table {table}): {subject} holds no grant on it; \
         file an AccessRequest (meshplane access request <name> --product {product} --subject <subject> --purpose <why>)"
    )]
    NoGrant {
        /// `namespace/name`.
        product: String,
        /// `schema.table`.
        table: String,
        /// Who asked.
        subject: String,
    },
}

/// The products `tables` read, each as the subject sees it; an error names the first
/// product without a grant. Tables that are no product are left to the planner, which
/// reports them as not found (the subject sees the same for a product that does not exist).
pub fn authorize<'a>(
    subject: &Subject,
    grants: &Grants,
    visible: &'a [VisibleTable],
    tables: &[TableReference],
) -> Result<Vec<&'a VisibleTable>, Denied> {
    let mut used: Vec<&VisibleTable> = Vec::new();
    for reference in tables {
        let (schema, table) = match reference {
            TableReference::Bare { table } => (DEFAULT_SCHEMA, table.as_ref()),
            TableReference::Partial { schema, table } => (schema.as_ref(), table.as_ref()),
            TableReference::Full {
                catalog,
                schema,
                table,
            } => {
                if catalog.as_ref() != CATALOG {
                    continue;
                }
                (schema.as_ref(), table.as_ref())
            }
        };
        if let Some(seen) = visible
            .iter()
            .find(|v| v.schema == schema && v.table == table)
        {
            if !used.contains(&seen) {
                used.push(seen);
            }
            continue;
        }
        if let Some(product) = grants.product_of(schema, table) {
            return Err(Denied::NoGrant {
                product: product.product.clone(),
                table: format!("{schema}.{table}"),
                subject: subject.display(),
            });
        }
    }
    Ok(used)
}

#[cfg(test)]
mod tests {
    use super::*;
    use meshplane_api::access_request::AccessRequest;
    use meshplane_api::DataProduct;

    fn grants() -> Grants {
        let products: Vec<DataProduct> = ["orders", "payments"]
            .iter()
            .map(|name| {
                serde_yaml::from_str(&format!(
                    r#"
apiVersion: meshplane.dev/v1alpha1
kind: DataProduct
metadata: {{ name: {name}, namespace: shop }}
spec:
  domain: sales
  owner: sales@example.com
  source: {{ kafka: {{ topic: shop.{name} }} }}
  schema: {{ fields: [ {{ name: id, type: string }} ] }}
  output: {{ table: {{ format: parquet, updateInterval: 5m }} }}
  retention: 30d
status:
  table: {{ identifier: sales.{name} }}
"#
                ))
                .unwrap()
            })
            .collect();
        let request: AccessRequest = serde_yaml::from_str(
            r#"
apiVersion: meshplane.dev/v1alpha1
kind: AccessRequest
metadata: { name: r, namespace: analytics }
spec:
  product: { name: orders, namespace: shop }
  subject: { kind: ServiceAccount, name: reader }
  purpose: reporting
status:
  phase: Granted
  grant: { credentialsSecret: r-access, objectStoreAccess: true, classification: internal, columns: [id] }
"#,
        )
        .unwrap();
        Grants::new(&products, &[request])
    }

    fn reader() -> Subject {
        Subject {
            user: "system:serviceaccount:analytics:reader".into(),
            groups: vec![],
        }
    }

    #[test]
    fn granted_products_pass_and_are_reported_once() {
        let grants = grants();
        let visible = grants.visible_to(&reader());
        let refs = [
            TableReference::partial("sales", "orders"),
            TableReference::full(CATALOG, "sales", "orders"),
            TableReference::partial("information_schema", "tables"),
        ];
        let used = authorize(&reader(), &grants, &visible, &refs).unwrap();
        assert_eq!(used.len(), 1);
        assert_eq!(used[0].product, "shop/orders");
    }

    #[test]
    fn an_ungranted_product_is_denied_by_name() {
        let grants = grants();
        let visible = grants.visible_to(&reader());
        let refs = [
            TableReference::partial("sales", "orders"),
            TableReference::partial("sales", "payments"),
        ];
        let denied = authorize(&reader(), &grants, &visible, &refs).unwrap_err();
        let message = denied.to_string();
        assert!(message.contains("product shop/payments"), "{message}");
        assert!(
            message.contains("ServiceAccount:analytics/reader"),
            "{message}"
        );
    }

    #[test]
    fn without_grants_every_product_is_denied() {
        let grants = grants();
        let stranger = Subject {
            user: "system:serviceaccount:analytics:stranger".into(),
            groups: vec![],
        };
        let visible = grants.visible_to(&stranger);
        assert!(visible.is_empty());
        let refs = [TableReference::full(CATALOG, "sales", "orders")];
        assert!(authorize(&stranger, &grants, &visible, &refs).is_err());
        // Not a product: left to the planner ("table not found").
        let refs = [TableReference::bare("nothing")];
        assert!(authorize(&stranger, &grants, &visible, &refs)
            .unwrap()
            .is_empty());
    }
}
