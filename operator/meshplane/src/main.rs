//! `meshplane`: one binary, one image, with a subcommand per process.
#![forbid(unsafe_code)]

mod plan;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// Meshplane: a self-serve data mesh platform for Kubernetes.
#[derive(Parser)]
#[command(name = "meshplane", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the CustomResourceDefinitions (DataProduct, GovernancePolicy) as YAML.
    Crds,
    /// Decide on products offline, as admission would, and render what would be provisioned.
    ///
    /// Exit status: 0 every product admitted, 1 any product rejected, 2 bad input.
    Plan(plan::PlanArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Crds => {
            print!("{}", meshplane_api::crds_yaml());
            ExitCode::SUCCESS
        }
        Command::Plan(args) => plan::run(&args),
    }
}

/// Reads a file, or standard input for `-`.
pub(crate) fn read_input(path: &PathBuf) -> std::io::Result<(String, String)> {
    if path.as_os_str() == "-" {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)?;
        Ok((text, "<stdin>".to_string()))
    } else {
        Ok((std::fs::read_to_string(path)?, path.display().to_string()))
    }
}
