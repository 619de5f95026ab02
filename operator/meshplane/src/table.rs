//! `meshplane table`: create or evolve the Iceberg table of an ingestion plan, as the
//! controller does for every product (for a worker run by hand, or to check a catalog).

use clap::Args;
use meshplane_effects::iceberg::{connect, ensure_table, TableDefinition};
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
    #[command(flatten)]
    s3: crate::S3Args,
}

/// Creates or evolves the table; prints its identifier and current snapshot.
pub fn run(args: TableArgs) -> ExitCode {
    crate::run_service(ensure(args))
}

async fn ensure(args: TableArgs) -> anyhow::Result<()> {
    let plan = crate::read_plan(&args.plan)?;
    let s3 = args.s3.settings()?;
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
