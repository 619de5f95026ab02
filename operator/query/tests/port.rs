//! The query port's statement path end to end, in process: a real Iceberg table (in an
//! in-memory catalog and file store), real DataFusion planning, and the responses and
//! error codes a PostgreSQL client receives. The token check is a stand-in here (the
//! TokenReview against a real API server is in e2e/tests/test_query_port.py).

use iceberg::io::MemoryStorageFactory;
use iceberg::memory::{MemoryCatalogBuilder, MEMORY_CATALOG_WAREHOUSE};
use iceberg::spec::{NestedField, PrimitiveType, Schema, Type};
use iceberg::{Catalog, CatalogBuilder, NamespaceIdent, TableCreation};
use meshplane_api::access_request::AccessRequest;
use meshplane_api::DataProduct;
use meshplane_query::engine::{Engine, Limits};
use meshplane_query::grants::{Grants, Subject};
use meshplane_query::metrics::Metrics;
use meshplane_query::server::{Authenticator, QueryPort};
use meshplane_query::table::TableCache;
use pgwire::api::results::Response;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// Names a fixed subject for the token `good` (a stand-in for TokenReview).
struct FixedTokens;

#[async_trait::async_trait]
impl Authenticator for FixedTokens {
    async fn authenticate(&self, token: &str) -> Result<Subject, String> {
        (token == "good")
            .then(reader)
            .ok_or_else(|| "the token was not accepted by the cluster".into())
    }
}

fn reader() -> Subject {
    Subject {
        user: "system:serviceaccount:analytics:reader".into(),
        groups: vec!["system:serviceaccounts:analytics".into()],
    }
}

fn stranger() -> Subject {
    Subject {
        user: "system:serviceaccount:analytics:stranger".into(),
        groups: vec![],
    }
}

async fn catalog() -> Arc<dyn Catalog> {
    let catalog = MemoryCatalogBuilder::default()
        .with_storage_factory(Arc::new(MemoryStorageFactory))
        .load(
            "memory",
            HashMap::from([(
                MEMORY_CATALOG_WAREHOUSE.to_string(),
                "memory://warehouse".to_string(),
            )]),
        )
        .await
        .unwrap();
    let namespace = NamespaceIdent::new("sales".into());
    catalog
        .create_namespace(&namespace, HashMap::new())
        .await
        .unwrap();
    let schema = Schema::builder()
        .with_fields(vec![
            NestedField::required(1, "order_id", Type::Primitive(PrimitiveType::String)).into(),
            NestedField::optional(2, "customer_email", Type::Primitive(PrimitiveType::String))
                .into(),
            NestedField::optional(3, "order_total", Type::Primitive(PrimitiveType::Double)).into(),
        ])
        .build()
        .unwrap();
    catalog
        .create_table(
            &namespace,
            TableCreation::builder()
                .name("orders".into())
                .schema(schema)
                .build(),
        )
        .await
        .unwrap();
    Arc::new(catalog)
}

fn grants(columns: &[&str]) -> Grants {
    let product: DataProduct = serde_yaml::from_str(
        r#"
apiVersion: meshplane.dev/v1alpha1
kind: DataProduct
metadata: { name: orders, namespace: shop }
spec:
  domain: sales
  owner: sales@example.com
  source: { kafka: { topic: shop.orders } }
  schema: { fields: [ { name: order_id, type: string } ] }
  output: { table: { format: parquet, updateInterval: 5m } }
  retention: 30d
status:
  table: { identifier: sales.orders }
"#,
    )
    .unwrap();
    let request: AccessRequest = serde_yaml::from_str(&format!(
        r#"
apiVersion: meshplane.dev/v1alpha1
kind: AccessRequest
metadata: {{ name: r, namespace: analytics }}
spec:
  product: {{ name: orders, namespace: shop }}
  subject: {{ kind: ServiceAccount, name: reader }}
  purpose: reporting
status:
  phase: Granted
  grant: {{ credentialsSecret: r-access, objectStoreAccess: false, classification: internal, columns: {} }}
"#,
        serde_json::to_string(columns).unwrap()
    ))
    .unwrap();
    Grants::new(&[product], &[request])
}

async fn port(columns: &[&str], limits: Limits) -> (QueryPort, Arc<Metrics>) {
    let cache = Arc::new(TableCache::new(catalog().await, Duration::from_secs(1)));
    let engine = Arc::new(Engine::new(cache, limits).unwrap());
    let metrics = Arc::new(Metrics::default());
    let port = QueryPort::new(
        engine,
        Arc::new(RwLock::new(Arc::new(grants(columns)))),
        metrics.clone(),
        Arc::new(FixedTokens),
    );
    (port, metrics)
}

