//! The PostgreSQL wire protocol: cleartext-password startup whose password is a bearer
//! token (reviewed by the cluster), and the simple and extended query protocols running
//! one read-only statement at a time for the authenticated subject. An extended-protocol
//! statement is checked, authorized and described at Parse, and checked and authorized
//! again at every Execute (grants change in between), with its `$n` parameters bound as
//! values, never spliced into the text.

use crate::audit::{self, AuditRecord};
use crate::authorize::{authorize, Denied};
use crate::encode;
use crate::engine::{Engine, RunError};
use crate::grants::{Grants, Subject};
use crate::metrics::Metrics;
use crate::parameters;
use crate::statement::{check, Checked, StatementError};
use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::common::ScalarValue;
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::Statement;
use futures::sink::Sink;
use futures::stream;
use pgwire::api::auth::cleartext::CleartextPasswordAuth;
use pgwire::api::auth::driver::AuthOutcome;
use pgwire::api::auth::mechanism::AuthMechanismFactory;
use pgwire::api::auth::{
    protocol_negotiation, save_startup_parameters_to_metadata, AuthDriver, AuthSource,
    DefaultServerParameterProvider, LoginInfo, Password, StartupHandler,
};
use pgwire::api::portal::{Format, Portal};
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::api::results::{FieldFormat, FieldInfo, QueryResponse, Response, Tag};
use pgwire::api::stmt::QueryParser;
use pgwire::api::store::PortalStore;
use pgwire::api::{ClientInfo, ClientPortalStore, PgWireServerHandlers, Type};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::{Arc, RwLock};
use std::time::Instant;

/// Who a password (a bearer token) belongs to.
#[async_trait]
pub trait Authenticator: Send + Sync {
    /// The subject `token` authenticates, or why it does not.
    async fn authenticate(&self, token: &str) -> Result<Subject, String>;
}

/// The grants as of the last watch event, swapped in whole.
pub type SharedGrants = Arc<RwLock<Arc<Grants>>>;

/// State every connection shares.
pub struct QueryPort {
    engine: Arc<Engine>,
    grants: SharedGrants,
    metrics: Arc<Metrics>,
    authenticator: Arc<dyn Authenticator>,
}

impl QueryPort {
    /// A port running statements in `engine` for subjects `authenticator` names.
    pub fn new(
        engine: Arc<Engine>,
        grants: SharedGrants,
        metrics: Arc<Metrics>,
        authenticator: Arc<dyn Authenticator>,
    ) -> QueryPort {
        QueryPort {
            engine,
            grants,
            metrics,
            authenticator,
        }
    }

    /// The handlers of one connection.
    pub fn handlers(self: &Arc<Self>) -> Handlers {
        Handlers {
            startup: Arc::new(Startup {
                driver: AuthDriver::new(parameters()),
                factory: CleartextPasswordAuth::new(Arc::new(TokenSource { port: self.clone() })),
            }),
            query: Arc::new(Queries { port: self.clone() }),
            extended: Arc::new(Extended {
                port: self.clone(),
                parser: Arc::new(Parser { port: self.clone() }),
            }),
        }
    }

    fn grants(&self) -> Arc<Grants> {
        self.grants
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

fn parameters() -> DefaultServerParameterProvider {
    let mut parameters = DefaultServerParameterProvider::default();
    parameters.server_version = format!("16.6 (meshplane {})", env!("CARGO_PKG_VERSION"));
    parameters.is_superuser = false;
    parameters.default_transaction_read_only = true;
    parameters.time_zone = "UTC".into();
    parameters
}

/// The handlers of one connection (pgwire asks for them per connection).
pub struct Handlers {
    startup: Arc<Startup>,
    query: Arc<Queries>,
    extended: Arc<Extended>,
}

impl PgWireServerHandlers for Handlers {
    fn simple_query_handler(&self) -> Arc<impl SimpleQueryHandler> {
        self.query.clone()
    }

    fn extended_query_handler(&self) -> Arc<impl ExtendedQueryHandler> {
        self.extended.clone()
    }

    fn startup_handler(&self) -> Arc<impl StartupHandler> {
        self.startup.clone()
    }
}

/// The password is a bearer token; its owner is the session's subject.
struct TokenSource {
    port: Arc<QueryPort>,
}

impl Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenSource")
    }
}

#[async_trait]
impl AuthSource<Subject> for TokenSource {
    async fn get_password(&self, login: &LoginInfo) -> PgWireResult<Password> {
        // Never called: `verify_password` is overridden. Refuse rather than compare.
        Err(PgWireError::InvalidPassword(
            login.user().unwrap_or_default().to_string(),
        ))
    }

