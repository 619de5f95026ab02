//! A scripted stand-in for the API server and the object store, in the style of
//! kube-rs/controller-rs `fixtures.rs`: a `tower_test` mock service behind a real
//! `kube::Client`, and a spawned task that awaits each expected request in order, checks
//! it and answers it. S3 goes through `aws-smithy-mocks` rules in sequential mode (an S3
//! operation out of order, or one more than scripted, panics inside the reconcile).
//!
//! Both sides write what they saw into one timeline, so the script also fixes the order
//! *between* Kubernetes and S3 calls (the finalizer before any bucket call, the status
//! last). Calls that the controller makes a few at once (server-side applies, pruning
//! lists) form an unordered group: any order within the group, checked as a set.

use aws_sdk_s3::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::{
    BehaviorVersion, ConfigBag, Credentials, Intercept, Region, RuntimeComponents,
};
use aws_smithy_mocks::{create_mock_http_client, MockResponseInterceptor, Rule, RuleMode};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use http::{Method, Request, Response, StatusCode};
use kube::client::Body;
use serde_json::Value;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::task::JoinHandle;
use tower_test::mock::Handle;

/// How long the mock waits for the next expected request before failing the test.
pub const WAIT: Duration = Duration::from_secs(10);

type Check = Box<dyn FnOnce(&Value) + Send>;
type Reply = Box<dyn FnOnce(&Value) -> (StatusCode, Value) + Send>;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// One expected request to the API server and the answer to give.
pub struct Call {
    what: String,
    method: Method,
    path: String,
    /// `path` is a prefix (the object's name is made up by the client, e.g. an Event's).
    prefix: bool,
    query: Vec<(String, String)>,
    content_type: Option<&'static str>,
    check: Option<Check>,
    reply: Reply,
}

impl Call {
    fn new(what: impl Into<String>, method: Method, path: impl Into<String>) -> Self {
        Call {
            what: what.into(),
            method,
            path: path.into(),
            prefix: false,
            query: Vec::new(),
            content_type: None,
            check: None,
            reply: Box::new(|body| (StatusCode::OK, body.clone())),
        }
    }

    /// A GET of `path`.
    pub fn get(what: impl Into<String>, path: impl Into<String>) -> Self {
        Call::new(what, Method::GET, path)
    }

    /// A PATCH of `path`.
    pub fn patch(what: impl Into<String>, path: impl Into<String>) -> Self {
        Call::new(what, Method::PATCH, path)
    }

    /// A POST to `path`.
    pub fn post(what: impl Into<String>, path: impl Into<String>) -> Self {
        Call::new(what, Method::POST, path)
    }

    /// A DELETE of `path`.
    pub fn delete(what: impl Into<String>, path: impl Into<String>) -> Self {
        Call::new(what, Method::DELETE, path)
    }

    /// The request's path must start with the call's path, rather than equal it.
    pub fn path_prefix(mut self) -> Self {
        self.prefix = true;
        self
    }

    /// The request must carry this query parameter (others may be present too).
    pub fn query(mut self, key: &str, value: &str) -> Self {
        self.query.push((key.to_string(), value.to_string()));
        self
    }

    /// The request body must be of this content type.
    pub fn content_type(mut self, content_type: &'static str) -> Self {
        self.content_type = Some(content_type);
        self
    }

    /// Assertions on the request body (JSON), run when the request arrives.
    pub fn check(mut self, check: impl FnOnce(&Value) + Send + 'static) -> Self {
        self.check = Some(Box::new(check));
        self
    }

    /// Answers with this status and body.
    pub fn reply(mut self, status: StatusCode, body: Value) -> Self {
        self.reply = Box::new(move |_| (status, body));
        self
    }

    /// Answers with what `reply` makes of the request body.
    pub fn reply_with(
        mut self,
        reply: impl FnOnce(&Value) -> (StatusCode, Value) + Send + 'static,
    ) -> Self {
        self.reply = Box::new(reply);
        self
    }

    /// The call as the timeline records it.
    fn label(&self) -> String {
        format!("{} {}", self.method, self.path)
    }

    fn describe(&self) -> String {
        let query: Vec<String> = self.query.iter().map(|(k, v)| format!("{k}={v}")).collect();
        format!(
            "{} ({} {}{}{}{})",
            self.what,
            self.method,
            self.path,
            if self.prefix { "…" } else { "" },
            if query.is_empty() { "" } else { "?" },
            query.join("&")
        )
    }

    fn matches(&self, request: &Incoming) -> bool {
        request.method == self.method
            && (request.path == self.path || self.prefix && request.path.starts_with(&self.path))
            && self
                .query
                .iter()
                .all(|wanted| request.query.iter().any(|q| q == wanted))
            && self
                .content_type
                .is_none_or(|c| request.content_type.as_deref() == Some(c))
    }
}