fn limits() -> Limits {
    Limits {
        statement_timeout: Duration::from_secs(30),
        max_rows: 1000,
        memory_bytes: 64 * 1024 * 1024,
    }
}

/// `Ok(column names)` of a result, or `Err((code, message))`.
fn outcome(response: Response) -> Result<Vec<String>, (String, String)> {
    match response {
        Response::Query(q) => Ok(q
            .row_schema()
            .iter()
            .map(|f| f.name().to_string())
            .collect()),
        Response::Error(e) => Err((e.code.clone(), e.message.clone())),
        Response::Execution(tag) => Ok(vec![format!("{tag:?}")]),
        Response::EmptyQuery => Ok(vec![]),
        _ => panic!("unexpected response"),
    }
}

#[tokio::test]
async fn a_granted_subject_sees_only_its_columns_and_the_rest_is_refused_by_code() {
    let (port, metrics) = port(&["order_id", "order_total"], limits()).await;
    let run = |sql: &'static str| {
        let port = &port;
        async move { outcome(port.execute(&reader(), "127.0.0.1:1", sql).await) }
    };
    assert_eq!(
        run("SELECT * FROM sales.orders").await.unwrap(),
        ["order_id", "order_total"]
    );
    assert_eq!(
        run("SELECT count(*) AS n FROM meshplane.sales.orders WHERE order_total > 1")
            .await
            .unwrap(),
        ["n"]
    );
    let (code, message) = run("SELECT customer_email FROM sales.orders")
        .await
        .unwrap_err();
    assert!(message.contains("customer_email"), "{code} {message}");
    let (code, message) = run("DELETE FROM sales.orders").await.unwrap_err();
    assert_eq!(code, "25006", "{message}");
    let (code, _) = run("SELECT * FROM sales.nothing").await.unwrap_err();
    assert_eq!(code, "42P01");
    let (code, _) = run("SELEC 1").await.unwrap_err();
    assert_eq!(code, "42601");
    assert!(run("SET extra_float_digits = 3").await.is_ok());
    let listed = run(
        "SELECT table_schema, table_name FROM information_schema.tables WHERE table_schema = 'sales'",
    )
    .await
    .unwrap();
    assert_eq!(listed, ["table_schema", "table_name"]);
    let exposition = metrics.render();
    assert!(
        exposition.contains("meshplane_query_duration_seconds_count{product=\"shop/orders\"} 3"),
        "{exposition}"
    );
}

#[tokio::test]
async fn a_subject_without_a_grant_is_denied_naming_the_product() {
    let (port, _) = port(&["order_id"], limits()).await;
    let (code, message) = outcome(
        port.execute(&stranger(), "127.0.0.1:1", "SELECT 1 FROM sales.orders")
            .await,
    )
    .unwrap_err();
    assert_eq!(code, "42501");
    assert!(
        message.contains("permission denied for product shop/orders")
            && message.contains("ServiceAccount:analytics/stranger"),
        "{message}"
    );
}

#[tokio::test]
async fn results_past_the_row_limit_are_cancelled_with_a_message() {
    let (port, _) = port(
        &["order_id"],
        Limits {
            max_rows: 10,
            ..limits()
        },
    )
    .await;
    let (code, message) = outcome(
        port.execute(
            &reader(),
            "127.0.0.1:1",
            "SELECT * FROM generate_series(1, 100)",
        )
        .await,
    )
    .unwrap_err();
    assert_eq!(code, "54000", "{message}");
    assert!(message.contains("more than 10 rows"), "{message}");
}

// Several threads, as the port runs: the timer fires while DataFusion computes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_past_the_timeout_is_cancelled() {
    let (port, _) = port(
        &["order_id"],
        Limits {
            statement_timeout: Duration::from_millis(50),
            max_rows: usize::MAX,
            ..limits()
        },
    )
    .await;
    // A cross join large enough to outlast 50 ms.
    let (code, message) = outcome(
        port.execute(
            &reader(),
            "127.0.0.1:1",
            "SELECT count(*) FROM generate_series(1, 100000) a, generate_series(1, 100000) b",
        )
        .await,
    )
    .unwrap_err();
    assert_eq!(code, "57014", "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_past_the_memory_pool_fails_with_a_message() {
    let (port, _) = port(
        &["order_id"],
        Limits {
            memory_bytes: 1024 * 1024,
            max_rows: usize::MAX,
            ..limits()
        },
    )
    .await;
    let (code, message) = outcome(
        port.execute(
            &reader(),
            "127.0.0.1:1",
            "SELECT v % 1000000 AS k, count(*) FROM generate_series(1, 3000000) t(v) GROUP BY k ORDER BY k DESC LIMIT 1",
        )
        .await,
    )
    .unwrap_err();
    assert_eq!(code, "53200", "{message}");
}