    async fn verify_password(
        &self,
        login: &LoginInfo,
        presented: &[u8],
    ) -> PgWireResult<Option<Subject>> {
        let token = std::str::from_utf8(presented).unwrap_or_default().trim();
        let refuse = |reason: String| {
            self.port.metrics.auth_failures.inc();
            tracing::info!(
                target: "meshplane::audit",
                user = login.user().unwrap_or_default(),
                host = login.host(),
                "connection refused: {reason}"
            );
            PgWireError::UserError(Box::new(ErrorInfo::new(
                "FATAL".into(),
                "28P01".into(),
                format!("authentication failed: {reason}"),
            )))
        };
        if token.is_empty() {
            return Err(refuse(
                "give a Kubernetes token as the password (e.g. PGPASSWORD=$(kubectl create token <serviceaccount>))"
                    .into(),
            ));
        }
        match self.port.authenticator.authenticate(token).await {
            Ok(subject) => Ok(Some(subject)),
            Err(reason) => Err(refuse(reason)),
        }
    }
}

struct Startup {
    driver: AuthDriver<DefaultServerParameterProvider, Subject>,
    factory: CleartextPasswordAuth<TokenSource>,
}

impl Startup {
    async fn finish<C>(&self, client: &mut C, outcome: AuthOutcome<Subject>) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        match outcome {
            AuthOutcome::InProgress => Ok(()),
            AuthOutcome::Authenticated {
                identity: Some(subject),
                final_message,
            } => {
                client.session_extensions().insert(subject);
                self.driver
                    .complete_authentication(client, final_message)
                    .await
            }
            AuthOutcome::Authenticated { identity: None, .. } => {
                Err(PgWireError::InvalidPassword(String::new()))
            }
        }
    }
}

#[async_trait]
impl StartupHandler for Startup {
    async fn on_startup<C>(
        &self,
        client: &mut C,
        message: PgWireFrontendMessage,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        match message {
            PgWireFrontendMessage::Startup(ref startup) => {
                protocol_negotiation(client, startup).await?;
                save_startup_parameters_to_metadata(client, startup);
                let outcome = self
                    .driver
                    .begin_authentication(client, self.factory.create())
                    .await?;
                self.finish(client, outcome).await
            }
            PgWireFrontendMessage::PasswordMessageFamily(message) => {
                let outcome = self.driver.advance_authentication(client, message).await?;
                self.finish(client, outcome).await
            }
            _ => Ok(()),
        }
    }
}

struct Queries {
    port: Arc<QueryPort>,
}

fn error(code: &str, message: String) -> Response {
    Response::Error(Box::new(ErrorInfo::new(
        "ERROR".into(),
        code.into(),
        message,
    )))
}

#[async_trait]
impl SimpleQueryHandler for Queries {
    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        let Some(subject) = client.session_extensions().get::<Subject>() else {
            return Err(PgWireError::InvalidPassword(String::new()));
        };
        let client_addr = client.socket_addr().to_string();
        Ok(vec![self.port.execute(&subject, &client_addr, query).await])
    }
}

/// A statement parsed by the extended protocol, described once at Parse.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// Its text, checked and authorized again at every execution.
    pub sql: String,
    /// Placeholder types as described to the client: what it declared, else what the
    /// plan infers (`text` where neither says).
    pub parameter_types: Vec<Type>,
    /// Placeholder types as the plan infers them (what bound values are cast to).
    pub inferred: Vec<Option<DataType>>,
    /// Result columns (none for `SET`).
    pub schema: SchemaRef,
}

/// The extended protocol's Parse: the port's own check, authorization and description.
struct Parser {
    port: Arc<QueryPort>,
}

#[async_trait]
impl QueryParser for Parser {
    type Statement = Prepared;

    async fn parse_sql<C>(
        &self,
        client: &C,
        sql: &str,
        types: &[Option<Type>],
    ) -> PgWireResult<Option<Prepared>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        let Some(subject) = client.session_extensions().get::<Subject>() else {
            return Err(PgWireError::InvalidPassword(String::new()));
        };
        let client_addr = client.socket_addr().to_string();
        self.port
            .prepare(&subject, &client_addr, sql, types)
            .await
            .map_err(PgWireError::UserError)
    }

    fn get_parameter_types(&self, statement: &Prepared) -> PgWireResult<Vec<Type>> {
        Ok(statement.parameter_types.clone())
    }

    fn get_result_schema(
        &self,
        statement: &Prepared,
        format: Option<&Format>,
    ) -> PgWireResult<Vec<FieldInfo>> {
        let fields = encode::fields_in(&statement.schema, |i| {
            format.map_or(FieldFormat::Text, |f| f.format_for(i))
        });
        Ok(fields.as_ref().clone())
    }
}

struct Extended {
    port: Arc<QueryPort>,
    parser: Arc<Parser>,
}

#[async_trait]
impl ExtendedQueryHandler for Extended {
    type Statement = Prepared;
    type QueryParser = Parser;