/// One step of a scenario.
pub enum Step {
    /// A request to the API server, in this position.
    Kube(Call),
    /// Requests to the API server made a few at once: any order within the group.
    KubeAnyOrder(String, Vec<Call>),
    /// An S3 operation (its name as the SDK calls it, e.g. `HeadBucket`) and its mocked answer.
    S3(String, Rule),
    /// An S3 operation attempted against an unreachable object store (no answer to mock).
    S3Attempt(String),
    /// A point the test marks itself (between two reconciles).
    Mark(String),
}

/// What the API server was sent (and answered, so it is in order).
#[derive(Debug, Clone)]
pub struct Seen {
    /// The expected call it matched (its method, path and query were checked).
    pub what: String,
    /// JSON body (`Null` when empty).
    pub body: Value,
}

/// What the object store was sent.
#[derive(Debug, Clone)]
pub struct S3Request {
    /// Operation name, e.g. `DeleteObjects`.
    pub operation: String,
    /// HTTP method.
    pub method: String,
    /// URI, with the query.
    pub uri: String,
}

struct Incoming {
    method: Method,
    path: String,
    query: Vec<(String, String)>,
    content_type: Option<String>,
    body: Value,
}

impl Incoming {
    async fn read(request: Request<Body>) -> Self {
        let (parts, body) = request.into_parts();
        let bytes = body
            .collect_bytes()
            .await
            .expect("the request body could not be read");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        Incoming {
            method: parts.method,
            path: parts.uri.path().to_string(),
            query: parts.uri.query().map(decode_query).unwrap_or_default(),
            content_type: parts
                .headers
                .get(http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
            body,
        }
    }

    fn describe(&self) -> String {
        let query: Vec<String> = self.query.iter().map(|(k, v)| format!("{k}={v}")).collect();
        format!(
            "{} {}{}{} (content type {:?})",
            self.method,
            self.path,
            if query.is_empty() { "" } else { "?" },
            query.join("&"),
            self.content_type
        )
    }
}

/// `a=b&c=d%2Fe` as pairs, percent- and `+`-decoded.
fn decode_query(query: &str) -> Vec<(String, String)> {
    fn decode(text: &str) -> String {
        let bytes = text.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'+' => out.push(b' '),
                b'%' if i + 2 < bytes.len() => {
                    let hex = std::str::from_utf8(&bytes[i + 1..i + 3])
                        .ok()
                        .and_then(|h| u8::from_str_radix(h, 16).ok());
                    match hex {
                        Some(b) => {
                            out.push(b);
                            i += 2;
                        }
                        None => out.push(b'%'),
                    }
                }
                b => out.push(b),
            }
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(pair), String::new()),
        })
        .collect()
}

/// Records each S3 request (after the mock rules accepted it) in the timeline.
#[derive(Debug)]
struct RecordS3 {
    timeline: Arc<Mutex<Vec<String>>>,
    log: Arc<Mutex<Vec<S3Request>>>,
}

impl Intercept for RecordS3 {
    fn name(&self) -> &'static str {
        "RecordS3"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let operation = cfg
            .load::<Metadata>()
            .map(|m| m.name().to_string())
            .unwrap_or_else(|| "<unknown operation>".into());
        let request = context.request();
        lock(&self.log).push(S3Request {
            operation: operation.clone(),
            method: request.method().to_string(),
            uri: request.uri().to_string(),
        });
        lock(&self.timeline).push(format!("S3 {operation}"));
        Ok(())
    }
}

/// A running scenario: the clients to build a `Context` from, and the mock behind them.
pub struct Harness {
    /// Kubernetes client served by the script.
    pub client: kube::Client,
    /// S3 client served by the script's S3 rules (or an unreachable endpoint).
    pub s3: aws_sdk_s3::Client,
    server: JoinHandle<()>,
    timeline: Arc<Mutex<Vec<String>>>,
    seen: Arc<Mutex<Vec<Seen>>>,
    s3_log: Arc<Mutex<Vec<S3Request>>>,
    expected: Vec<Vec<String>>,
    rules: Vec<(String, Rule)>,
}

/// What a finished scenario saw.
pub struct Finished {
    /// Requests to the API server, in order.
    pub seen: Vec<Seen>,
    /// Requests to the object store, in order.
    pub s3: Vec<S3Request>,
}

impl Finished {
    /// The body of the one request that matched the expected call `what`.
    pub fn body(&self, what: &str) -> &Value {
        body_of(&self.seen, what)
    }
}

