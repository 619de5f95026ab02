//! The products' Apache Iceberg tables in the platform's catalog: connecting (the SQL
//! catalog on PostgreSQL, or a REST catalog), creating and evolving a product's table, and
//! committing data files exactly once (see `meshplane_ingest::commit`).

use iceberg::spec::{
    DataFile, NestedField, PrimitiveType, Schema, Transform, Type, UnboundPartitionSpec,
};
use iceberg::table::Table;
use iceberg::transaction::{ApplyTransactionAction, Transaction};
use iceberg::{
    Catalog, CatalogBuilder, Error as IcebergError, ErrorKind, Namespace, NamespaceIdent,
    TableCommit, TableCreation, TableIdent,
};
use iceberg_catalog_rest::RestCatalogBuilder;
use iceberg_catalog_sql::{SqlBindStyle, SqlCatalogBuilder};
use iceberg_storage_opendal::OpenDalStorageFactory;
use meshplane_api::ingest_plan::{IcebergTablePlan, PlannedField};
use meshplane_api::{FieldType, Granularity, MaskingStrategy};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use thiserror::Error;

/// Prefix of the table properties holding each source partition's next offset.
pub const OFFSET_PROPERTY_PREFIX: &str = "meshplane.kafka.next-offset.";

/// Snapshot summary property with the offsets a commit set, as JSON `{"<topic>/<p>": next}`.
pub const SUMMARY_OFFSETS: &str = "meshplane.kafka.offsets";

/// An Iceberg operation failed.
#[derive(Debug, Error)]
pub enum TableCatalogError {
    /// The catalog could not be reached or configured.
    #[error("cannot connect to the Iceberg catalog {uri}: {source}")]
    Connect {
        /// Catalog URI without credentials.
        uri: String,
        /// Cause (boxed: Iceberg's errors are large).
        source: Box<IcebergError>,
    },
    /// The catalog settings are incomplete or contradictory.
    #[error("invalid Iceberg catalog settings: {0}")]
    Settings(String),
    /// Creating the namespace failed.
    #[error("cannot create the Iceberg namespace {namespace}: {source}")]
    Namespace {
        /// Namespace.
        namespace: String,
        /// Cause (boxed: Iceberg's errors are large).
        source: Box<IcebergError>,
    },
    /// Creating, loading or evolving the table failed.
    #[error("Iceberg table {table}: cannot {action}: {source}")]
    Table {
        /// `namespace.name`.
        table: String,
        /// What was attempted.
        action: &'static str,
        /// Cause (boxed: Iceberg's errors are large).
        source: Box<IcebergError>,
    },
    /// The table belongs to another product.
    #[error("Iceberg table {table} belongs to product {owner}, not {product}")]
    Owned {
        /// `namespace.name`.
        table: String,
        /// Owning product.
        owner: String,
        /// This product.
        product: String,
    },
    /// The table's schema cannot take the product's schema without rewriting data.
    #[error("Iceberg table {table}: field {field}: {reason}")]
    Incompatible {
        /// `namespace.name`.
        table: String,
        /// Field.
        field: String,
        /// Why.
        reason: String,
    },
    /// The commit failed (and may be retried).
    #[error("Iceberg table {table}: commit failed: {source}")]
    Commit {
        /// `namespace.name`.
        table: String,
        /// Cause (boxed: Iceberg's errors are large).
        source: Box<IcebergError>,
    },
}

/// Which kind of catalog the platform uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CatalogKind {
    /// Iceberg's JDBC/SQL catalog tables in PostgreSQL (shared with Trino, Spark, pyiceberg).
    Sql,
    /// An Iceberg REST catalog (Polaris, Lakekeeper, Nessie, Glue, S3 Tables).
    Rest,
}

