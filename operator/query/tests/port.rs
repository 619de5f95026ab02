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

/// The values of the first row of a result, each as its wire bytes (`None`: NULL).
async fn first_row(response: Response) -> Vec<Option<Vec<u8>>> {
    use futures::StreamExt;
    let Response::Query(mut q) = response else {
        panic!("not a result: {:?}", outcome(response));
    };
    let row = q.data_rows().next().await.expect("a row").unwrap();
    let mut data: &[u8] = &row.data;
    (0..row.field_count)
        .map(|_| {
            let (length, rest) = data.split_at(4);
            let length = i32::from_be_bytes(length.try_into().unwrap());
            data = rest;
            (length >= 0).then(|| {
                let (value, rest) = data.split_at(length as usize);
                data = rest;
                value.to_vec()
            })
        })
        .collect()
}

#[tokio::test]
async fn extended_statements_are_described_at_parse_and_run_with_bound_values() {
    use datafusion::common::ScalarValue;
    use pgwire::api::results::FieldFormat;
    use pgwire::api::Type as Pg;
    let (port, metrics) = port(&["order_id", "order_total"], limits()).await;
    let text = |_: usize| FieldFormat::Text;
    let binary = |_: usize| FieldFormat::Binary;

    let prepared = port
        .prepare(
            &reader(),
            "127.0.0.1:1",
            "SELECT order_id FROM sales.orders WHERE order_total > $1 AND order_id = $2",
            &[],
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(prepared.parameter_types, [Pg::FLOAT8, Pg::TEXT]);
    assert_eq!(prepared.schema.field(0).name(), "order_id");
    let bound = vec![
        ScalarValue::Float64(Some(1.0)),
        ScalarValue::Utf8(Some("o-1' OR '1'='1".into())),
    ];
    let response = port
        .execute_bound(&reader(), "127.0.0.1:1", &prepared.sql, Ok(bound), &text)
        .await;
    assert_eq!(outcome(response).unwrap(), ["order_id"]);

    // A value is bound, never spliced: it comes back as itself, in binary when asked.
    let echo = port
        .prepare(
            &reader(),
            "127.0.0.1:1",
            "SELECT $1::bigint * 2 AS n, $2 AS s",
            &[None, Some(Pg::TEXT)],
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(echo.parameter_types[1], Pg::TEXT);
    let values = vec![
        ScalarValue::Int64(Some(21)),
        ScalarValue::Utf8(Some("'; DELETE FROM sales.orders; --".into())),
    ];
    let row = first_row(
        port.execute_bound(&reader(), "127.0.0.1:1", &echo.sql, Ok(values), &binary)
            .await,
    )
    .await;
    assert_eq!(row[0].as_deref(), Some(42i64.to_be_bytes().as_slice()));
    assert_eq!(
        row[1].as_deref(),
        Some(b"'; DELETE FROM sales.orders; --".as_slice())
    );

    // Refusals come at Parse, with the simple protocol's codes; bad values at Execute.
    let denied = port
        .prepare(
            &stranger(),
            "127.0.0.1:1",
            "SELECT 1 FROM sales.orders",
            &[],
        )
        .await
        .unwrap_err();
    assert_eq!(denied.code, "42501", "{}", denied.message);
    let refused = port
        .prepare(
            &reader(),
            "127.0.0.1:1",
            "DELETE FROM sales.orders WHERE order_id = $1",
            &[],
        )
        .await
        .unwrap_err();
    assert_eq!(refused.code, "25006", "{}", refused.message);
    let unbound = port
        .execute_bound(
            &reader(),
            "127.0.0.1:1",
            &prepared.sql,
            Err(meshplane_query::parameters::ParameterError::Count {
                expected: 2,
                given: 1,
            }),
            &text,
        )
        .await;
    assert_eq!(outcome(unbound).unwrap_err().0, "22P02");
    assert!(port
        .prepare(&reader(), "127.0.0.1:1", "  ;", &[])
        .await
        .unwrap()
        .is_none());
    let exposition = metrics.render();
    assert!(
        exposition.contains(
            "meshplane_query_statements_total{outcome=\"denied\",product=\"shop/orders\"} 1"
        ),
        "{exposition}"
    );
}

/// The port on a loopback socket, as `meshplane query` serves it.
async fn serve(port: QueryPort) -> std::net::SocketAddr {
    let port = Arc::new(port);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let handlers = port.handlers();
            tokio::spawn(async move {
                let _ = pgwire::tokio::process_socket(socket, None, handlers).await;
            });
        }
    });
    address
}

/// A frontend message: tag, length, body.
fn message(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    out.extend(((body.len() + 4) as i32).to_be_bytes());
    out.extend(body);
    out
}

