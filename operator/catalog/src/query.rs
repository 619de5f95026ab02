//! Questions to the catalog, parsed strictly from URL query parameters: an unknown
//! parameter or a malformed value is an error naming it, never silently ignored. One type
//! per question (search, impact, lineage, OpenLineage export, contract format); the HTTP
//! layer only extracts the pairs and hands them here.

use crate::entry::ProductId;
use crate::lineage::{product_node, MAX_DEPTH};
use meshplane_api::{duration, Classification, SourceKind};
use thiserror::Error;

/// Longest free-text query accepted, in characters.
pub const MAX_QUERY_CHARS: usize = 256;
/// Most results one answer returns.
pub const MAX_LIMIT: usize = 500;
/// Results returned when no `limit` is given.
pub const DEFAULT_LIMIT: usize = 50;
/// Longest lineage node id accepted, in bytes.
pub const MAX_NODE_LEN: usize = 512;

/// Why a question could not be understood.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum QueryError {
    /// A parameter the endpoint does not define.
    #[error("unknown parameter `{name}`; known: {known}")]
    UnknownParameter {
        /// The parameter given.
        name: String,
        /// The parameters the endpoint accepts.
        known: String,
    },
    /// A parameter given more than once.
    #[error("parameter `{name}` is given more than once")]
    Repeated {
        /// The parameter.
        name: String,
    },
    /// A value that does not parse.
    #[error("parameter `{name}`: {problem}")]
    BadValue {
        /// The parameter.
        name: String,
        /// What is wrong with its value.
        problem: String,
    },
    /// A value longer than allowed.
    #[error("parameter `{name}` is {length} characters long; at most {max} are accepted")]
    TooLong {
        /// The parameter.
        name: String,
        /// Its length.
        length: usize,
        /// The bound.
        max: usize,
    },
    /// A lineage node id longer than allowed.
    #[error("parameter `{name}` is longer than {max} characters")]
    NodeTooLong {
        /// The parameter.
        name: String,
        /// The bound.
        max: usize,
    },
    /// A parameter given to an endpoint that takes none.
    #[error("unknown parameter `{name}`; this endpoint takes none")]
    NoParameters {
        /// The parameter given.
        name: String,
    },
    /// A question with no condition at all.
    #[error("{0}")]
    Empty(String),
}

/// Filters shared by search and impact analysis.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Filters {
    /// Only products of this domain.
    pub domain: Option<String>,
    /// Only products of this namespace.
    pub namespace: Option<String>,
    /// Only products classified at least this high.
    pub classification: Option<Classification>,
    /// Only products carrying this tag.
    pub tag: Option<String>,
    /// Only products carrying this compliance tag.
    pub compliance: Option<String>,
    /// Only products with (`true`) or without (`false`) personal data.
    pub pii: Option<bool>,
    /// Only products fed from this kind of source.
    pub source: Option<SourceKind>,
}

/// A search: free text plus filters, paged.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct SearchQuery {
    /// Free text: every word must match (as a prefix) a name, domain, owner, tag,
    /// description, field name or field description.
    pub text: String,
    /// Filters.
    pub filters: Filters,
    /// Most hits returned.
    pub limit: usize,
    /// Hits skipped (paging).
    pub offset: usize,
}

/// An impact question: which products, and which of their fields, match.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ImpactQuery {
    /// Filters (pii, compliance, classification... apply to the product).
    pub filters: Filters,
    /// Only products keeping data longer than this many seconds.
    pub retention_over_seconds: Option<u64>,
    /// Only products with a field of this name (case-insensitive).
    pub field: Option<String>,
}

impl SearchQuery {
    /// The parameters `/api/search` accepts.
    pub const PARAMS: [&str; 10] = [
        "q",
        "domain",
        "namespace",
        "classification",
        "tag",
        "compliance",
        "pii",
        "source",
        "limit",
        "offset",
    ];

