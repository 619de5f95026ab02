//! `meshplane catalog …` and `meshplane impact`: command-line clients of the catalog API,
//! printing readable tables (or the JSON answer with `-o json`).

use clap::{Args, Subcommand, ValueEnum};
use serde_json::Value;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args, Clone)]
struct Connection {
    /// Base URL of the catalog (a controller replica's catalog port).
    #[arg(
        long,
        env = "MESHPLANE_CATALOG_URL",
        default_value = "http://127.0.0.1:8090",
        global = true
    )]
    url: String,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = Output::Table, global = true)]
    output: Output,
}

#[derive(ValueEnum, Clone, Copy, PartialEq)]
enum Output {
    Table,
    Json,
}

/// Arguments of `meshplane catalog`.
#[derive(Args)]
pub struct CatalogArgs {
    #[command(flatten)]
    connection: Connection,
    #[command(subcommand)]
    command: CatalogCommand,
}

#[derive(Subcommand)]
enum CatalogCommand {
    /// Search by name, description, domain, owner, tags, field names and descriptions.
    Search(SearchArgs),
    /// Show one product: owner, schema with masking, SLOs and freshness, readers, lineage.
    Show {
        /// The product, as namespace/name.
        product: String,
    },
    /// Print a product's contract as an ODCS v3 document (YAML).
    Contract {
        /// The product, as namespace/name.
        product: String,
    },
    /// Lineage around a product (namespace/name) or a node (e.g. topic:orders.events).
    Lineage {
        /// A product (namespace/name) or a node id (topic:…, cdc:…, batch:…).
        node: String,
        /// Hops upstream and downstream.
        #[arg(long, default_value_t = 5)]
        depth: usize,
    },
}

#[derive(Args)]
struct SearchArgs {
    /// Words to find (every word must match, as a prefix).
    #[arg(default_value = "")]
    query: Vec<String>,
    /// Only this domain.
    #[arg(long)]
    domain: Option<String>,
    /// Only products classified at least this high.
    #[arg(long)]
    classification: Option<String>,
    /// Only products carrying this compliance tag (e.g. gdpr).
    #[arg(long)]
    compliance: Option<String>,
    /// Only products with (true) or without (false) personal data.
    #[arg(long)]
    pii: Option<bool>,
    /// Only products from this kind of source (kafka, cdc, batch, products).
    #[arg(long)]
    source: Option<String>,
    /// Only products with this tag.
    #[arg(long)]
    tag: Option<String>,
    /// Most results shown.
    #[arg(long, default_value_t = 50)]
    limit: usize,
}

/// Arguments of `meshplane impact`.
#[derive(Args)]
pub struct ImpactArgs {
    #[command(flatten)]
    connection: Connection,
    /// Products with personal data (and their PII fields).
    #[arg(long)]
    pii: bool,
    /// Products carrying this compliance tag (e.g. gdpr).
    #[arg(long)]
    compliance: Option<String>,
    /// Products (and fields) classified at least this high.
    #[arg(long)]
    classification: Option<String>,
    /// Products keeping data longer than this, e.g. 30d.
    #[arg(long)]
    retention_over: Option<String>,
    /// Products with this field, e.g. customer_email.
    #[arg(long)]
    field: Option<String>,
    /// Only this domain.
    #[arg(long)]
    domain: Option<String>,
    /// A proposed GovernancePolicy (YAML file, `-` for stdin): list the products it would reject.
    #[arg(long, conflicts_with_all = ["pii", "compliance", "classification", "retention_over", "field", "domain"])]
    policy: Option<PathBuf>,
}

/// Runs `meshplane catalog …`.
pub fn run_catalog(args: CatalogArgs) -> ExitCode {
    let c = &args.connection;
    let result = match &args.command {
        CatalogCommand::Search(s) => {
            let mut q: Vec<(&str, String)> =
                vec![("q", s.query.join(" ")), ("limit", s.limit.to_string())];
            optional(&mut q, "domain", &s.domain);
            optional(&mut q, "classification", &s.classification);
            optional(&mut q, "compliance", &s.compliance);
            optional(&mut q, "source", &s.source);
            optional(&mut q, "tag", &s.tag);
            optional(&mut q, "pii", &s.pii.map(|p| p.to_string()));
            get(c, "/api/search", &q).map(|v| print_search(c.output, &v))
        }
        CatalogCommand::Show { product } => {
            get(c, &format!("/api/products/{}", path_of(product)), &[])
                .map(|v| print_product(c.output, &v))
        }
        CatalogCommand::Contract { product } => text(
            c,
            &format!("/api/products/{}/contract", path_of(product)),
            &[("format", "yaml".into())],
        )
        .map(|t| print!("{t}")),
        CatalogCommand::Lineage { node, depth } => {
            let key = if node.contains(':') {
                "node"
            } else {
                "product"
            };
            get(
                c,
                "/api/lineage",
                &[(key, node.clone()), ("depth", depth.to_string())],
            )
            .map(|v| print_lineage(c.output, &v))
        }
    };
    finish(result)
}

