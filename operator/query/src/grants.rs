//! Which products' tables a subject may query, and which of their columns: read off the
//! granted AccessRequests and the products' status (pure; the watch caches feed it).

use meshplane_api::access_request::{AccessPhase, AccessRequest};
use meshplane_api::DataProduct;
use meshplane_api::SubjectKind;
use std::collections::BTreeMap;

/// Who is asking, as the API server authenticated them (TokenReview).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    /// The Kubernetes user name, e.g. `system:serviceaccount:analytics:reader`.
    pub user: String,
    /// The groups the API server reported.
    pub groups: Vec<String>,
}

impl Subject {
    /// The subject as the audit log and messages name it (`ServiceAccount:ns/name`,
    /// `User:name`).
    pub fn display(&self) -> String {
        match service_account(&self.user) {
            Some((namespace, name)) => format!("ServiceAccount:{namespace}/{name}"),
            None => format!("User:{}", self.user),
        }
    }
}

impl Subject {
    /// A key naming the subject and its groups (sessions are cached per key).
    pub fn user_key(&self) -> String {
        let mut key = self.user.clone();
        for group in &self.groups {
            key.push('\n');
            key.push_str(group);
        }
        key
    }
}

fn service_account(user: &str) -> Option<(&str, &str)> {
    let rest = user.strip_prefix("system:serviceaccount:")?;
    rest.split_once(':')
}

/// A product's table as one subject sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VisibleTable {
    /// The product, `namespace/name`.
    pub product: String,
    /// The table's schema on the query port: the Iceberg namespace (the product's domain).
    pub schema: String,
    /// The table's name in that schema.
    pub table: String,
    /// The columns the subject sees (the grant's); the others are not there for it.
    pub columns: Vec<String>,
}

impl VisibleTable {
    /// `schema.table`.
    pub fn qualified(&self) -> String {
        format!("{}.{}", self.schema, self.table)
    }
}

/// A product's table, whoever asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductTableRef {
    /// The product, `namespace/name`.
    pub product: String,
    /// Iceberg namespace (the domain).
    pub schema: String,
    /// Iceberg table name.
    pub table: String,
}

/// Every product table and every live grant, as of the last watch event.
#[derive(Debug, Clone, Default)]
pub struct Grants {
    /// Product tables by `schema.table`.
    tables: BTreeMap<String, ProductTableRef>,
    /// Granted requests: (matcher, product `namespace/name`, columns).
    grants: Vec<(Matcher, String, Vec<String>)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Matcher {
    User(String),
    Group(String),
}

impl Grants {
    /// Reads the products' tables (from `status.table.identifier`) and the granted
    /// requests (phase `Granted` with a grant in status).
    pub fn new<'a>(
        products: impl IntoIterator<Item = &'a DataProduct>,
        requests: impl IntoIterator<Item = &'a AccessRequest>,
    ) -> Grants {
        let mut tables = BTreeMap::new();
        for product in products {
            let Some(identifier) = product
                .status
                .as_ref()
                .and_then(|s| s.table.as_ref())
                .and_then(|t| t.identifier.as_deref())
            else {
                continue;
            };
            let Some((schema, table)) = identifier.split_once('.') else {
                continue;
            };
            let key = product_key(
                product.metadata.namespace.as_deref().unwrap_or_default(),
                product.metadata.name.as_deref().unwrap_or_default(),
            );
            tables.insert(
                identifier.to_string(),
                ProductTableRef {
                    product: key,
                    schema: schema.to_string(),
                    table: table.to_string(),
                },
            );
        }
        let mut grants = Vec::new();
        for request in requests {
            let Some(status) = request.status.as_ref() else {
                continue;
            };
            let (Some(AccessPhase::Granted), Some(grant)) = (status.phase, status.grant.as_ref())
            else {
                continue;
            };
            let request_namespace = request.metadata.namespace.as_deref().unwrap_or_default();
            let product_namespace = request
                .spec
                .product
                .namespace
                .as_deref()
                .unwrap_or(request_namespace);
            let subject = &request.spec.subject;
            let matcher = match subject.kind {
                SubjectKind::ServiceAccount => Matcher::User(format!(
                    "system:serviceaccount:{}:{}",
                    subject.namespace.as_deref().unwrap_or(request_namespace),
                    subject.name
                )),
                SubjectKind::User => Matcher::User(subject.name.clone()),
                SubjectKind::Group => Matcher::Group(subject.name.clone()),
            };
            grants.push((
                matcher,
                product_key(product_namespace, &request.spec.product.name),
                grant.columns.clone(),
            ));
        }
        Grants { tables, grants }
    }

    /// The product whose table is `schema.table`, if any.
    pub fn product_of(&self, schema: &str, table: &str) -> Option<&ProductTableRef> {
        self.tables.get(&format!("{schema}.{table}"))
    }