    /// Parses URL query pairs.
    pub fn from_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<SearchQuery, QueryError> {
        let mut query = SearchQuery {
            limit: DEFAULT_LIMIT,
            ..SearchQuery::default()
        };
        for (name, value) in unique(pairs, &Self::PARAMS)? {
            match name {
                "q" => {
                    bounded(name, value)?;
                    query.text = value.trim().to_owned();
                }
                "limit" => query.limit = number(name, value, 1, MAX_LIMIT)?,
                "offset" => query.offset = number(name, value, 0, usize::MAX)?,
                _ => query.filters.set(name, value)?,
            }
        }
        Ok(query)
    }
}

impl ImpactQuery {
    /// The parameters `/api/impact` accepts.
    pub const PARAMS: [&str; 9] = [
        "domain",
        "namespace",
        "classification",
        "tag",
        "compliance",
        "pii",
        "source",
        "retentionOver",
        "field",
    ];

    /// Parses URL query pairs; at least one condition is required.
    pub fn from_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<ImpactQuery, QueryError> {
        let mut query = ImpactQuery::default();
        let pairs = unique(pairs, &Self::PARAMS)?;
        if pairs.is_empty() {
            return Err(QueryError::Empty(format!(
                "an impact question needs at least one of: {}",
                Self::PARAMS.join(", ")
            )));
        }
        for (name, value) in pairs {
            match name {
                "retentionOver" => {
                    let parsed = duration::parse(value).map_err(|e| QueryError::BadValue {
                        name: name.to_owned(),
                        problem: e.to_string(),
                    })?;
                    query.retention_over_seconds = Some(parsed.as_secs());
                }
                "field" => {
                    bounded(name, value)?;
                    query.field = Some(value.trim().to_lowercase());
                }
                _ => query.filters.set(name, value)?,
            }
        }
        Ok(query)
    }
}

/// A lineage question: the node to walk from, and how far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineageQuery {
    /// The root: `topic:…`, `cdc:…`, `batch:…` or `product:namespace/name`.
    pub node: String,
    /// Hops upstream and downstream, in `1..=MAX_DEPTH`.
    pub depth: usize,
}

/// `/api/access/trino-rules`: the Trino catalog and the platform's Trino user, both
/// taken literally (defaults `meshplane`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrinoRulesQuery {
    /// The Trino catalog holding the products' tables.
    pub catalog: String,
    /// The Trino user of the platform's maintenance statements.
    pub platform_user: String,
}

impl TrinoRulesQuery {
    /// The parameters `/api/access/trino-rules` accepts.
    pub const PARAMS: [&str; 2] = ["catalog", "platformUser"];

    /// Parses URL query pairs.
    pub fn from_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<TrinoRulesQuery, QueryError> {
        let mut query = TrinoRulesQuery {
            catalog: "meshplane".into(),
            platform_user: "meshplane".into(),
        };
        for (name, value) in unique(pairs, &Self::PARAMS)? {
            bounded(name, value)?;
            if value.trim().is_empty() {
                return Err(QueryError::BadValue {
                    name: name.to_owned(),
                    problem: "must not be empty".into(),
                });
            }
            match name {
                "catalog" => query.catalog = value.to_owned(),
                _ => query.platform_user = value.to_owned(),
            }
        }
        Ok(query)
    }
}

impl LineageQuery {
    /// The parameters `/api/lineage` accepts.
    pub const PARAMS: [&str; 3] = ["node", "product", "depth"];
    /// Hops walked when no `depth` is given.
    pub const DEFAULT_DEPTH: usize = 5;

    /// Parses URL query pairs; `node` or `product` (namespace/name) is required, and the
    /// last of them given wins.
    pub fn from_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<LineageQuery, QueryError> {
        let mut node = None;
        let mut depth = Self::DEFAULT_DEPTH;
        for (name, value) in pairs {
            match name {
                "node" if value.len() <= MAX_NODE_LEN => node = Some(value.to_owned()),
                "node" => {
                    return Err(QueryError::NodeTooLong {
                        name: name.to_owned(),
                        max: MAX_NODE_LEN,
                    })
                }
                "product" => node = Some(product_node(&product_id(name, value)?)),
                "depth" => {
                    depth = value
                        .parse()
                        .ok()
                        .filter(|d| (1..=MAX_DEPTH).contains(d))
                        .ok_or_else(|| QueryError::BadValue {
                            name: name.to_owned(),
                            problem: format!("`{value}` is not a whole number in 1..={MAX_DEPTH}"),
                        })?;
                }
                other => return Err(unknown(other, &Self::PARAMS)),
            }
        }
        let node = node.ok_or_else(|| {
            QueryError::Empty(
                "give `node` (e.g. topic:orders.events) or `product` (namespace/name)".into(),
            )
        })?;
        Ok(LineageQuery { node, depth })
    }
}