    fn query_parser(&self) -> Arc<Parser> {
        self.parser.clone()
    }

    async fn do_query<C>(
        &self,
        client: &mut C,
        portal: &Portal<Prepared>,
        _max_rows: usize,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Prepared>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let Some(subject) = client.session_extensions().get::<Subject>() else {
            return Err(PgWireError::InvalidPassword(String::new()));
        };
        let client_addr = client.socket_addr().to_string();
        let prepared = &portal.statement.statement;
        let values: Vec<Option<&[u8]>> = portal.parameters.iter().map(|p| p.as_deref()).collect();
        let bound = parameters::decode(
            &values,
            |i| portal.parameter_format.is_binary(i),
            &prepared.parameter_types,
            &prepared.inferred,
        );
        let formats = |i: usize| portal.result_column_format.format_for(i);
        Ok(self
            .port
            .execute_bound(&subject, &client_addr, &prepared.sql, bound, &formats)
            .await)
    }
}

fn error_info(response: Response) -> Box<ErrorInfo> {
    match response {
        Response::Error(info) => info,
        _ => Box::new(ErrorInfo::new(
            "ERROR".into(),
            "XX000".into(),
            "the statement could not be prepared".into(),
        )),
    }
}

/// A statement that passed the check and the authorization.
enum Admitted {
    Empty,
    Set,
    Query {
        context: SessionContext,
        statement: Box<Statement>,
    },
}

impl QueryPort {
    /// Runs `query` for `subject` (simple protocol); every outcome is audited and measured.
    pub async fn execute(&self, subject: &Subject, client: &str, query: &str) -> Response {
        self.execute_bound(subject, client, query, Ok(Vec::new()), &|_| {
            FieldFormat::Text
        })
        .await
    }

    /// Checks, authorizes and describes `query` for the extended protocol; a refusal is
    /// audited and measured like a failed execution.
    pub async fn prepare(
        &self,
        subject: &Subject,
        client: &str,
        query: &str,
        declared: &[Option<Type>],
    ) -> Result<Option<Prepared>, Box<ErrorInfo>> {
        let started = Instant::now();
        let mut products: Vec<String> = Vec::new();
        let (context, statement) = match self.admit(subject, query, &mut products).await {
            Ok(Admitted::Empty) => return Ok(None),
            Ok(Admitted::Set) => {
                return Ok(Some(Prepared {
                    sql: query.to_owned(),
                    parameter_types: Vec::new(),
                    inferred: Vec::new(),
                    schema: Arc::new(datafusion::arrow::datatypes::Schema::empty()),
                }))
            }
            Ok(Admitted::Query { context, statement }) => (context, statement),
            Err(answer) => {
                let response = self.record(subject, client, query, &products, started, answer);
                return Err(error_info(response));
            }
        };
        match self.engine.describe(&context, *statement).await {
            Ok((inferred, schema)) => {
                let parameter_types = inferred
                    .iter()
                    .enumerate()
                    .map(|(i, t)| {
                        declared
                            .get(i)
                            .cloned()
                            .flatten()
                            .filter(|t| *t != Type::UNKNOWN)
                            .or_else(|| t.as_ref().map(encode::pg_type))
                            .unwrap_or(Type::TEXT)
                    })
                    .collect();
                Ok(Some(Prepared {
                    sql: query.to_owned(),
                    parameter_types,
                    inferred,
                    schema,
                }))
            }
            Err(e) => {
                let answer = Answer::run_failed(&e);
                let response = self.record(subject, client, query, &products, started, answer);
                Err(error_info(response))
            }
        }
    }

    /// Runs `query` with bound `parameters` (or the reason they cannot be bound), result
    /// column `i` in `format(i)`; every outcome is audited and measured.
    pub async fn execute_bound(
        &self,
        subject: &Subject,
        client: &str,
        query: &str,
        parameters: Result<Vec<ScalarValue>, parameters::ParameterError>,
        format: &(dyn Fn(usize) -> FieldFormat + Sync),
    ) -> Response {
        let started = Instant::now();
        let mut products: Vec<String> = Vec::new();
        let answer = match parameters {
            Ok(values) => {
                self.answer(subject, query, values, format, &mut products)
                    .await
            }
            Err(e) => Answer::failed("22P02", "error", &e),
        };
        self.record(subject, client, query, &products, started, answer)
    }

    /// Audits and measures one statement's `answer`, and hands back its response.
    fn record(
        &self,
        subject: &Subject,
        client: &str,
        query: &str,
        products: &[String],
        started: Instant,
        answer: Answer,
    ) -> Response {
        let who = subject.display();
        let elapsed = started.elapsed();
        for product in products {
            self.metrics
                .duration
                .with_label_values(&[product])
                .observe(elapsed.as_secs_f64());
            self.metrics
                .statements
                .with_label_values(&[product, answer.outcome])
                .inc();
        }
        if products.is_empty() {
            self.metrics
                .statements
                .with_label_values(&["", answer.outcome])
                .inc();
        }
        audit::log(&AuditRecord {
            subject: &who,
            client,
            statement: audit::clip(query),
            products: products.iter().map(String::as_str).collect(),
            columns: &answer.columns,
            rows: answer.rows,
            duration_ms: elapsed.as_secs_f64() * 1000.0,
            outcome: answer.outcome,
            error: answer.error.as_deref(),
        });
        answer.response
    }