    /// The tables `subject` may query: one per granted product, with the union of the
    /// columns of its grants (a user may hold several, directly and through groups).
    pub fn visible_to(&self, subject: &Subject) -> Vec<VisibleTable> {
        let mut columns_by_product: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for (matcher, product, columns) in &self.grants {
            let matches = match matcher {
                Matcher::User(user) => *user == subject.user,
                Matcher::Group(group) => subject.groups.iter().any(|g| g == group),
            };
            if matches {
                let entry = columns_by_product.entry(product).or_default();
                for column in columns {
                    if !entry.contains(column) {
                        entry.push(column.clone());
                    }
                }
            }
        }
        self.tables
            .values()
            .filter_map(|t| {
                columns_by_product
                    .get(t.product.as_str())
                    .map(|columns| VisibleTable {
                        product: t.product.clone(),
                        schema: t.schema.clone(),
                        table: t.table.clone(),
                        columns: columns.clone(),
                    })
            })
            .collect()
    }
}

fn product_key(namespace: &str, name: &str) -> String {
    format!("{namespace}/{name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn product(yaml: &str) -> DataProduct {
        serde_yaml::from_str(yaml).unwrap()
    }

    fn orders() -> DataProduct {
        product(
            r#"
apiVersion: meshplane.dev/v1alpha1
kind: DataProduct
metadata: { name: orders, namespace: shop }
spec:
  domain: sales
  owner: sales@example.com
  source: { kafka: { topic: shop.orders } }
  schema:
    fields:
      - { name: order_id, type: string }
      - { name: customer_email, type: string, pii: true }
  output: { table: { format: parquet, updateInterval: 5m } }
  retention: 30d
status:
  table: { identifier: sales.orders }
"#,
        )
    }

    fn request(subject: &str, phase: &str, columns: &[&str]) -> AccessRequest {
        let columns = serde_json::to_string(columns).unwrap();
        serde_yaml::from_str(&format!(
            r#"
apiVersion: meshplane.dev/v1alpha1
kind: AccessRequest
metadata: {{ name: r, namespace: analytics }}
spec:
  product: {{ name: orders, namespace: shop }}
  subject: {subject}
  purpose: reporting
status:
  phase: {phase}
  grant:
    credentialsSecret: r-access
    objectStoreAccess: false
    classification: internal
    columns: {columns}
"#
        ))
        .unwrap()
    }

    fn reader() -> Subject {
        Subject {
            user: "system:serviceaccount:analytics:reader".into(),
            groups: vec!["system:serviceaccounts:analytics".into()],
        }
    }

    #[test]
    fn a_granted_service_account_sees_the_granted_columns_only() {
        let products = [orders()];
        let requests = [request(
            "{ kind: ServiceAccount, name: reader }",
            "Granted",
            &["order_id"],
        )];
        let grants = Grants::new(&products, &requests);
        let visible = grants.visible_to(&reader());
        assert_eq!(visible.len(), 1);
        assert_eq!(visible[0].qualified(), "sales.orders");
        assert_eq!(visible[0].product, "shop/orders");
        assert_eq!(visible[0].columns, vec!["order_id".to_string()]);
    }

    #[test]
    fn pending_denied_and_other_subjects_see_nothing() {
        let products = [orders()];
        let requests = [
            request(
                "{ kind: ServiceAccount, name: reader }",
                "Pending",
                &["order_id"],
            ),
            request(
                "{ kind: ServiceAccount, name: reader }",
                "Denied",
                &["order_id"],
            ),
            request(
                "{ kind: ServiceAccount, name: other }",
                "Granted",
                &["order_id"],
            ),
            request(
                "{ kind: ServiceAccount, name: reader, namespace: elsewhere }",
                "Granted",
                &["order_id"],
            ),
        ];
        let grants = Grants::new(&products, &requests);
        assert!(grants.visible_to(&reader()).is_empty());
        assert_eq!(
            grants
                .product_of("sales", "orders")
                .map(|t| t.product.as_str()),
            Some("shop/orders")
        );
    }

    #[test]
    fn grants_through_groups_add_their_columns() {
        let products = [orders()];
        let requests = [
            request(
                "{ kind: ServiceAccount, name: reader }",
                "Granted",
                &["order_id"],
            ),
            request(
                "{ kind: Group, name: \"system:serviceaccounts:analytics\" }",
                "Granted",
                &["order_id", "customer_email"],
            ),
        ];
        let grants = Grants::new(&products, &requests);
        let visible = grants.visible_to(&reader());
        assert_eq!(visible.len(), 1);
        assert_eq!(visible[0].columns, vec!["order_id", "customer_email"]);
    }

    #[test]
    fn a_product_without_a_table_is_not_queryable() {
        let mut product = orders();
        product.status = None;
        let requests = [request(
            "{ kind: ServiceAccount, name: reader }",
            "Granted",
            &["order_id"],
        )];
        let grants = Grants::new(&[product], &requests);
        assert!(grants.visible_to(&reader()).is_empty());
        assert!(grants.product_of("sales", "orders").is_none());
    }

    #[test]
    fn subjects_are_named_as_kubernetes_names_them() {
        assert_eq!(reader().display(), "ServiceAccount:analytics/reader");
        let user = Subject {
            user: "alice".into(),
            groups: vec![],
        };
        assert_eq!(user.display(), "User:alice");
    }
}