/// Runs `meshplane impact`.
pub fn run_impact(args: ImpactArgs) -> ExitCode {
    let c = &args.connection;
    let result = if let Some(path) = &args.policy {
        crate::read_input(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))
            .and_then(|(body, _)| post(c, "/api/impact/policy", body))
            .map(|v| print_policy_impact(c.output, &v))
    } else {
        let mut q: Vec<(&str, String)> = Vec::new();
        if args.pii {
            q.push(("pii", "true".into()));
        }
        optional(&mut q, "compliance", &args.compliance);
        optional(&mut q, "classification", &args.classification);
        optional(&mut q, "retentionOver", &args.retention_over);
        optional(&mut q, "field", &args.field);
        optional(&mut q, "domain", &args.domain);
        get(c, "/api/impact", &q).map(|v| print_impact(c.output, &v))
    };
    finish(result)
}

fn finish(result: Result<(), String>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}

fn optional<'a>(q: &mut Vec<(&'a str, String)>, key: &'a str, value: &Option<String>) {
    if let Some(v) = value {
        q.push((key, v.clone()));
    }
}

fn path_of(product: &str) -> String {
    product.split('/').map(encode).collect::<Vec<_>>().join("/")
}

/// Percent-encodes everything but unreserved characters.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn url(c: &Connection, path: &str, query: &[(&str, String)]) -> String {
    let q: Vec<String> = query
        .iter()
        .map(|(k, v)| format!("{k}={}", encode(v)))
        .collect();
    let base = c.url.trim_end_matches('/');
    if q.is_empty() {
        format!("{base}{path}")
    } else {
        format!("{base}{path}?{}", q.join("&"))
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
}

fn text(c: &Connection, path: &str, query: &[(&str, String)]) -> Result<String, String> {
    let target = url(c, path, query);
    runtime()?.block_on(async {
        let response = reqwest::Client::new()
            .get(&target)
            .send()
            .await
            .map_err(|e| format!("cannot reach the catalog at {target}: {e}"))?;
        answer(&target, response).await
    })
}

async fn answer(target: &str, response: reqwest::Response) -> Result<String, String> {
    let status = response.status();
    let body = response
        .text()
        .await
        .map_err(|e| format!("reading the answer of {target}: {e}"))?;
    if status.is_success() {
        return Ok(body);
    }
    let message = serde_json::from_str::<Value>(&body)
        .ok()
        .and_then(|v| v["error"].as_str().map(str::to_owned))
        .unwrap_or(body);
    Err(format!("the catalog answered {status}: {message}"))
}

fn get(c: &Connection, path: &str, query: &[(&str, String)]) -> Result<Value, String> {
    let body = text(c, path, query)?;
    serde_json::from_str(&body).map_err(|e| format!("the catalog's answer is not JSON: {e}"))
}

fn post(c: &Connection, path: &str, body: String) -> Result<Value, String> {
    let target = url(c, path, &[]);
    let body = runtime()?.block_on(async {
        let response = reqwest::Client::new()
            .post(&target)
            .header("content-type", "application/yaml")
            .body(body)
            .send()
            .await
            .map_err(|e| format!("cannot reach the catalog at {target}: {e}"))?;
        answer(&target, response).await
    })?;
    serde_json::from_str(&body).map_err(|e| format!("the catalog's answer is not JSON: {e}"))
}