/// The body of the one request in `seen` that matched the expected call `what`.
pub fn body_of<'a>(seen: &'a [Seen], what: &str) -> &'a Value {
    let matching: Vec<&Seen> = seen.iter().filter(|s| s.what == what).collect();
    match matching.as_slice() {
        [one] => &one.body,
        [] => panic!("no request matched {what:?}"),
        _ => panic!("{} requests matched {what:?}", matching.len()),
    }
}

impl Harness {
    /// Starts the scenario with S3 answered by the script's rules.
    pub fn start(script: Vec<Step>) -> Harness {
        Harness::build(script, false)
    }

    /// Starts the scenario with S3 pointed at a closed port (connection refused, no retries).
    pub fn start_with_unreachable_s3(script: Vec<Step>) -> Harness {
        Harness::build(script, true)
    }

    fn build(script: Vec<Step>, unreachable_s3: bool) -> Harness {
        let timeline: Arc<Mutex<Vec<String>>> = Arc::default();
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let s3_log: Arc<Mutex<Vec<S3Request>>> = Arc::default();
        let mut expected = Vec::new();
        let mut kube_steps = Vec::new();
        let mut rules = Vec::new();
        for step in script {
            match step {
                Step::Kube(call) => {
                    expected.push(vec![call.label()]);
                    kube_steps.push(KubeStep::One(call));
                }
                Step::KubeAnyOrder(name, calls) => {
                    expected.push(calls.iter().map(Call::label).collect());
                    kube_steps.push(KubeStep::AnyOrder(name, calls));
                }
                Step::S3(operation, rule) => {
                    assert!(
                        !unreachable_s3,
                        "S3 rule {operation} in an unreachable-S3 scenario"
                    );
                    expected.push(vec![format!("S3 {operation}")]);
                    rules.push((operation, rule));
                }
                Step::S3Attempt(operation) => {
                    assert!(
                        unreachable_s3,
                        "S3 attempt {operation} in a mocked-S3 scenario"
                    );
                    expected.push(vec![format!("S3 {operation}")]);
                }
                Step::Mark(label) => expected.push(vec![format!("-- {label} --")]),
            }
        }
        let recorder = RecordS3 {
            timeline: timeline.clone(),
            log: s3_log.clone(),
        };
        let s3 = if unreachable_s3 {
            // The production client (timeouts and all), pointed at a closed port, one attempt.
            let base = meshplane_effects::s3::client(&meshplane_effects::s3::S3Settings {
                endpoint: Some("http://127.0.0.1:1".into()),
                region: "us-east-1".into(),
                access_key_id: "test".into(),
                secret_access_key: "test".into(),
            });
            let config = base
                .config()
                .to_builder()
                .retry_config(RetryConfig::disabled())
                .interceptor(recorder)
                .build();
            aws_sdk_s3::Client::from_conf(config)
        } else {
            let mut mock = MockResponseInterceptor::new().rule_mode(RuleMode::Sequential);
            for (_, rule) in &rules {
                mock = mock.with_rule(rule);
            }
            let config = aws_sdk_s3::Config::builder()
                .behavior_version(BehaviorVersion::latest())
                .region(Region::new("us-east-1"))
                .credentials_provider(Credentials::new("test", "test", None, None, "test"))
                .endpoint_url("http://s3.test")
                .force_path_style(true)
                .retry_config(RetryConfig::disabled())
                .http_client(create_mock_http_client())
                .interceptor(mock)
                .interceptor(recorder)
                .build();
            aws_sdk_s3::Client::from_conf(config)
        };
        let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
        let client = kube::Client::new(service, "default");
        let server = tokio::spawn(serve(handle, kube_steps, timeline.clone(), seen.clone()));
        Harness {
            client,
            s3,
            server,
            timeline,
            seen,
            s3_log,
            expected,
            rules,
        }
    }

    /// Marks a point in the timeline (the script has a `Step::Mark` with the same label).
    pub fn mark(&self, label: &str) {
        lock(&self.timeline).push(format!("-- {label} --"));
    }

    /// What the API server was sent so far.
    pub fn seen(&self) -> Vec<Seen> {
        lock(&self.seen).clone()
    }

    /// Waits for the mock to finish (every `Context` built on the clients must be dropped
    /// first), then checks that every S3 rule was used and that the whole timeline, API
    /// server and S3 together, is the script's order.
    pub async fn finish(self) -> Finished {
        let Harness {
            client,
            s3,
            server,
            timeline,
            seen,
            s3_log,
            expected,
            rules,
        } = self;
        drop(client);
        drop(s3);
        match tokio::time::timeout(WAIT * 2, server).await {
            Err(_) => panic!("the mock API server did not finish"),
            Ok(Err(e)) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Ok(Err(e)) => panic!("the mock API server task failed: {e}"),
            Ok(Ok(())) => {}
        }
        for (operation, rule) in &rules {
            assert_eq!(
                rule.num_calls(),
                1,
                "S3 {operation} was expected once but was called {} times",
                rule.num_calls()
            );
        }
        let timeline = lock(&timeline).clone();
        check_timeline(&expected, &timeline);
        let seen = lock(&seen).clone();
        let s3 = lock(&s3_log).clone();
        Finished { seen, s3 }
    }
}

