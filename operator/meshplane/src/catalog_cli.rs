//! `meshplane catalog …` and `meshplane impact`: command-line clients of the catalog API,
//! printing readable tables (or the JSON answer with `-o json`). Answers are read into the
//! catalog's own view types (`meshplane_catalog::views` and friends), the ones the API
//! serialises.

use clap::{Args, Subcommand, ValueEnum};
use meshplane_catalog::impact::{ImpactResults, PolicyImpact};
use meshplane_catalog::lineage::LineageView;
use meshplane_catalog::search::SearchResults;
use meshplane_catalog::views::{ErrorBody, ProductPage};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use thiserror::Error;

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

/// Why a catalog command failed.
#[derive(Debug, Error)]
enum CatalogCliError {
    /// The policy file (or stdin) cannot be read.
    #[error("cannot read {path}: {source}")]
    Input {
        path: String,
        source: std::io::Error,
    },
    /// The async runtime does not start.
    #[error(transparent)]
    Runtime(std::io::Error),
    /// The request does not reach the catalog.
    #[error("cannot reach the catalog at {target}: {source}")]
    Unreachable {
        target: String,
        source: reqwest::Error,
    },
    /// The answer breaks off.
    #[error("reading the answer of {target}: {source}")]
    Read {
        target: String,
        source: reqwest::Error,
    },
    /// The catalog refuses the request.
    #[error("the catalog answered {status}: {message}")]
    Refused {
        status: reqwest::StatusCode,
        message: String,
    },
    /// The answer is not JSON.
    #[error("the catalog's answer is not JSON: {0}")]
    NotJson(serde_json::Error),
    /// The answer is JSON but not the view expected (a catalog of another version).
    #[error("the catalog's answer is not what this meshplane expects: {0}")]
    Unexpected(serde_json::Error),
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
            get(c, "/api/search", &q).and_then(|body| show(c.output, &body, search_table))
        }
        CatalogCommand::Show { product } => {
            get(c, &format!("/api/products/{}", path_of(product)), &[])
                .and_then(|body| show(c.output, &body, product_page))
        }
        CatalogCommand::Contract { product } => get(
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
            .and_then(|body| show(c.output, &body, lineage_table))
        }
    };
    finish(result)
}

/// Runs `meshplane impact`.
pub fn run_impact(args: ImpactArgs) -> ExitCode {
    let c = &args.connection;
    let result = if let Some(path) = &args.policy {
        crate::read_input(path)
            .map_err(|source| CatalogCliError::Input {
                path: path.display().to_string(),
                source,
            })
            .and_then(|(body, _)| post(c, "/api/impact/policy", body))
            .and_then(|body| show(c.output, &body, policy_impact_table))
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
        get(c, "/api/impact", &q).and_then(|body| show(c.output, &body, impact_table))
    };
    finish(result)
}

fn finish(result: Result<(), CatalogCliError>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
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

fn runtime() -> Result<tokio::runtime::Runtime, CatalogCliError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(CatalogCliError::Runtime)
}

/// The body of a successful GET.
fn get(c: &Connection, path: &str, query: &[(&str, String)]) -> Result<String, CatalogCliError> {
    let target = url(c, path, query);
    runtime()?.block_on(async {
        let response = reqwest::Client::new()
            .get(&target)
            .send()
            .await
            .map_err(|source| CatalogCliError::Unreachable {
                target: target.clone(),
                source,
            })?;
        answer(&target, response).await
    })
}

/// The body of a successful POST of a YAML document.
fn post(c: &Connection, path: &str, body: String) -> Result<String, CatalogCliError> {
    let target = url(c, path, &[]);
    runtime()?.block_on(async {
        let response = reqwest::Client::new()
            .post(&target)
            .header("content-type", "application/yaml")
            .body(body)
            .send()
            .await
            .map_err(|source| CatalogCliError::Unreachable {
                target: target.clone(),
                source,
            })?;
        answer(&target, response).await
    })
}