/// An OpenLineage export: every product's job event, or one product's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpenLineageQuery {
    /// Only this product.
    pub product: Option<ProductId>,
}

impl OpenLineageQuery {
    /// The parameters `/api/lineage/openlineage` accepts.
    pub const PARAMS: [&str; 1] = ["product"];

    /// Parses URL query pairs (the last `product` given wins).
    pub fn from_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<OpenLineageQuery, QueryError> {
        let mut query = OpenLineageQuery::default();
        for (name, value) in pairs {
            match name {
                "product" => query.product = Some(product_id(name, value)?),
                other => return Err(unknown(other, &Self::PARAMS)),
            }
        }
        Ok(query)
    }
}

/// How a product's ODCS contract is rendered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ContractFormat {
    /// JSON (the default).
    #[default]
    Json,
    /// YAML, as ODCS documents are usually kept.
    Yaml,
}

impl ContractFormat {
    /// The parameters `/api/products/{namespace}/{name}/contract` accepts.
    pub const PARAMS: [&str; 1] = ["format"];

    /// Parses URL query pairs (the last `format` given wins).
    pub fn from_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<ContractFormat, QueryError> {
        let mut format = ContractFormat::default();
        for (name, value) in pairs {
            format = match (name, value) {
                ("format", "json") => ContractFormat::Json,
                ("format", "yaml") => ContractFormat::Yaml,
                ("format", other) => {
                    return Err(QueryError::BadValue {
                        name: name.to_owned(),
                        problem: format!("`{other}` is not json or yaml"),
                    })
                }
                (other, _) => return Err(unknown(other, &Self::PARAMS)),
            };
        }
        Ok(format)
    }
}

/// Refuses any parameter, for questions that take none (the compliance view).
pub fn no_parameters<'a>(
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<(), QueryError> {
    match pairs.into_iter().next() {
        Some((name, _)) => Err(QueryError::NoParameters {
            name: name.to_owned(),
        }),
        None => Ok(()),
    }
}

fn unknown(name: &str, known: &[&str]) -> QueryError {
    QueryError::UnknownParameter {
        name: name.to_owned(),
        known: known.join(", "),
    }
}

fn product_id(name: &str, value: &str) -> Result<ProductId, QueryError> {
    ProductId::parse(value).ok_or_else(|| QueryError::BadValue {
        name: name.to_owned(),
        problem: format!("`{value}` is not namespace/name"),
    })
}

impl Filters {
    fn set(&mut self, name: &str, value: &str) -> Result<(), QueryError> {
        bounded(name, value)?;
        let text = || Some(value.trim().to_lowercase());
        match name {
            "domain" => self.domain = text(),
            "namespace" => self.namespace = Some(value.trim().to_owned()),
            "tag" => self.tag = text(),
            "compliance" => self.compliance = text(),
            "classification" => self.classification = Some(classification(name, value)?),
            "pii" => self.pii = Some(boolean(name, value)?),
            "source" => self.source = Some(source_kind(name, value)?),
            _ => unreachable!("only filter parameters reach Filters::set"),
        }
        Ok(())
    }
}

/// Rejects unknown and repeated parameters; keeps the order given.
fn unique<'a>(
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    known: &[&str],
) -> Result<Vec<(&'a str, &'a str)>, QueryError> {
    let mut seen: Vec<(&'a str, &'a str)> = Vec::new();
    for (name, value) in pairs {
        if !known.contains(&name) {
            return Err(QueryError::UnknownParameter {
                name: truncate(name),
                known: known.join(", "),
            });
        }
        if seen.iter().any(|(n, _)| *n == name) {
            return Err(QueryError::Repeated {
                name: name.to_owned(),
            });
        }
        seen.push((name, value));
    }
    Ok(seen)
}