fn check_timeline(expected: &[Vec<String>], timeline: &[String]) {
    let show = |lines: &mut dyn Iterator<Item = String>| {
        lines
            .enumerate()
            .map(|(i, l)| format!("  {i:>2} {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let expected_flat = || show(&mut expected.iter().flatten().cloned());
    let mut at = 0;
    for group in expected {
        let end = (at + group.len()).min(timeline.len());
        let mut want = group.clone();
        want.sort();
        let mut got = timeline[at.min(timeline.len())..end].to_vec();
        got.sort();
        assert!(
            want == got,
            "calls out of order at position {at}: expected {want:?}, got {got:?}\n\
             timeline:\n{}\nexpected:\n{}",
            show(&mut timeline.iter().cloned()),
            expected_flat()
        );
        at += group.len();
    }
    assert_eq!(
        at,
        timeline.len(),
        "more calls than scripted: {:?}",
        &timeline[at.min(timeline.len())..]
    );
}

enum KubeStep {
    One(Call),
    AnyOrder(String, Vec<Call>),
}

type Pending = tower_test::mock::SendResponse<Response<Body>>;

async fn next(
    handle: &mut Handle<Request<Body>, Response<Body>>,
    expected: &str,
) -> (Incoming, Pending) {
    match tokio::time::timeout(WAIT, handle.next_request()).await {
        Err(_) => panic!("timed out after {WAIT:?} waiting for {expected}"),
        Ok(None) => panic!(
            "expected {expected}, but no request came: the reconcile returned without making it"
        ),
        Ok(Some((request, send))) => (Incoming::read(request).await, send),
    }
}

fn answer(
    call: Call,
    request: Incoming,
    send: Pending,
    timeline: &Mutex<Vec<String>>,
    seen: &Mutex<Vec<Seen>>,
) {
    lock(timeline).push(call.label());
    lock(seen).push(Seen {
        what: call.what.clone(),
        body: request.body.clone(),
    });
    if let Some(check) = call.check {
        check(&request.body);
    }
    let (status, body) = (call.reply)(&request.body);
    let response = Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Body::from(
            serde_json::to_vec(&body).expect("a JSON answer"),
        ))
        .expect("a valid response");
    send.send_response(response);
}

async fn serve(
    mut handle: Handle<Request<Body>, Response<Body>>,
    steps: Vec<KubeStep>,
    timeline: Arc<Mutex<Vec<String>>>,
    seen: Arc<Mutex<Vec<Seen>>>,
) {
    for step in steps {
        match step {
            KubeStep::One(call) => {
                let expected = call.describe();
                let (request, send) = next(&mut handle, &expected).await;
                assert!(
                    call.matches(&request),
                    "expected {expected}\n     got {}",
                    request.describe()
                );
                answer(call, request, send, &timeline, &seen);
            }
            KubeStep::AnyOrder(name, mut calls) => {
                while !calls.is_empty() {
                    let remaining: Vec<String> = calls.iter().map(Call::describe).collect();
                    let expected = format!(
                        "{} more of {name}, in any order:\n  {}",
                        calls.len(),
                        remaining.join("\n  ")
                    );
                    let (request, send) = next(&mut handle, &expected).await;
                    let Some(index) = calls.iter().position(|c| c.matches(&request)) else {
                        panic!("expected {expected}\ngot {}", request.describe());
                    };
                    let call = calls.swap_remove(index);
                    answer(call, request, send, &timeline, &seen);
                }
            }
        }
    }
    match tokio::time::timeout(WAIT, handle.next_request()).await {
        Ok(None) => {}
        Ok(Some((request, _))) => panic!(
            "unexpected request after the last scripted one: {}",
            Incoming::read(request).await.describe()
        ),
        Err(_) => panic!(
            "the kube client was still alive {WAIT:?} after the last scripted request \
             (drop every Context before Harness::finish)"
        ),
    }
}

#[test]
fn queries_are_percent_decoded() {
    assert_eq!(
        decode_query("labelSelector=a.b%2Fc%3Dd%2Ce&force=true&x"),
        vec![
            ("labelSelector".to_string(), "a.b/c=d,e".to_string()),
            ("force".to_string(), "true".to_string()),
            ("x".to_string(), String::new()),
        ]
    );
}