/// How to reach the catalog and the object store under it.
#[derive(Debug, Clone)]
pub struct CatalogSettings {
    /// Kind of catalog.
    pub kind: CatalogKind,
    /// Catalog name (the `catalog_name` column of the SQL catalog; engines must use the same).
    pub name: String,
    /// `postgresql://user:password@host:5432/db` or the REST catalog's URL.
    pub uri: String,
    /// Warehouse: root location for the SQL catalog, warehouse name for REST.
    pub warehouse: String,
    /// REST only: OAuth2 client credential `id:secret`.
    pub credential: Option<String>,
    /// REST only: bearer token.
    pub token: Option<String>,
    /// Object store of the table files (metadata and manifests).
    pub s3: crate::s3::S3Settings,
    /// Server-side encryption requested on metadata files (`AES256` or `aws:kms`).
    pub encryption: Option<String>,
    /// KMS key for `aws:kms`.
    pub kms_key_id: Option<String>,
}

impl CatalogSettings {
    /// The URI with any password replaced, for messages.
    pub fn redacted_uri(&self) -> String {
        redact(&self.uri)
    }

    fn storage_props(&self) -> HashMap<String, String> {
        let mut props = HashMap::from([
            ("s3.region".to_string(), self.s3.region.clone()),
            (
                "s3.access-key-id".to_string(),
                self.s3.access_key_id.clone(),
            ),
            (
                "s3.secret-access-key".to_string(),
                self.s3.secret_access_key.clone(),
            ),
            ("s3.disable-ec2-metadata".to_string(), "true".to_string()),
        ]);
        if let Some(endpoint) = &self.s3.endpoint {
            props.insert("s3.endpoint".into(), endpoint.clone());
            // S3-compatible servers (SeaweedFS) serve buckets as paths.
            props.insert("s3.path-style-access".into(), "true".into());
        }
        match self.encryption.as_deref() {
            Some("AES256") => {
                props.insert("s3.sse.type".into(), "s3".into());
            }
            Some("aws:kms") => {
                props.insert("s3.sse.type".into(), "kms".into());
                if let Some(key) = &self.kms_key_id {
                    props.insert("s3.sse.key".into(), key.clone());
                }
            }
            _ => {}
        }
        props
    }
}

fn redact(uri: &str) -> String {
    match (uri.find("://"), uri.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &uri[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{}{user}:***{}", &uri[..scheme + 3], &uri[at..])
        }
        _ => uri.to_string(),
    }
}

/// Connects to the catalog.
pub async fn connect(settings: &CatalogSettings) -> Result<Arc<dyn Catalog>, TableCatalogError> {
    let connect = |source| TableCatalogError::Connect {
        uri: settings.redacted_uri(),
        source: Box::new(source),
    };
    let factory = Arc::new(OpenDalStorageFactory::S3 {
        customized_credential_load: None,
    });
    let mut props = settings.storage_props();
    match settings.kind {
        CatalogKind::Sql => {
            if !settings.uri.starts_with("postgres") {
                return Err(TableCatalogError::Settings(format!(
                    "the SQL catalog needs a postgresql:// URI, got {}",
                    settings.redacted_uri()
                )));
            }
            props.insert("pool.max-connections".into(), "4".into());
            let catalog = SqlCatalogBuilder::default()
                .uri(&settings.uri)
                .warehouse_location(&settings.warehouse)
                .sql_bind_style(SqlBindStyle::DollarNumeric)
                .props(props)
                .with_storage_factory(factory)
                .load(&settings.name, HashMap::new())
                .await
                .map_err(connect)?;
            Ok(Arc::new(catalog))
        }
        CatalogKind::Rest => {
            props.insert("uri".into(), settings.uri.clone());
            if !settings.warehouse.is_empty() {
                props.insert("warehouse".into(), settings.warehouse.clone());
            }
            if let Some(credential) = &settings.credential {
                props.insert("credential".into(), credential.clone());
            }
            if let Some(token) = &settings.token {
                props.insert("token".into(), token.clone());
            }
            let catalog = RestCatalogBuilder::default()
                .with_storage_factory(factory)
                .load(&settings.name, props)
                .await
                .map_err(connect)?;
            Ok(Arc::new(catalog))
        }
    }
}