fn truncate(name: &str) -> String {
    if name.chars().count() > 64 {
        format!("{}…", name.chars().take(64).collect::<String>())
    } else {
        name.to_owned()
    }
}

fn bounded(name: &str, value: &str) -> Result<(), QueryError> {
    let length = value.chars().count();
    if length > MAX_QUERY_CHARS {
        return Err(QueryError::TooLong {
            name: name.to_owned(),
            length,
            max: MAX_QUERY_CHARS,
        });
    }
    Ok(())
}

fn number(name: &str, value: &str, min: usize, max: usize) -> Result<usize, QueryError> {
    let bad = |problem: String| QueryError::BadValue {
        name: name.to_owned(),
        problem,
    };
    let n: usize = value
        .trim()
        .parse()
        .map_err(|_| bad(format!("`{}` is not a whole number", truncate(value))))?;
    if n < min || n > max {
        return Err(bad(format!("{n} is outside {min}..={max}")));
    }
    Ok(n)
}

fn boolean(name: &str, value: &str) -> Result<bool, QueryError> {
    match value.trim() {
        "true" | "yes" | "1" => Ok(true),
        "false" | "no" | "0" => Ok(false),
        other => Err(QueryError::BadValue {
            name: name.to_owned(),
            problem: format!("`{}` is not true or false", truncate(other)),
        }),
    }
}

/// Parses a classification level name.
pub fn classification(name: &str, value: &str) -> Result<Classification, QueryError> {
    let wanted = value.trim().to_lowercase();
    Classification::ALL
        .into_iter()
        .find(|c| c.as_str() == wanted)
        .ok_or_else(|| QueryError::BadValue {
            name: name.to_owned(),
            problem: format!(
                "`{}` is not a classification; use public, internal, confidential or restricted",
                truncate(value)
            ),
        })
}

