//! How the worker, the controller and `meshplane table` reach the Iceberg catalog of the
//! products' tables (flags or environment; not the product catalog of `--catalog-addr`).

use clap::{Args, ValueEnum};
use meshplane_effects::iceberg::{CatalogKind, CatalogSettings};
use meshplane_effects::s3::S3Settings;

/// The kind of Iceberg catalog.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum CatalogType {
    /// Iceberg's SQL (JDBC) catalog tables in PostgreSQL.
    Sql,
    /// An Iceberg REST catalog.
    Rest,
}

/// Arguments naming the Iceberg catalog.
#[derive(Args, Debug, Clone)]
pub struct IcebergArgs {
    /// Kind of Iceberg catalog.
    #[arg(
        long = "iceberg-type",
        env = "MESHPLANE_ICEBERG_TYPE",
        value_enum,
        default_value = "sql"
    )]
    kind: CatalogType,
    /// Catalog URI: `postgresql://user:password@host:5432/db` (sql) or the REST URL.
    #[arg(
        long = "iceberg-uri",
        env = "MESHPLANE_ICEBERG_URI",
        hide_env_values = true
    )]
    uri: Option<String>,
    /// Catalog name engines use for it (the SQL catalog's `catalog_name`).
    #[arg(
        long = "iceberg-name",
        env = "MESHPLANE_ICEBERG_NAME",
        default_value = "meshplane"
    )]
    name: String,
    /// Warehouse: a root location (sql) or the REST catalog's warehouse.
    #[arg(
        long = "iceberg-warehouse",
        env = "MESHPLANE_ICEBERG_WAREHOUSE",
        default_value = "s3://meshplane-warehouse"
    )]
    warehouse: String,
    /// REST: OAuth2 client credential `id:secret`.
    #[arg(
        long = "iceberg-credential",
        env = "MESHPLANE_ICEBERG_CREDENTIAL",
        hide_env_values = true
    )]
    credential: Option<String>,
    /// REST: bearer token.
    #[arg(
        long = "iceberg-token",
        env = "MESHPLANE_ICEBERG_TOKEN",
        hide_env_values = true
    )]
    token: Option<String>,
}

impl IcebergArgs {
    /// The URI, if set.
    pub fn uri(&self) -> Option<String> {
        self.uri.clone().filter(|u| !u.is_empty())
    }

    /// `sql` or `rest`.
    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            CatalogType::Sql => "sql",
            CatalogType::Rest => "rest",
        }
    }

    /// Catalog name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Warehouse.
    pub fn warehouse(&self) -> &str {
        &self.warehouse
    }

    /// Whether a catalog is configured at all.
    pub fn configured(&self) -> bool {
        self.uri.as_deref().is_some_and(|u| !u.is_empty())
    }

    /// The settings, with the object store the table files live in.
    pub fn settings(
        &self,
        s3: S3Settings,
        encryption: Option<String>,
        kms_key_id: Option<String>,
    ) -> anyhow::Result<CatalogSettings> {
        let uri = self.uri.clone().filter(|u| !u.is_empty()).ok_or_else(|| {
            anyhow::anyhow!("no Iceberg catalog: set --iceberg-uri or MESHPLANE_ICEBERG_URI")
        })?;
        Ok(CatalogSettings {
            kind: match self.kind {
                CatalogType::Sql => CatalogKind::Sql,
                CatalogType::Rest => CatalogKind::Rest,
            },
            name: self.name.clone(),
            uri,
            warehouse: self.warehouse.clone(),
            credential: self.credential.clone(),
            token: self.token.clone(),
            s3,
            encryption,
            kms_key_id,
        })
    }
}