/// The Iceberg type a planned field is stored as (masked fields are text).
pub fn iceberg_type(field: &PlannedField) -> PrimitiveType {
    if field.masking != MaskingStrategy::None {
        return PrimitiveType::String;
    }
    match field.field_type {
        // Decimals keep their exact text: the schema declares no precision or scale.
        FieldType::String | FieldType::Decimal => PrimitiveType::String,
        FieldType::Int => PrimitiveType::Int,
        FieldType::Long => PrimitiveType::Long,
        FieldType::Double => PrimitiveType::Double,
        FieldType::Boolean => PrimitiveType::Boolean,
        FieldType::Timestamp => PrimitiveType::Timestamptz,
        FieldType::Date => PrimitiveType::Date,
    }
}

/// The table schema for new tables: field ids 1..n in the product's order.
pub fn schema(fields: &[PlannedField]) -> Result<Schema, IcebergError> {
    let nested = fields.iter().zip(1..).map(|(f, id)| {
        let t = Type::Primitive(iceberg_type(f));
        Arc::new(if f.nullable {
            NestedField::optional(id, &f.name, t)
        } else {
            NestedField::required(id, &f.name, t)
        })
    });
    Schema::builder().with_fields(nested).build()
}

/// The partition field's name in the table (`<field>_hour` or `<field>_day`).
pub fn partition_name(field: &str, granularity: Granularity) -> String {
    match granularity {
        Granularity::Hour => format!("{field}_hour"),
        Granularity::Day => format!("{field}_day"),
    }
}

fn partition_spec(
    schema: &Schema,
    partition_field: Option<&str>,
    granularity: Granularity,
) -> Result<UnboundPartitionSpec, IcebergError> {
    let mut builder = UnboundPartitionSpec::builder();
    if let Some(name) = partition_field {
        let source = schema.field_by_name(name).ok_or_else(|| {
            IcebergError::new(
                ErrorKind::DataInvalid,
                format!("partition field {name} is not in the schema"),
            )
        })?;
        let transform = match granularity {
            Granularity::Hour => Transform::Hour,
            Granularity::Day => Transform::Day,
        };
        builder =
            builder.add_partition_field(source.id, partition_name(name, granularity), transform)?;
    }
    Ok(builder.build())
}

/// A product's table, as its status shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableState {
    /// `namespace.name`.
    pub identifier: String,
    /// Current metadata file.
    pub metadata_location: Option<String>,
    /// Current snapshot, if any commit happened.
    pub snapshot_id: Option<i64>,
    /// Columns added by this call (schema evolution).
    pub added_columns: Vec<String>,
    /// Whether this call created the table.
    pub created: bool,
}

/// What defines a product's table.
#[derive(Debug, Clone, Copy)]
pub struct TableDefinition<'a> {
    /// `namespace/name` of the product.
    pub product: &'a str,
    /// Identifier, location, properties.
    pub table: &'a IcebergTablePlan,
    /// The product's fields.
    pub fields: &'a [PlannedField],
    /// Partition field.
    pub partition_field: Option<&'a str>,
    /// Partition granularity.
    pub granularity: Granularity,
}

fn ident(plan: &IcebergTablePlan) -> TableIdent {
    TableIdent::new(
        NamespaceIdent::new(plan.namespace.clone()),
        plan.name.clone(),
    )
}

fn display(plan: &IcebergTablePlan) -> String {
    format!("{}.{}", plan.namespace, plan.name)
}

