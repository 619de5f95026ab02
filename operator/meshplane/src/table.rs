//! `meshplane table`: create or evolve the Iceberg table of an ingestion plan, as the
//! controller does for every product (for a worker run by hand, or to check a catalog).

use anyhow::Context as _;
use clap::Args;
use meshplane_api::ingest_plan::IngestPlan;
use meshplane_effects::iceberg::{connect, ensure_table, TableDefinition};
use meshplane_effects::s3::S3Settings;
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `meshplane table`.
#[derive(Args)]
pub struct TableArgs {
    /// The ingestion plan (`plan.json`, as `meshplane plan -o json` or the product's
    /// ConfigMap has it).
    #[arg(long)]
    plan: PathBuf,
    #[command(flatten)]
    catalog: crate::iceberg_args::IcebergArgs,
    /// S3 endpoint of the table's files; empty for AWS.
    #[arg(long, env = "MESHPLANE_S3_ENDPOINT", default_value = "")]
    s3_endpoint: String,
    /// S3 region.
    #[arg(long, env = "AWS_REGION", default_value = "us-east-1")]
    s3_region: String,
}

/// Creates or evolves the table; prints its identifier and current snapshot.
pub fn run(args: TableArgs) -> ExitCode {
    crate::run_service(ensure(args))
}

async fn ensure(args: TableArgs) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&args.plan)
        .with_context(|| format!("cannot read the plan {}", args.plan.display()))?;
    let plan: IngestPlan = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a valid ingestion plan", args.plan.display()))?;
    let env = |name: &str| std::env::var(name).with_context(|| format!("{name} is not set"));
    let s3 = S3Settings {
        endpoint: (!args.s3_endpoint.is_empty()).then_some(args.s3_endpoint),
        region: args.s3_region,
        access_key_id: env("AWS_ACCESS_KEY_ID")?,
        secret_access_key: env("AWS_SECRET_ACCESS_KEY")?,
    };
    let settings = args.catalog.settings(s3, None, None)?;
    let catalog = connect(&settings).await?;
    let state = ensure_table(
        &*catalog,
        TableDefinition {
            product: &plan.product,
            table: &plan.iceberg,
            fields: &plan.fields,
            partition_field: plan.partition_field.as_deref(),
            granularity: plan.granularity,
        },
    )
    .await?;
    println!(
        "{}.{} {} snapshot={}{}",
        settings.name,
        state.identifier,
        if state.created { "created" } else { "exists" },
        state
            .snapshot_id
            .map_or_else(|| "none".to_string(), |s| s.to_string()),
        if state.added_columns.is_empty() {
            String::new()
        } else {
            format!(" added={}", state.added_columns.join(","))
        }
    );
    Ok(())
}