fn startup(user: &str) -> Vec<u8> {
    let mut body = 196_608i32.to_be_bytes().to_vec();
    for part in ["user", user, "database", "meshplane"] {
        body.extend(part.as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut out = ((body.len() + 4) as i32).to_be_bytes().to_vec();
    out.extend(body);
    out
}

fn cstr(text: &str) -> Vec<u8> {
    let mut out = text.as_bytes().to_vec();
    out.push(0);
    out
}

/// Backend messages until ReadyForQuery, the end of the connection or 5 s of silence.
async fn replies(stream: &mut tokio::net::TcpStream) -> Vec<(u8, Vec<u8>)> {
    replies_until(stream, b'Z', Duration::from_secs(5)).await
}

/// Backend messages until ReadyForQuery, the end of the connection or `silence`.
async fn replies_within(
    stream: &mut tokio::net::TcpStream,
    silence: Duration,
) -> Vec<(u8, Vec<u8>)> {
    replies_until(stream, b'Z', silence).await
}

/// Backend messages until one tagged `last`, the end of the connection or `silence`.
async fn replies_until(
    stream: &mut tokio::net::TcpStream,
    last: u8,
    silence: Duration,
) -> Vec<(u8, Vec<u8>)> {
    use tokio::io::AsyncReadExt;
    let mut out = Vec::new();
    loop {
        let mut head = [0u8; 5];
        let read = tokio::time::timeout(silence, stream.read_exact(&mut head)).await;
        let Ok(Ok(_)) = read else { return out };
        let length = i32::from_be_bytes(head[1..5].try_into().unwrap()).max(4) as usize - 4;
        let mut body = vec![0u8; length];
        if stream.read_exact(&mut body).await.is_err() {
            return out;
        }
        let done = head[0] == last;
        out.push((head[0], body));
        if done {
            return out;
        }
    }
}

/// Connected and authenticated with the token `good`.
async fn session(address: std::net::SocketAddr) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    stream.write_all(&startup("reader")).await.unwrap();
    // The password request ends the server's turn.
    let asked = replies_until(&mut stream, b'R', Duration::from_secs(5)).await;
    assert_eq!(asked.first().map(|m| m.0), Some(b'R'), "{asked:?}");
    stream
        .write_all(&message(b'p', &cstr("good")))
        .await
        .unwrap();
    let ready = replies(&mut stream).await;
    assert_eq!(ready.last().map(|m| m.0), Some(b'Z'), "{ready:?}");
    stream
}

/// Parse, Bind (`$1` = 41 in text), Describe, Execute and Sync of one statement; the
/// tags of the answers and the first DataRow's first value.
async fn prepared_round_trip(stream: &mut tokio::net::TcpStream) -> (Vec<u8>, Option<String>) {
    use tokio::io::AsyncWriteExt;
    let mut parse = cstr("s1");
    parse.extend(cstr("SELECT $1::bigint + 1 AS n"));
    parse.extend(0i16.to_be_bytes());
    let mut bind = cstr("");
    bind.extend(cstr("s1"));
    bind.extend(0i16.to_be_bytes()); // parameter formats: all text
    bind.extend(1i16.to_be_bytes());
    bind.extend(2i32.to_be_bytes());
    bind.extend(b"41");
    bind.extend(0i16.to_be_bytes()); // result formats: all text
    let mut describe = vec![b'P'];
    describe.extend(cstr(""));
    let mut execute = cstr("");
    execute.extend(0i32.to_be_bytes());
    let mut wire = message(b'P', &parse);
    wire.extend(message(b'B', &bind));
    wire.extend(message(b'D', &describe));
    wire.extend(message(b'E', &execute));
    wire.extend(message(b'S', &[]));
    stream.write_all(&wire).await.unwrap();
    let answers = replies(stream).await;
    let value = answers.iter().find(|m| m.0 == b'D').map(|(_, body)| {
        let length = i32::from_be_bytes(body[2..6].try_into().unwrap()) as usize;
        String::from_utf8_lossy(&body[6..6 + length]).to_string()
    });
    (answers.iter().map(|m| m.0).collect(), value)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_extended_protocol_round_trips_on_the_wire() {
    let (port, _) = port(&["order_id"], limits()).await;
    let address = serve(port).await;
    let mut stream = session(address).await;
    let (tags, value) = prepared_round_trip(&mut stream).await;
    // ParseComplete, BindComplete, RowDescription, DataRow, CommandComplete, ReadyForQuery.
    assert_eq!(tags, b"12TDCZ", "{:?}", String::from_utf8_lossy(&tags));
    assert_eq!(value.as_deref(), Some("42"));
}

/// A small deterministic generator (xorshift), so a failing case can be replayed.
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn bytes(&mut self, max: usize) -> Vec<u8> {
        let n = (self.next() as usize) % (max + 1);
        (0..n).map(|_| self.next() as u8).collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_at_startup_or_after_it_closes_or_answers_and_the_port_keeps_serving() {
    use tokio::io::AsyncWriteExt;
    let (port, _) = port(&["order_id"], limits()).await;
    let address = serve(port).await;
    let mut noise = Noise(0x9e37_79b9_7f4a_7c15);
    let tags = [
        b'P', b'B', b'D', b'E', b'S', b'H', b'C', b'Q', b'p', b'X', b'd', b'F',
    ];
    for case in 0..300 {
        let authenticated = case % 2 == 1;
        let mut stream = if authenticated {
            session(address).await
        } else {
            tokio::net::TcpStream::connect(address).await.unwrap()
        };
        let mut wire = Vec::new();
        for _ in 0..(1 + noise.next() % 4) {
            let body = noise.bytes(64);
            let tag = tags[(noise.next() as usize) % tags.len()];
            match noise.next() % 4 {
                // A well-framed message with a random body.
                0 | 1 => wire.extend(message(tag, &body)),
                // A lying length (short, negative or huge).
                2 => {
                    wire.push(tag);
                    let lie = [0i32, 3, -1, i32::MAX, 1 << 20][(noise.next() % 5) as usize];
                    wire.extend(lie.to_be_bytes());
                    wire.extend(&body);
                }
                // Raw bytes.
                _ => wire.extend(&body),
            }
        }
        let _ = stream.write_all(&wire).await;
        // A message the port still waits the rest of is left unfinished: the client goes.
        let _ = replies_within(&mut stream, Duration::from_millis(100)).await;
    }
    // After all of that, a client still connects, authenticates and runs statements.
    let mut stream = session(address).await;
    let (_, value) = prepared_round_trip(&mut stream).await;
    assert_eq!(value.as_deref(), Some("42"));
}