/// Creates the namespace and table if missing; adds the product's new fields as optional
/// columns (no data rewritten); sets the planned properties. A field removed from the
/// product stays in the table (admission refuses removals).
pub async fn ensure_table(
    catalog: &dyn Catalog,
    definition: TableDefinition<'_>,
) -> Result<TableState, TableCatalogError> {
    let plan = definition.table;
    let name = display(plan);
    let table_error = |action| {
        let name = name.clone();
        move |source| TableCatalogError::Table {
            table: name,
            action,
            source: Box::new(source),
        }
    };
    let namespace = NamespaceIdent::new(plan.namespace.clone());
    let exists = catalog
        .namespace_exists(&namespace)
        .await
        .map_err(|source| TableCatalogError::Namespace {
            namespace: plan.namespace.clone(),
            source: Box::new(source),
        })?;
    if !exists {
        match catalog.create_namespace(&namespace, HashMap::new()).await {
            Ok(Namespace { .. }) => {}
            // Created concurrently by another product of the domain.
            Err(e) if e.kind() == ErrorKind::NamespaceAlreadyExists => {}
            Err(source) => {
                return Err(TableCatalogError::Namespace {
                    namespace: plan.namespace.clone(),
                    source: Box::new(source),
                })
            }
        }
    }
    let id = ident(plan);
    if !catalog
        .table_exists(&id)
        .await
        .map_err(table_error("check"))?
    {
        let schema = schema(definition.fields).map_err(table_error("build the schema"))?;
        let spec = partition_spec(&schema, definition.partition_field, definition.granularity)
            .map_err(table_error("build the partition spec"))?;
        let creation = TableCreation::builder()
            .name(plan.name.clone())
            .location(plan.location.clone())
            .schema(schema)
            .partition_spec(spec)
            .properties(
                plan.properties
                    .iter()
                    .filter(|(k, _)| k.as_str() != "format-version")
                    .map(|(k, v)| (k.clone(), v.clone())),
            )
            .build();
        match catalog.create_table(&namespace, creation).await {
            Ok(table) => return Ok(state(&table, plan, Vec::new(), true)),
            Err(e) if e.kind() == ErrorKind::TableAlreadyExists => {}
            Err(source) => return Err(table_error("create")(source)),
        }
    }
    let table = catalog.load_table(&id).await.map_err(table_error("load"))?;
    let owner = table
        .metadata()
        .properties()
        .get(meshplane_planner::iceberg::OWNER_PROPERTY);
    if let Some(owner) = owner.filter(|o| o.as_str() != definition.product) {
        return Err(TableCatalogError::Owned {
            table: name,
            owner: owner.clone(),
            product: definition.product.to_string(),
        });
    }
    let current = table.metadata().current_schema().clone();
    let mut added = Vec::new();
    for field in definition.fields {
        let wanted = iceberg_type(field);
        match current.field_by_name(&field.name) {
            Some(existing) => {
                if *existing.field_type != Type::Primitive(wanted.clone()) {
                    return Err(TableCatalogError::Incompatible {
                        table: name,
                        field: field.name.clone(),
                        reason: format!(
                            "the table stores it as {}, the product declares {wanted}; retyping a column is not supported",
                            existing.field_type
                        ),
                    });
                }
            }
            None => added.push(field),
        }
    }
    let mut tx = Transaction::new(&table);
    if !added.is_empty() {
        let mut update = tx.update_schema();
        for field in &added {
            update = update.add_column(iceberg::transaction::AddColumn::optional(
                &field.name,
                Type::Primitive(iceberg_type(field)),
            ));
        }
        tx = update.apply(tx).map_err(table_error("add columns"))?;
    }
    let stale: Vec<(&String, &String)> = plan
        .properties
        .iter()
        .filter(|(k, v)| {
            k.as_str() != "format-version" && table.metadata().properties().get(*k) != Some(*v)
        })
        .collect();
    if !stale.is_empty() {
        let mut update = tx.update_table_properties();
        for (k, v) in stale {
            update = update.set(k.clone(), v.clone());
        }
        tx = update.apply(tx).map_err(table_error("set properties"))?;
    }
    let table = tx.commit(catalog).await.map_err(table_error("evolve"))?;
    Ok(state(
        &table,
        plan,
        added.iter().map(|f| f.name.clone()).collect(),
        false,
    ))
}

fn state(
    table: &Table,
    plan: &IcebergTablePlan,
    added_columns: Vec<String>,
    created: bool,
) -> TableState {
    TableState {
        identifier: display(plan),
        metadata_location: table.metadata_location().map(str::to_string),
        snapshot_id: table.metadata().current_snapshot_id(),
        added_columns,
        created,
    }
}

