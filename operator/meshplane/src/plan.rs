//! `meshplane plan`: the governance decision and rendered manifests for YAML files,
//! offline, for CI of GitOps repositories.

use crate::read_input;
use clap::{Args, ValueEnum};
use meshplane_api::load::{load_all, Resource};
use meshplane_api::{DataProduct, GovernancePolicy};
use meshplane_governance::{Decision, Engine};
use meshplane_planner::{DesiredState, PlatformSettings};
use serde::Serialize;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use thiserror::Error;

/// Arguments of `meshplane plan`.
#[derive(Args)]
pub struct PlanArgs {
    /// YAML files with DataProducts (and possibly GovernancePolicies); `-` for standard input.
    #[arg(short = 'f', long = "file", required = true)]
    files: Vec<PathBuf>,
    /// YAML files with GovernancePolicies.
    #[arg(short = 'p', long = "policy")]
    policies: Vec<PathBuf>,
    /// YAML file with platform settings (image, bucket prefix, Kafka, topic mode, ...).
    #[arg(long)]
    settings: Option<PathBuf>,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = Format::Text)]
    output: Format,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    /// The decision as readable text, then the manifests as YAML.
    Text,
    /// One JSON document with every decision and desired state.
    Json,
}

/// Why `plan` could not decide.
#[derive(Debug, Error)]
pub enum PlanCommandError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A file does not hold valid resources.
    #[error(transparent)]
    Load(#[from] meshplane_api::load::LoadError),
    /// A policy is invalid.
    #[error(transparent)]
    Policy(#[from] meshplane_governance::PolicyError),
    /// The settings file is invalid.
    #[error("{path}: invalid platform settings: {source}")]
    Settings {
        /// The file.
        path: String,
        /// The parser error.
        source: serde_yaml::Error,
    },
    /// No DataProduct was given.
    #[error("no DataProduct found in the files given with -f")]
    NoProduct,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ProductReport {
    product: String,
    decision: Decision,
    #[serde(skip_serializing_if = "Option::is_none")]
    desired: Option<DesiredState>,
    #[serde(skip_serializing_if = "Option::is_none")]
    plan_error: Option<String>,
}

/// Runs the command; the exit status says admitted (0), rejected (1) or bad input (2).
pub fn run(args: &PlanArgs) -> ExitCode {
    match decide(args) {
        Ok((reports, text)) => {
            match args.output {
                Format::Text => print!("{text}"),
                Format::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(&reports).expect("reports serialize")
                ),
            }
            if reports
                .iter()
                .all(|r| r.decision.allowed && r.plan_error.is_none())
            {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn load(path: &PathBuf) -> Result<Vec<Resource>, PlanCommandError> {
    let (text, origin) = read_input(path).map_err(|source| PlanCommandError::Read {
        path: path.display().to_string(),
        source,
    })?;
    Ok(load_all(&text, &origin)?)
}

fn decide(args: &PlanArgs) -> Result<(Vec<ProductReport>, String), PlanCommandError> {
    let mut products: Vec<DataProduct> = Vec::new();
    let mut policies: Vec<GovernancePolicy> = Vec::new();
    for path in args.files.iter().chain(&args.policies) {
        for resource in load(path)? {
            match resource {
                Resource::DataProduct(p) => products.push(*p),
                Resource::GovernancePolicy(p) => policies.push(*p),
            }
        }
    }
    if products.is_empty() {
        return Err(PlanCommandError::NoProduct);
    }
    let settings = match &args.settings {
        Some(path) => {
            let (text, origin) = read_input(path).map_err(|source| PlanCommandError::Read {
                path: path.display().to_string(),
                source,
            })?;
            serde_yaml::from_str(&text).map_err(|source| PlanCommandError::Settings {
                path: origin,
                source,
            })?
        }
        None => PlatformSettings::default(),
    };
    let engine = Engine::new(&policies)?;
    let mut reports = Vec::new();
    let mut text = String::new();
    for product in &products {
        let key = format!(
            "{}/{}",
            product.metadata.namespace.as_deref().unwrap_or("default"),
            product.metadata.name.as_deref().unwrap_or_default()
        );
        let decision = engine.evaluate(product);
        let (desired, plan_error) = if decision.allowed {
            match meshplane_planner::plan(&decision.effective, &settings) {
                Ok(d) => (Some(d), None),
                Err(e) => (None, Some(e.to_string())),
            }
        } else {
            (None, None)
        };
        render(
            &mut text,
            &key,
            &decision,
            desired.as_ref(),
            plan_error.as_deref(),
        );
        reports.push(ProductReport {
            product: key,
            decision,
            desired,
            plan_error,
        });
    }
    Ok((reports, text))
}

fn render(
    out: &mut String,
    key: &str,
    decision: &Decision,
    desired: Option<&DesiredState>,
    plan_error: Option<&str>,
) {
    let verdict = if decision.allowed {
        "ADMITTED"
    } else {
        "REJECTED"
    };
    let _ = writeln!(out, "# DataProduct {key}: {verdict}");
    let _ = writeln!(
        out,
        "#   classification: {}; compliance tags: {}; policies: {}",
        decision.classification,
        if decision.compliance_tags.is_empty() {
            "none".to_string()
        } else {
            decision
                .compliance_tags
                .iter()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        },
        if decision.policies.is_empty() {
            "none".to_string()
        } else {
            decision.policies.join(", ")
        }
    );
    let section = |out: &mut String, title: &str, lines: Vec<String>| {
        if !lines.is_empty() {
            let _ = writeln!(out, "#   {title}:");
            for line in lines {
                let _ = writeln!(out, "#     - {line}");
            }
        }
    };
    section(
        out,
        "violations",
        decision
            .violations
            .iter()
            .map(ToString::to_string)
            .collect(),
    );
    section(
        out,
        "warnings",
        decision.warnings.iter().map(ToString::to_string).collect(),
    );
    section(
        out,
        "conflicts",
        decision.conflicts.iter().map(ToString::to_string).collect(),
    );
    section(
        out,
        "mutations",
        decision.mutations.iter().map(ToString::to_string).collect(),
    );
    if let Some(error) = plan_error {
        let _ = writeln!(out, "#   planning failed: {error}");
    }
    if let Some(desired) = desired {
        let b = &desired.bucket;
        let _ = writeln!(
            out,
            "#   bucket: {} (encryption: {}; lifecycle: expire after {} days; tags: {})",
            b.name,
            b.encryption.as_deref().unwrap_or("none"),
            b.expiration_days,
            b.tags
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        for t in &desired.topics {
            let _ = writeln!(
                out,
                "#   topic: {} ({:?}; {} partitions; {})",
                t.name,
                t.role,
                t.partitions,
                t.config
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        let masked: Vec<String> = desired
            .ingest_plan
            .fields
            .iter()
            .filter(|f| f.masking != meshplane_api::MaskingStrategy::None)
            .map(|f| format!("{} ({})", f.name, f.masking))
            .collect();
        let _ = writeln!(
            out,
            "#   masked fields: {}",
            if masked.is_empty() {
                "none".into()
            } else {
                masked.join(", ")
            }
        );
        let _ = writeln!(out, "---");
        let _ = write!(
            out,
            "{}",
            serde_yaml::to_string(&decision.effective).expect("product serializes")
        );
        for object in &desired.children.manifests() {
            let _ = writeln!(out, "---");
            let _ = write!(
                out,
                "{}",
                serde_yaml::to_string(object).expect("objects serialize")
            );
        }
    }
}