    /// Checks and authorizes `query` and opens the subject's session; `products` gets the
    /// products it reads (or the one it was denied).
    async fn admit(
        &self,
        subject: &Subject,
        query: &str,
        products: &mut Vec<String>,
    ) -> Result<Admitted, Answer> {
        let (statement, tables) = match check(query) {
            Ok(Checked::Empty) => return Ok(Admitted::Empty),
            Ok(Checked::Set) => return Ok(Admitted::Set),
            Ok(Checked::Query { statement, tables }) => (statement, tables),
            Err(e @ StatementError::NotReadOnly(_)) => {
                return Err(Answer::failed("25006", "refused", &e))
            }
            Err(e) => return Err(Answer::failed("42601", "error", &e)),
        };
        let grants = self.grants();
        let visible = grants.visible_to(subject);
        let used = match authorize(subject, &grants, &visible, &tables) {
            Ok(used) => used,
            Err(denied) => {
                let Denied::NoGrant { product, .. } = &denied;
                products.push(product.clone());
                return Err(Answer::failed("42501", "denied", &denied));
            }
        };
        products.extend(used.iter().map(|t| t.product.clone()));
        let context = match self.engine.session(&subject.user_key(), &visible).await {
            Ok(context) => context,
            Err(e) => return Err(Answer::failed("58030", "error", &e)),
        };
        Ok(Admitted::Query { context, statement })
    }

    /// Checks, authorizes and runs `query` with `parameters`; `products` gets the products
    /// it reads (or the one it was denied).
    async fn answer(
        &self,
        subject: &Subject,
        query: &str,
        parameters: Vec<ScalarValue>,
        format: &(dyn Fn(usize) -> FieldFormat + Sync),
        products: &mut Vec<String>,
    ) -> Answer {
        let (context, statement) = match self.admit(subject, query, products).await {
            Ok(Admitted::Empty) => return Answer::done(Response::EmptyQuery),
            Ok(Admitted::Set) => return Answer::done(Response::Execution(Tag::new("SET"))),
            Ok(Admitted::Query { context, statement }) => (context, statement),
            Err(answer) => return answer,
        };
        let result = match self.engine.run(&context, *statement, parameters).await {
            Ok(result) => result,
            Err(e) => return Answer::run_failed(&e),
        };
        let fields = encode::fields_in(&result.schema, format);
        let mut rows = Vec::with_capacity(result.rows);
        for batch in &result.batches {
            match encode::rows(&fields, batch) {
                Ok(encoded) => rows.extend(encoded.into_iter().map(Ok)),
                Err(e) => return Answer::failed("XX000", "error", &e),
            }
        }
        // pgwire completes the tag with the row count: `SELECT <n>`.
        Answer {
            response: Response::Query(QueryResponse::new(fields, stream::iter(rows))),
            outcome: "ok",
            rows: result.rows,
            columns: result.columns_read,
            error: None,
        }
    }
}

/// What a statement got, and what the audit log and metrics say of it.
struct Answer {
    response: Response,
    /// `ok`, `denied`, `refused`, `timeout`, `row-limit` or `error`.
    outcome: &'static str,
    rows: usize,
    columns: BTreeMap<String, Vec<String>>,
    error: Option<String>,
}

impl Answer {
    fn done(response: Response) -> Answer {
        Answer {
            response,
            outcome: "ok",
            rows: 0,
            columns: BTreeMap::new(),
            error: None,
        }
    }

    /// A statement DataFusion could not plan or run, by SQLSTATE.
    fn run_failed(e: &RunError) -> Answer {
        let (code, outcome) = match e {
            RunError::Timeout(_) => ("57014", "timeout"),
            RunError::RowLimit(_) => ("54000", "row-limit"),
            RunError::Plan(p) if p.to_string().contains("not found") => ("42P01", "error"),
            RunError::Execute(x) if x.to_string().contains("Resources exhausted") => {
                ("53200", "error")
            }
            _ => ("XX000", "error"),
        };
        Answer::failed(code, outcome, e)
    }

    fn failed(code: &str, outcome: &'static str, cause: &dyn std::fmt::Display) -> Answer {
        let message = cause.to_string();
        Answer {
            response: error(code, message.clone()),
            outcome,
            rows: 0,
            columns: BTreeMap::new(),
            error: Some(message),
        }
    }
}