/// Loads the table (for the worker: schema, field ids and committed offsets).
pub async fn load(
    catalog: &dyn Catalog,
    plan: &IcebergTablePlan,
) -> Result<Table, TableCatalogError> {
    catalog
        .load_table(&ident(plan))
        .await
        .map_err(|source| TableCatalogError::Table {
            table: display(plan),
            action: "load",
            source: Box::new(source),
        })
}

/// Property holding the next offset of `topic` partition `partition`.
pub fn offset_property(topic: &str, partition: i32) -> String {
    format!("{OFFSET_PROPERTY_PREFIX}{topic}.{partition}")
}

/// The next offsets the table holds for `topic`, by source partition.
pub fn committed_offsets(table: &Table, topic: &str) -> BTreeMap<i32, i64> {
    let prefix = format!("{OFFSET_PROPERTY_PREFIX}{topic}.");
    table
        .metadata()
        .properties()
        .iter()
        .filter_map(|(k, v)| {
            let partition = k.strip_prefix(&prefix)?.parse().ok()?;
            Some((partition, v.parse().ok()?))
        })
        .collect()
}

/// One commit: data files of several source partitions, each with the offset the table
/// must hold now (the fence) and the one it holds after.
#[derive(Debug, Clone)]
pub struct Append {
    /// Source topic.
    pub topic: String,
    /// Data files to add.
    pub files: Vec<DataFile>,
    /// Per source partition: (expected next offset now, next offset after).
    pub offsets: BTreeMap<i32, (Option<i64>, i64)>,
}

/// How a commit ended.
#[derive(Debug)]
pub enum AppendOutcome {
    /// Committed; the new snapshot.
    Committed {
        /// Snapshot id.
        snapshot_id: Option<i64>,
        /// The table's new metadata file.
        metadata_location: Option<String>,
    },
    /// The table's offsets are no longer what the commit expected (fenced, or an earlier
    /// attempt went through): re-read them and decide again.
    Stale {
        /// The table's offsets for the topic now.
        offsets: BTreeMap<i32, i64>,
    },
}

/// Refused inside a commit attempt when the fence does not hold.
const FENCE_MESSAGE: &str = "meshplane fence: the table's offsets changed";

/// A catalog that checks the commit's fence on every table load of a commit attempt: the
/// transaction re-applies its actions on the table it loads and the catalog refuses the
/// update if the table changed after that load, so the offsets are checked on exactly the
/// table the commit is made against. A conflict with another writer (maintenance,
/// another product version) is retried; a changed offset stops the attempt.
struct FencedCatalog<'a> {
    inner: &'a dyn Catalog,
    topic: &'a str,
    expected: BTreeMap<i32, Option<i64>>,
    /// Offsets found when the fence did not hold.
    found: Mutex<Option<BTreeMap<i32, i64>>>,
}

impl std::fmt::Debug for FencedCatalog<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FencedCatalog")
            .field("topic", &self.topic)
            .finish()
    }
}

