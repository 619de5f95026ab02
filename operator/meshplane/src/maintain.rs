//! `meshplane maintain`: run a product table's maintenance (retention, compaction,
//! manifests, snapshot expiry, orphan removal) through Trino, as the product's scheduled
//! maintenance job does.

use clap::Args;
use meshplane_effects::trino::Trino;
use meshplane_planner::maintenance::{maintenance_steps, MaintenanceSettings};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// Arguments of `meshplane maintain`.
#[derive(Args)]
pub struct MaintainArgs {
    /// The ingestion plan (`plan.json`, as the product's ConfigMap has it).
    #[arg(long)]
    plan: PathBuf,
    /// The Trino coordinator that runs the statements, e.g. `http://trino:8080`.
    #[arg(long, env = "MESHPLANE_TRINO_URL")]
    trino_url: String,
    /// The Trino user the statements run as.
    #[arg(long, env = "MESHPLANE_TRINO_USER", default_value = "meshplane")]
    trino_user: String,
    /// Trino's catalog holding the products' tables.
    #[arg(long, env = "MESHPLANE_TRINO_CATALOG", default_value = "meshplane")]
    trino_catalog: String,
    /// Snapshots older than this are expired, and the files only they reference deleted
    /// (e.g. `7d`, Trino's default floor). Trino refuses values below its
    /// `iceberg.expire-snapshots.min-retention`.
    #[arg(long, default_value = "7d", value_parser = parse_duration)]
    keep_snapshots: Duration,
    /// Unreferenced files are removed once older than this (e.g. `7d`); it must exceed
    /// the longest time a worker holds written, uncommitted files.
    #[arg(long, default_value = "7d", value_parser = parse_duration)]
    orphan_age: Duration,
    /// Data files smaller than this many bytes are compacted.
    #[arg(long, default_value_t = 100 * 1024 * 1024)]
    small_file_bytes: u64,
    /// Print the statements instead of running them.
    #[arg(long)]
    dry_run: bool,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    meshplane_api::duration::parse(text).map_err(|e| e.to_string())
}

/// Runs every step; a failed step is reported and the next ones still run.
///
/// Exit status: 0 every step succeeded, 1 a step failed, 2 bad input.
pub fn run(args: MaintainArgs) -> ExitCode {
    let plan = match crate::read_plan(&args.plan) {
        Ok(plan) => plan,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(2);
        }
    };
    let settings = MaintenanceSettings {
        catalog: args.trino_catalog.clone(),
        keep_snapshots: args.keep_snapshots,
        orphan_age: args.orphan_age,
        small_file_bytes: args.small_file_bytes,
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let steps = match maintenance_steps(&plan, &settings, now) {
        Ok(steps) => steps,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if args.dry_run {
        for step in &steps {
            println!("{};", step.sql);
        }
        return ExitCode::SUCCESS;
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let trino = Trino::new(&args.trino_url, &args.trino_user);
    let mut failed = 0;
    runtime.block_on(async {
        for step in &steps {
            let started = Instant::now();
            match trino.execute(&step.sql).await {
                Ok(result) => println!(
                    "{} {}.{}: done in {:.1}s{}",
                    step.action.name(),
                    plan.iceberg.namespace,
                    plan.iceberg.name,
                    started.elapsed().as_secs_f64(),
                    result
                        .update_count
                        .map_or_else(String::new, |n| format!(" ({n} rows)"))
                ),
                Err(e) => {
                    failed += 1;
                    eprintln!(
                        "error: {} {}.{} failed: {e}",
                        step.action.name(),
                        plan.iceberg.namespace,
                        plan.iceberg.name
                    );
                }
            }
        }
    });
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
