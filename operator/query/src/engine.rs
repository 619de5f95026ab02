//! Running one checked, authorized statement in DataFusion: a session per subject holding
//! only the subject's granted tables (and columns), a shared memory pool, a statement
//! timeout and a row limit.

use crate::authorize::{CATALOG, DEFAULT_SCHEMA};
use crate::grants::VisibleTable;
use crate::table::{GrantedTable, TableCache};
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::catalog::{
    CatalogProvider, MemoryCatalogProvider, MemorySchemaProvider, SchemaProvider,
};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::ScalarValue;
use datafusion::error::DataFusionError;
use datafusion::execution::context::SQLOptions;
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::execute_stream;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion::sql::parser::Statement;
use futures::StreamExt;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use thiserror::Error;

/// Bounds on one statement.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Longest a statement may run (planning, scanning and collecting its result).
    pub statement_timeout: Duration,
    /// Most rows a result may have.
    pub max_rows: usize,
    /// Memory all running statements share (sorts, joins and aggregates fail beyond it).
    pub memory_bytes: usize,
}

/// A statement that did not produce a result.
#[derive(Debug, Error)]
pub enum RunError {
    /// A granted table could not be opened (catalog or object store).
    #[error("cannot open table {table}: {source}")]
    Open {
        /// `schema.table`.
        table: String,
        /// Cause (boxed: Iceberg's errors are large).
        #[source]
        source: Box<iceberg::Error>,
    },
    /// DataFusion could not plan it (unknown table or column, type errors...).
    #[error("{0}")]
    Plan(#[source] DataFusionError),
    /// It failed while running (object store, memory limit...).
    #[error("{0}")]
    Execute(#[source] DataFusionError),
    /// It ran past the statement timeout and was cancelled.
    #[error("canceling statement due to statement timeout ({0:?}); narrow the query with filters on the partition column")]
    Timeout(Duration),
    /// Its result passed the row limit and it was cancelled.
    #[error("canceling statement: the result has more than {0} rows (the port's row limit); add a LIMIT, a filter or an aggregate")]
    RowLimit(usize),
    /// The memory pool could not be built.
    #[error("invalid query limits: {0}")]
    Limits(#[source] DataFusionError),
}

/// What a statement returned, and what it read (for the audit log).
#[derive(Debug)]
pub struct Outcome {
    /// Result schema.
    pub schema: SchemaRef,
    /// Result rows.
    pub batches: Vec<RecordBatch>,
    /// Number of result rows.
    pub rows: usize,
    /// Columns read per table (`schema.table` → columns), after projection pushdown.
    pub columns_read: BTreeMap<String, Vec<String>>,
}

/// Sessions and limits of the query port.
pub struct Engine {
    cache: Arc<TableCache>,
    runtime: Arc<RuntimeEnv>,
    limits: Limits,
    /// One session per subject, rebuilt when what the subject sees changes.
    sessions: Mutex<HashMap<String, (Vec<VisibleTable>, SessionContext)>>,
}

impl Engine {
    /// An engine reading tables through `cache`.
    pub fn new(cache: Arc<TableCache>, limits: Limits) -> Result<Engine, RunError> {
        let runtime = RuntimeEnvBuilder::new()
            .with_memory_limit(limits.memory_bytes, 1.0)
            .build_arc()
            .map_err(RunError::Limits)?;
        Ok(Engine {
            cache,
            runtime,
            limits,
            sessions: Mutex::new(HashMap::new()),
        })
    }

    /// The session of `subject` seeing `visible`.
    pub async fn session(
        &self,
        subject: &str,
        visible: &[VisibleTable],
    ) -> Result<SessionContext, RunError> {
        if let Some((seen, context)) = self.lock().get(subject) {
            if seen == visible {
                return Ok(context.clone());
            }
        }
        let context = self.build(visible).await?;
        self.lock()
            .insert(subject.to_string(), (visible.to_vec(), context.clone()));
        Ok(context)
    }

    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<String, (Vec<VisibleTable>, SessionContext)>> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn build(&self, visible: &[VisibleTable]) -> Result<SessionContext, RunError> {
        let config = SessionConfig::new()
            .with_information_schema(true)
            .with_create_default_catalog_and_schema(false)
            .with_default_catalog_and_schema(CATALOG, DEFAULT_SCHEMA);
        let context = SessionContext::new_with_config_rt(config, self.runtime.clone());
        let catalog = MemoryCatalogProvider::new();
        let mut schemas: BTreeMap<&str, Arc<MemorySchemaProvider>> = BTreeMap::new();
        schemas.insert(DEFAULT_SCHEMA, Arc::new(MemorySchemaProvider::new()));
        for table in visible {
            let provider = GrantedTable::new(
                self.cache.clone(),
                &table.schema,
                &table.table,
                &table.columns,
            )
            .await
            .map_err(|source| RunError::Open {
                table: table.qualified(),
                source: Box::new(source),
            })?;
            let schema = schemas
                .entry(table.schema.as_str())
                .or_insert_with(|| Arc::new(MemorySchemaProvider::new()));
            schema
                .register_table(table.table.clone(), Arc::new(provider))
                .map_err(RunError::Plan)?;
        }
        for (name, schema) in schemas {
            catalog
                .register_schema(name, schema)
                .map_err(RunError::Plan)?;
        }
        context.register_catalog(CATALOG, Arc::new(catalog));
        Ok(context)
    }

    /// Plans and runs `statement` in `context` with its `$n` placeholders bound to
    /// `parameters` (extended protocol; empty for a simple query), within the limits.
    pub async fn run(
        &self,
        context: &SessionContext,
        statement: Statement,
        parameters: Vec<ScalarValue>,
    ) -> Result<Outcome, RunError> {
        let timeout = self.limits.statement_timeout;
        match tokio::time::timeout(timeout, self.run_unbounded(context, statement, parameters))
            .await
        {
            Ok(result) => result,
            Err(_) => Err(RunError::Timeout(timeout)),
        }
    }

    /// The types of `statement`'s placeholders (`$1` first; `None` where the plan does
    /// not say) and its result schema, without running it.
    pub async fn describe(
        &self,
        context: &SessionContext,
        statement: Statement,
    ) -> Result<(Vec<Option<DataType>>, SchemaRef), RunError> {
        let plan = plan_query(context, statement).await?;
        let types = plan.get_parameter_types().map_err(RunError::Plan)?;
        let mut numbered: Vec<(usize, Option<DataType>)> = types
            .into_iter()
            .filter_map(|(name, t)| Some((name.strip_prefix('$')?.parse().ok()?, t)))
            .collect();
        numbered.sort_by_key(|(n, _)| *n);
        let count = numbered.last().map_or(0, |(n, _)| *n);
        let mut out = vec![None; count];
        for (n, t) in numbered {
            if n >= 1 {
                out[n - 1] = t;
            }
        }
        Ok((out, Arc::new(plan.schema().as_arrow().clone())))
    }

    async fn run_unbounded(
        &self,
        context: &SessionContext,
        statement: Statement,
        parameters: Vec<ScalarValue>,
    ) -> Result<Outcome, RunError> {
        let state = context.state();
        let mut plan = plan_query(context, statement).await?;
        if !parameters.is_empty() {
            plan = plan.with_param_values(parameters).map_err(RunError::Plan)?;
        }
        let optimized = state.optimize(&plan).map_err(RunError::Plan)?;
        let columns_read = columns_read(&optimized);
        let physical = state
            .query_planner()
            .create_physical_plan(&optimized, &state)
            .await
            .map_err(RunError::Plan)?;
        let schema = physical.schema();
        let mut stream = execute_stream(physical, context.task_ctx()).map_err(RunError::Execute)?;
        let mut batches = Vec::new();
        let mut rows = 0usize;
        while let Some(batch) = stream.next().await {
            let batch = batch.map_err(RunError::Execute)?;
            rows += batch.num_rows();
            if rows > self.limits.max_rows {
                return Err(RunError::RowLimit(self.limits.max_rows));
            }
            batches.push(batch);
        }
        Ok(Outcome {
            schema,
            batches,
            rows,
            columns_read,
        })
    }
}

/// The logical plan of a query; anything else is refused (a second line behind the
/// statement check).
async fn plan_query(
    context: &SessionContext,
    statement: Statement,
) -> Result<LogicalPlan, RunError> {
    let plan = context
        .state()
        .statement_to_plan(statement)
        .await
        .map_err(RunError::Plan)?;
    SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false)
        .verify_plan(&plan)
        .map_err(RunError::Plan)?;
    Ok(plan)
}

/// The columns each table scan of `plan` reads.
fn columns_read(plan: &LogicalPlan) -> BTreeMap<String, Vec<String>> {
    let mut read: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let _ = plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node {
            let name = match &scan.table_name {
                datafusion::sql::TableReference::Full { schema, table, .. }
                | datafusion::sql::TableReference::Partial { schema, table } => {
                    format!("{schema}.{table}")
                }
                datafusion::sql::TableReference::Bare { table } => table.to_string(),
            };
            let entry = read.entry(name).or_default();
            for field in scan.projected_schema.fields() {
                if !entry.contains(field.name()) {
                    entry.push(field.name().clone());
                }
            }
        }
        Ok(TreeNodeRecursion::Continue)
    });
    read
}