async fn answer(target: &str, response: reqwest::Response) -> Result<String, CatalogCliError> {
    let status = response.status();
    let body = response
        .text()
        .await
        .map_err(|source| CatalogCliError::Read {
            target: target.to_owned(),
            source,
        })?;
    if status.is_success() {
        return Ok(body);
    }
    // A refusal is `{"error": ...}`; anything else (a proxy's page) is shown as it came.
    let message = serde_json::from_str::<ErrorBody>(&body)
        .map(|e| e.error)
        .unwrap_or(body);
    Err(CatalogCliError::Refused { status, message })
}

/// Prints an answer: as it came (pretty-printed) with `-o json`, else as the table that
/// `render` makes of its view.
fn show<T: DeserializeOwned>(
    output: Output,
    body: &str,
    render: fn(&T) -> String,
) -> Result<(), CatalogCliError> {
    let text = match output {
        // Untyped on purpose: `-o json` shows every field the catalog sent, even ones this
        // version does not know.
        Output::Json => {
            let value: serde_json::Value =
                serde_json::from_str(body).map_err(CatalogCliError::NotJson)?;
            format!(
                "{}\n",
                serde_json::to_string_pretty(&value).unwrap_or_default()
            )
        }
        Output::Table => render(&read(body)?),
    };
    print!("{text}");
    Ok(())
}

fn read<T: DeserializeOwned>(body: &str) -> Result<T, CatalogCliError> {
    serde_json::from_str(body).map_err(|e| {
        if e.is_data() {
            CatalogCliError::Unexpected(e)
        } else {
            CatalogCliError::NotJson(e)
        }
    })
}

/// The name a value has in JSON, for enums without an `as_str` (FieldType).
fn json_name(value: &impl Serialize) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(name)) => name,
        _ => String::new(),
    }
}

fn joined<'a>(items: impl IntoIterator<Item = &'a String>) -> String {
    items
        .into_iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(",")
}

fn yes(flag: bool, no: &str) -> String {
    if flag { "yes" } else { no }.to_owned()
}

/// Columns padded to their widest cell.
fn table(out: &mut String, headers: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut line = |cells: &[String]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        let _ = writeln!(out, "{}", padded.join("  ").trim_end());
    };
    line(&headers.iter().map(|h| h.to_string()).collect::<Vec<_>>());
    for row in rows {
        line(row);
    }
}