fn source_kind(name: &str, value: &str) -> Result<SourceKind, QueryError> {
    let kinds = [
        SourceKind::Kafka,
        SourceKind::Cdc,
        SourceKind::Batch,
        SourceKind::Products,
    ];
    let wanted = value.trim().to_lowercase();
    kinds
        .into_iter()
        .find(|k| k.as_str() == wanted)
        .ok_or_else(|| QueryError::BadValue {
            name: name.to_owned(),
            problem: format!(
                "`{}` is not a source kind; use kafka, cdc, batch or products",
                truncate(value)
            ),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_parameters_parse_into_filters() {
        let q = SearchQuery::from_pairs([
            ("q", " payment "),
            ("domain", "Payments"),
            ("pii", "true"),
            ("classification", "confidential"),
            ("source", "kafka"),
            ("limit", "10"),
        ])
        .unwrap();
        assert_eq!(q.text, "payment");
        assert_eq!(q.filters.domain.as_deref(), Some("payments"));
        assert_eq!(q.filters.pii, Some(true));
        assert_eq!(q.filters.classification, Some(Classification::Confidential));
        assert_eq!(q.filters.source, Some(SourceKind::Kafka));
        assert_eq!(q.limit, 10);
    }

    #[test]
    fn unknown_repeated_and_malformed_parameters_are_named() {
        let err = SearchQuery::from_pairs([("colour", "red")]).unwrap_err();
        assert!(
            err.to_string().starts_with("unknown parameter `colour`"),
            "{err}"
        );
        let err = SearchQuery::from_pairs([("q", "a"), ("q", "b")]).unwrap_err();
        assert_eq!(err, QueryError::Repeated { name: "q".into() });
        let err = SearchQuery::from_pairs([("pii", "maybe")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "parameter `pii`: `maybe` is not true or false"
        );
        let err = SearchQuery::from_pairs([("limit", "0")]).unwrap_err();
        assert_eq!(err.to_string(), "parameter `limit`: 0 is outside 1..=500");
        let err = SearchQuery::from_pairs([("classification", "secret")]).unwrap_err();
        assert!(
            err.to_string().contains("`secret` is not a classification"),
            "{err}"
        );
        let err = ImpactQuery::from_pairs([("retentionOver", "30 days")]).unwrap_err();
        assert!(
            err.to_string().starts_with("parameter `retentionOver`:"),
            "{err}"
        );
    }

    #[test]
    fn long_queries_are_refused() {
        let long = "x".repeat(MAX_QUERY_CHARS + 1);
        let err = SearchQuery::from_pairs([("q", long.as_str())]).unwrap_err();
        assert_eq!(
            err,
            QueryError::TooLong {
                name: "q".into(),
                length: MAX_QUERY_CHARS + 1,
                max: MAX_QUERY_CHARS
            }
        );
    }

    #[test]
    fn an_impact_question_needs_a_condition() {
        assert!(matches!(
            ImpactQuery::from_pairs([]),
            Err(QueryError::Empty(_))
        ));
        let q = ImpactQuery::from_pairs([
            ("pii", "yes"),
            ("compliance", "GDPR"),
            ("retentionOver", "30d"),
        ])
        .unwrap();
        assert_eq!(q.filters.compliance.as_deref(), Some("gdpr"));
        assert_eq!(q.retention_over_seconds, Some(30 * 86_400));
    }

    #[test]
    fn a_lineage_question_names_a_node_or_a_product() {
        let q = LineageQuery::from_pairs([("product", "orders/orders"), ("depth", "3")]).unwrap();
        assert_eq!(
            q,
            LineageQuery {
                node: "product:orders/orders".into(),
                depth: 3
            }
        );
        let q = LineageQuery::from_pairs([("node", "topic:orders.events")]).unwrap();
        assert_eq!(q.depth, LineageQuery::DEFAULT_DEPTH);
        assert_eq!(
            LineageQuery::from_pairs([("depth", "3")])
                .unwrap_err()
                .to_string(),
            "give `node` (e.g. topic:orders.events) or `product` (namespace/name)"
        );
    }

    #[test]
    fn bad_lineage_parameters_are_named() {
        let err = |pairs: &[(&str, &str)]| {
            LineageQuery::from_pairs(pairs.iter().copied())
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            err(&[("node", "t"), ("depth", "0")]),
            "parameter `depth`: `0` is not a whole number in 1..=32"
        );
        assert_eq!(
            err(&[("product", "orders")]),
            "parameter `product`: `orders` is not namespace/name"
        );
        let long = "n".repeat(MAX_NODE_LEN + 1);
        assert_eq!(
            err(&[("node", long.as_str())]),
            "parameter `node` is longer than 512 characters"
        );
        assert_eq!(
            err(&[("colour", "red")]),
            "unknown parameter `colour`; known: node, product, depth"
        );
    }

    #[test]
    fn openlineage_contract_and_compliance_parameters_parse_strictly() {
        let q = OpenLineageQuery::from_pairs([("product", "finance/daily-revenue")]).unwrap();
        assert_eq!(q.product, Some(ProductId::new("finance", "daily-revenue")));
        assert_eq!(
            OpenLineageQuery::from_pairs([("node", "x")])
                .unwrap_err()
                .to_string(),
            "unknown parameter `node`; known: product"
        );
        assert_eq!(
            ContractFormat::from_pairs([("format", "yaml")]),
            Ok(ContractFormat::Yaml)
        );
        assert_eq!(ContractFormat::from_pairs([]), Ok(ContractFormat::Json));
        assert_eq!(
            ContractFormat::from_pairs([("format", "xml")])
                .unwrap_err()
                .to_string(),
            "parameter `format`: `xml` is not json or yaml"
        );
        assert_eq!(no_parameters([]), Ok(()));
        assert_eq!(
            no_parameters([("q", "x")]).unwrap_err().to_string(),
            "unknown parameter `q`; this endpoint takes none"
        );
    }
}