#[async_trait::async_trait]
impl Catalog for FencedCatalog<'_> {
    async fn list_namespaces(
        &self,
        parent: Option<&NamespaceIdent>,
    ) -> iceberg::Result<Vec<NamespaceIdent>> {
        self.inner.list_namespaces(parent).await
    }
    async fn create_namespace(
        &self,
        namespace: &NamespaceIdent,
        properties: HashMap<String, String>,
    ) -> iceberg::Result<Namespace> {
        self.inner.create_namespace(namespace, properties).await
    }
    async fn get_namespace(&self, namespace: &NamespaceIdent) -> iceberg::Result<Namespace> {
        self.inner.get_namespace(namespace).await
    }
    async fn namespace_exists(&self, namespace: &NamespaceIdent) -> iceberg::Result<bool> {
        self.inner.namespace_exists(namespace).await
    }
    async fn update_namespace(
        &self,
        namespace: &NamespaceIdent,
        properties: HashMap<String, String>,
    ) -> iceberg::Result<()> {
        self.inner.update_namespace(namespace, properties).await
    }
    async fn drop_namespace(&self, namespace: &NamespaceIdent) -> iceberg::Result<()> {
        self.inner.drop_namespace(namespace).await
    }
    async fn list_tables(&self, namespace: &NamespaceIdent) -> iceberg::Result<Vec<TableIdent>> {
        self.inner.list_tables(namespace).await
    }
    async fn create_table(
        &self,
        namespace: &NamespaceIdent,
        creation: TableCreation,
    ) -> iceberg::Result<Table> {
        self.inner.create_table(namespace, creation).await
    }
    async fn load_table(&self, table: &TableIdent) -> iceberg::Result<Table> {
        let loaded = self.inner.load_table(table).await?;
        let offsets = committed_offsets(&loaded, self.topic);
        let holds = self
            .expected
            .iter()
            .all(|(p, expected)| offsets.get(p).copied() == *expected);
        if holds {
            Ok(loaded)
        } else {
            *self.found.lock().unwrap_or_else(|e| e.into_inner()) = Some(offsets);
            Err(IcebergError::new(ErrorKind::DataInvalid, FENCE_MESSAGE).with_retryable(false))
        }
    }
    async fn drop_table(&self, table: &TableIdent) -> iceberg::Result<()> {
        self.inner.drop_table(table).await
    }
    async fn purge_table(&self, table: &TableIdent) -> iceberg::Result<()> {
        self.inner.purge_table(table).await
    }
    async fn table_exists(&self, table: &TableIdent) -> iceberg::Result<bool> {
        self.inner.table_exists(table).await
    }
    async fn rename_table(&self, src: &TableIdent, dest: &TableIdent) -> iceberg::Result<()> {
        self.inner.rename_table(src, dest).await
    }
    async fn register_table(
        &self,
        table: &TableIdent,
        metadata_location: String,
    ) -> iceberg::Result<Table> {
        self.inner.register_table(table, metadata_location).await
    }
    async fn update_table(&self, commit: TableCommit) -> iceberg::Result<Table> {
        self.inner.update_table(commit).await
    }
}

/// Appends the files and sets the offsets in one atomic commit, if the table still holds
/// the offsets the commit expects.
pub async fn append(
    catalog: &dyn Catalog,
    table: &Table,
    append: Append,
) -> Result<AppendOutcome, TableCatalogError> {
    let name = table.identifier().to_string();
    let commit_error = |source| TableCatalogError::Commit {
        table: name.clone(),
        source: Box::new(source),
    };
    let summary: BTreeMap<String, i64> = append
        .offsets
        .iter()
        .map(|(p, (_, next))| (format!("{}/{p}", append.topic), *next))
        .collect();
    let tx = Transaction::new(table);
    let action = tx
        .fast_append()
        .add_data_files(append.files)
        .set_snapshot_properties(HashMap::from([(
            SUMMARY_OFFSETS.to_string(),
            serde_json::to_string(&summary).unwrap_or_default(),
        )]));
    let tx = action.apply(tx).map_err(commit_error)?;
    let mut properties = tx.update_table_properties();
    for (partition, (_, next)) in &append.offsets {
        properties = properties.set(offset_property(&append.topic, *partition), next.to_string());
    }
    let tx = properties.apply(tx).map_err(commit_error)?;
    let fenced = FencedCatalog {
        inner: catalog,
        topic: &append.topic,
        expected: append
            .offsets
            .iter()
            .map(|(p, (expected, _))| (*p, *expected))
            .collect(),
        found: Mutex::new(None),
    };
    match tx.commit(&fenced).await {
        Ok(table) => Ok(AppendOutcome::Committed {
            snapshot_id: table.metadata().current_snapshot_id(),
            metadata_location: table.metadata_location().map(str::to_string),
        }),
        Err(e) => match fenced
            .found
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            Some(offsets) if e.message() == FENCE_MESSAGE => Ok(AppendOutcome::Stale { offsets }),
            _ => Err(commit_error(e)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact("postgresql://meshplane:s3cret@db:5432/catalog"),
            "postgresql://meshplane:***@db:5432/catalog"
        );
        assert_eq!(redact("https://rest.example/v1"), "https://rest.example/v1");
    }
}