fn search_table(v: &SearchResults) -> String {
    let rows: Vec<Vec<String>> = v
        .hits
        .iter()
        .map(|h| {
            let p = &h.product;
            vec![
                p.id.clone(),
                p.domain.clone(),
                p.owner.clone(),
                p.classification.as_str().to_owned(),
                yes(p.has_pii, "no"),
                joined(&p.compliance_tags),
                p.source.clone(),
            ]
        })
        .collect();
    let mut out = String::new();
    table(
        &mut out,
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
    let _ = writeln!(out, "{} of {} products", rows.len(), v.total);
    out
}

fn product_page(p: &ProductPage) -> String {
    let s = &p.summary;
    let f = &p.freshness;
    let mut out = String::new();
    let _ = writeln!(out, "{}  ({})", s.id, s.classification.as_str());
    let _ = writeln!(out, "  {}", s.description.as_deref().unwrap_or_default());
    let _ = writeln!(
        out,
        "  domain {} · owner {} · source {}",
        s.domain, s.owner, s.source
    );
    let _ = writeln!(
        out,
        "  retention {} · compliance {}",
        p.retention,
        joined(&s.compliance_tags)
    );
    let _ = writeln!(
        out,
        "  freshness SLO {} · newest event {} · {}",
        f.slo.as_deref().unwrap_or_default(),
        f.last_event_time.as_deref().unwrap_or_default(),
        f.state.as_str()
    );
    let _ = writeln!(out);
    let rows: Vec<Vec<String>> = p
        .fields
        .iter()
        .map(|f| {
            vec![
                f.name.clone(),
                json_name(&f.field_type),
                f.classification.map_or("", |c| c.as_str()).to_owned(),
                yes(f.pii, ""),
                f.masking.as_str().to_owned(),
            ]
        })
        .collect();
    table(
        &mut out,
        &["FIELD", "TYPE", "CLASSIFICATION", "PII", "MASKING"],
        &rows,
    );
    let _ = writeln!(out);
    let readers: Vec<String> = p
        .readers
        .iter()
        .map(|r| format!("{}:{}", r.kind, r.name))
        .collect();
    let _ = writeln!(out, "  readers: {}", readers.join(", "));
    let _ = writeln!(out, "  consumers: {}", joined(&p.consumers));
    if !p.slo_history.is_empty() {
        let _ = writeln!(out, "  SLO history (oldest first):");
        for t in &p.slo_history {
            let _ = writeln!(
                out,
                "    {}  {} {} ({}): {}",
                t.at.0, t.slo, t.status, t.reason, t.message
            );
        }
    }
    out
}

fn lineage_table(v: &LineageView) -> String {
    let rows: Vec<Vec<String>> = v
        .nodes
        .iter()
        .map(|n| {
            vec![
                n.depth.to_string(),
                n.kind.as_str().to_owned(),
                n.id.clone(),
            ]
        })
        .collect();
    let mut out = String::new();
    table(&mut out, &["DEPTH", "KIND", "NODE"], &rows);
    for e in &v.edges {
        let _ = writeln!(out, "  {} -> {}", e.from, e.to);
    }
    out
}

fn impact_table(v: &ImpactResults) -> String {
    let rows: Vec<Vec<String>> = v
        .products
        .iter()
        .map(|h| {
            let fields: Vec<String> = h
                .matched_fields
                .iter()
                .map(|f| format!("{} ({})", f.name, f.masking.as_str()))
                .collect();
            vec![
                h.product.id.clone(),
                h.product.classification.as_str().to_owned(),
                h.retention.clone(),
                joined(&h.product.compliance_tags),
                fields.join(", "),
            ]
        })
        .collect();
    let mut out = String::new();
    table(
        &mut out,
        &[
            "PRODUCT",
            "CLASSIFICATION",
            "RETENTION",
            "COMPLIANCE",
            "FIELDS",
        ],
        &rows,
    );
    let _ = writeln!(out, "{} products affected", v.total);
    out
}

fn policy_impact_table(v: &PolicyImpact) -> String {
    let mut rows = Vec::new();
    for (verdict, affected) in [("rejected", &v.rejected), ("warned", &v.warned)] {
        for a in affected {
            for f in &a.findings {
                rows.push(vec![
                    a.product.id.clone(),
                    verdict.to_owned(),
                    f.path.clone(),
                    f.message.clone(),
                ]);
            }
        }
    }
    let mut out = String::new();
    table(&mut out, &["PRODUCT", "VERDICT", "PATH", "WHY"], &rows);
    let _ = writeln!(
        out,
        "policy {}: {} products in scope, {} would be rejected, {} warned",
        v.policy,
        v.in_scope,
        v.rejected.len(),
        v.warned.len()
    );
    out
}

/// The expected tables are what the CLI printed when it still indexed untyped JSON, for
/// the same answers: reading typed views changed nothing a user (or e2e) sees.
#[cfg(test)]
mod tests {
    use super::*;
    use meshplane_api::load::{load_all, Resource};
    use meshplane_catalog::query::{ImpactQuery, SearchQuery};
    use meshplane_catalog::{Catalog, ProductId};

    const EXAMPLES: [&str; 6] = [
        include_str!("../../../examples/orders.yaml"),
        include_str!("../../../examples/payments.yaml"),
        include_str!("../../../examples/customer-profile.yaml"),
        include_str!("../../../examples/exchange-rates.yaml"),
        include_str!("../../../examples/daily-revenue.yaml"),
        include_str!("../../../examples/policy.yaml"),
    ];

    fn catalog() -> Catalog {
        let mut catalog = Catalog::new();
        let mut policies = Vec::new();
        for text in EXAMPLES {
            for r in load_all(text, "example").unwrap() {
                match r {
                    Resource::DataProduct(p) => catalog.upsert(*p),
                    Resource::GovernancePolicy(p) => policies.push(*p),
                }
            }
        }
        catalog.set_policies(&policies).unwrap();
        catalog
    }

    fn proposed_policy() -> meshplane_api::GovernancePolicy {
        let text = include_str!("../../catalog/tests/fixtures/pii-30-days.yaml");
        meshplane_catalog::proposal::parse(text, "fixture").unwrap()
    }

    /// A view as the CLI gets it: serialised by the API, read back.
    fn wire<T: Serialize + DeserializeOwned>(view: &T) -> T {
        read(&serde_json::to_string(view).unwrap()).unwrap()
    }

    #[test]
    fn search_prints_one_row_per_hit_and_the_total() {
        let q = SearchQuery::from_pairs([("q", "payment")]).unwrap();
        let text = search_table(&wire(&catalog().search(&q)));
        assert_eq!(
            text,
            "\
PRODUCT                         DOMAIN    OWNER                      CLASSIFICATION  PII  COMPLIANCE         SOURCE
payments/payment-failed-events  payments  payments-team@example.com  restricted      yes  ccpa,gdpr,pci-dss  kafka:payments.failed
1 of 1 products
"
        );
    }

    #[test]
    fn the_product_page_shows_fields_masking_readers_and_consumers() {
        let id = ProductId::new("orders", "orders");
        let text = product_page(&wire(&catalog().page(&id, 0).unwrap()));
        assert_eq!(
            text,
            "\
orders/orders  (confidential)
  Every order placed in the web shop, one row per order event (placed, paid, shipped, cancelled).
  domain orders · owner orders-team@example.com · source kafka:orders.events
  retention 90d · compliance ccpa,gdpr
  freshness SLO 10m · newest event  · unknown

FIELD             TYPE       CLASSIFICATION  PII  MASKING
order_id          string     internal             none
customer_id       string     internal             none
customer_email    string     confidential    yes  hash
shipping_address  string     confidential    yes  hash
order_total       double     internal             none
currency          string     internal             none
status            string     internal             none
event_time        timestamp  internal             none

  readers: Group:analytics-analysts, ServiceAccount:revenue-job
  consumers: finance/daily-revenue
"
        );
    }

    #[test]
    fn lineage_prints_nodes_by_depth_then_edges() {
        let view = catalog()
            .lineage("product:finance/daily-revenue", 5)
            .unwrap();
        assert_eq!(
            lineage_table(&wire(&view)),
            "\
DEPTH  KIND         NODE
0      product      product:finance/daily-revenue
-2     batchSource  batch:http://treasury.finance.svc/api/rates
-2     topic        topic:orders.events
-1     product      product:finance/exchange-rates
-1     product      product:orders/orders
  batch:http://treasury.finance.svc/api/rates -> product:finance/exchange-rates
  product:finance/exchange-rates -> product:finance/daily-revenue
  product:orders/orders -> product:finance/daily-revenue
  topic:orders.events -> product:orders/orders
"
        );
    }

    #[test]
    fn impact_lists_products_with_their_matched_fields() {
        let q = ImpactQuery::from_pairs([("pii", "true")]).unwrap();
        assert_eq!(
            impact_table(&wire(&catalog().impact(&q))),
            "\
PRODUCT                         CLASSIFICATION  RETENTION  COMPLIANCE         FIELDS
customers/customer-profile      internal        365d       ccpa,gdpr          email (hash), phone_number (hash)
orders/orders                   confidential    90d        ccpa,gdpr          customer_email (hash), shipping_address (hash)
payments/payment-failed-events  restricted      180d       ccpa,gdpr,pci-dss  card_last4 (hash)
3 products affected
"
        );
    }

    #[test]
    fn a_policy_impact_lists_every_finding_and_sums_up() {
        let impact = catalog().policy_impact(&proposed_policy()).unwrap();
        let text = policy_impact_table(&wire(&impact));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0].split_whitespace().collect::<Vec<_>>(),
            ["PRODUCT", "VERDICT", "PATH", "WHY"]
        );
        assert!(
            lines[2].starts_with(
                "orders/orders                   rejected  spec.retention  retention 90d exceeds"
            ),
            "{text}"
        );
        assert_eq!(
            lines.last().unwrap(),
            &"policy pii-30-days: 5 products in scope, 3 would be rejected, 0 warned"
        );
    }

    #[test]
    fn an_answer_that_is_not_the_view_expected_is_told_from_one_that_is_not_json() {
        let err = read::<SearchResults>("<html>").unwrap_err();
        assert!(matches!(err, CatalogCliError::NotJson(_)), "{err}");
        let err = read::<SearchResults>(r#"{"total": "many"}"#).unwrap_err();
        assert!(matches!(err, CatalogCliError::Unexpected(_)), "{err}");
    }
}
