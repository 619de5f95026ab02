//! A product's Iceberg table as one subject sees it: only its granted columns, read from
//! the table's current snapshot (metadata cached for `refresh`, so a point lookup does not
//! pay a catalog round trip each time).

use async_trait::async_trait;
use datafusion::arrow::datatypes::{Schema, SchemaRef};
use datafusion::catalog::Session;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::{DataFusionError, Result as DFResult};
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use iceberg::table::Table;
use iceberg::{Catalog, NamespaceIdent, TableIdent};
use iceberg_datafusion::IcebergStaticTableProvider;
use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Loaded tables, shared by every subject's session.
pub struct TableCache {
    catalog: Arc<dyn Catalog>,
    refresh: Duration,
    tables: Mutex<HashMap<(String, String), (Instant, Table)>>,
}

impl std::fmt::Debug for TableCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TableCache")
            .field("refresh", &self.refresh)
            .finish()
    }
}

impl TableCache {
    /// Tables of `catalog`, each reloaded when older than `refresh`.
    pub fn new(catalog: Arc<dyn Catalog>, refresh: Duration) -> TableCache {
        TableCache {
            catalog,
            refresh,
            tables: Mutex::new(HashMap::new()),
        }
    }

    /// The table `schema.table`, from the cache if fresh enough.
    pub async fn get(&self, schema: &str, table: &str) -> Result<Table, iceberg::Error> {
        let key = (schema.to_string(), table.to_string());
        if let Some((loaded, cached)) = self.lock().get(&key) {
            if loaded.elapsed() < self.refresh {
                return Ok(cached.clone());
            }
        }
        let ident = TableIdent::new(NamespaceIdent::new(key.0.clone()), key.1.clone());
        let fresh = self.catalog.load_table(&ident).await?;
        self.lock().insert(key, (Instant::now(), fresh.clone()));
        Ok(fresh)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), (Instant, Table)>> {
        // A panic while holding the lock leaves a map that is still valid.
        self.tables.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// One product table, reduced to the columns a grant shows.
#[derive(Debug)]
pub struct GrantedTable {
    cache: Arc<TableCache>,
    schema_name: String,
    table_name: String,
    /// The visible columns, in the table's order.
    schema: SchemaRef,
}

impl GrantedTable {
    /// The table with `columns` only (columns the table does not have are left out).
    pub async fn new(
        cache: Arc<TableCache>,
        schema_name: &str,
        table_name: &str,
        columns: &[String],
    ) -> Result<GrantedTable, iceberg::Error> {
        let table = cache.get(schema_name, table_name).await?;
        let full = iceberg::arrow::schema_to_arrow_schema(table.metadata().current_schema())?;
        let visible: Vec<_> = full
            .fields()
            .iter()
            .filter(|f| columns.iter().any(|c| c == f.name()))
            .cloned()
            .collect();
        Ok(GrantedTable {
            cache,
            schema_name: schema_name.to_string(),
            table_name: table_name.to_string(),
            schema: Arc::new(Schema::new_with_metadata(visible, full.metadata().clone())),
        })
    }
}

#[async_trait]
impl TableProvider for GrantedTable {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DFResult<Arc<dyn ExecutionPlan>> {
        let table = self
            .cache
            .get(&self.schema_name, &self.table_name)
            .await
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        let provider = IcebergStaticTableProvider::try_new_from_table(table)
            .await
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        let full = provider.schema();
        // The visible columns asked for, as indices into the whole table.
        let wanted: Vec<usize> = match projection {
            Some(indices) => indices.clone(),
            None => (0..self.schema.fields().len()).collect(),
        };
        let mapped = wanted
            .iter()
            .map(|&i| {
                let name = self.schema.field(i).name();
                full.index_of(name).map_err(|_| {
                    DataFusionError::Plan(format!(
                        "column {name} is no longer in table {}.{}",
                        self.schema_name, self.table_name
                    ))
                })
            })
            .collect::<DFResult<Vec<usize>>>()?;
        provider.scan(state, Some(&mapped), filters, limit).await
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DFResult<Vec<TableProviderFilterPushDown>> {
        // Iceberg prunes files and row groups with what it can; DataFusion filters the rest.
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }
}