fn s(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(s).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

/// Columns padded to their widest cell.
fn print_table(headers: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(headers.iter().map(|h| h.to_string()).collect());
    for row in rows {
        line(row.clone());
    }
}

fn json_out(v: &Value) {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

fn print_search(output: Output, v: &Value) {
    if output == Output::Json {
        return json_out(v);
    }
    let rows: Vec<Vec<String>> = v["hits"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|h| {
            vec![
                s(&h["id"]),
                s(&h["domain"]),
                s(&h["owner"]),
                s(&h["classification"]),
                if h["hasPii"] == true {
                    "yes".into()
                } else {
                    "no".into()
                },
                s(&h["complianceTags"]),
                s(&h["source"]),
            ]
        })
        .collect();
    print_table(
        &[
            "PRODUCT",
            "DOMAIN",
            "OWNER",
            "CLASSIFICATION",
            "PII",
            "COMPLIANCE",
            "SOURCE",
        ],
        &rows,
    );
    println!("{} of {} products", rows.len(), s(&v["total"]));
}

fn print_product(output: Output, p: &Value) {
    if output == Output::Json {
        return json_out(p);
    }
    println!("{}  ({})", s(&p["id"]), s(&p["classification"]));
    println!("  {}", s(&p["description"]));
    println!(
        "  domain {} · owner {} · source {}",
        s(&p["domain"]),
        s(&p["owner"]),
        s(&p["source"])
    );
    println!(
        "  retention {} · compliance {}",
        s(&p["retention"]),
        s(&p["complianceTags"])
    );
    let f = &p["freshness"];
    println!(
        "  freshness SLO {} · newest event {} · {}",
        s(&f["slo"]),
        s(&f["lastEventTime"]),
        s(&f["state"])
    );
    println!();
    let rows: Vec<Vec<String>> = p["fields"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|f| {
            vec![
                s(&f["name"]),
                s(&f["type"]),
                s(&f["classification"]),
                if f["pii"] == true {
                    "yes".into()
                } else {
                    String::new()
                },
                s(&f["masking"]),
            ]
        })
        .collect();
    print_table(
        &["FIELD", "TYPE", "CLASSIFICATION", "PII", "MASKING"],
        &rows,
    );
    println!();
    println!(
        "  readers: {}",
        p["readers"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| format!("{}:{}", s(&r["kind"]), s(&r["name"])))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!("  consumers: {}", s(&p["consumers"]));
}

fn print_lineage(output: Output, v: &Value) {
    if output == Output::Json {
        return json_out(v);
    }
    let rows: Vec<Vec<String>> = v["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|n| vec![s(&n["depth"]), s(&n["kind"]), s(&n["id"])])
        .collect();
    print_table(&["DEPTH", "KIND", "NODE"], &rows);
    for e in v["edges"].as_array().into_iter().flatten() {
        println!("  {} -> {}", s(&e["from"]), s(&e["to"]));
    }
}

fn print_impact(output: Output, v: &Value) {
    if output == Output::Json {
        return json_out(v);
    }
    let rows: Vec<Vec<String>> = v["products"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|h| {
            let fields: Vec<String> = h["matchedFields"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|f| format!("{} ({})", s(&f["name"]), s(&f["masking"])))
                .collect();
            vec![
                s(&h["id"]),
                s(&h["classification"]),
                s(&h["retention"]),
                s(&h["complianceTags"]),
                fields.join(", "),
            ]
        })
        .collect();
    print_table(
        &[
            "PRODUCT",
            "CLASSIFICATION",
            "RETENTION",
            "COMPLIANCE",
            "FIELDS",
        ],
        &rows,
    );
    println!("{} products affected", s(&v["total"]));
}

fn print_policy_impact(output: Output, v: &Value) {
    if output == Output::Json {
        return json_out(v);
    }
    let mut rows = Vec::new();
    for (verdict, key) in [("rejected", "rejected"), ("warned", "warned")] {
        for a in v[key].as_array().into_iter().flatten() {
            for f in a["findings"].as_array().into_iter().flatten() {
                rows.push(vec![
                    s(&a["id"]),
                    verdict.to_owned(),
                    s(&f["path"]),
                    s(&f["message"]),
                ]);
            }
        }
    }
    print_table(&["PRODUCT", "VERDICT", "PATH", "WHY"], &rows);
    println!(
        "policy {}: {} products in scope, {} would be rejected, {} warned",
        s(&v["policy"]),
        s(&v["inScope"]),
        v["rejected"].as_array().map_or(0, Vec::len),
        v["warned"].as_array().map_or(0, Vec::len)
    );
}
