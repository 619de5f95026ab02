//! Strict loading of Meshplane resources from YAML: syntax errors carry line and column,
//! unknown fields are named (never silently dropped), and a wrong `apiVersion` or `kind`
//! is refused.

use crate::{DataProduct, GovernancePolicy, API_VERSION};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use thiserror::Error;

/// One resource read from a YAML stream.
#[derive(Debug, Clone)]
pub enum Resource {
    /// A `DataProduct`.
    DataProduct(Box<DataProduct>),
    /// A `GovernancePolicy`.
    GovernancePolicy(Box<GovernancePolicy>),
}

/// Why a YAML stream could not be loaded. `origin` is the file name or `<stdin>`.
#[derive(Debug, Error)]
pub enum LoadError {
    /// The text is not valid YAML, or a value has the wrong type or an unknown variant.
    #[error("{origin}: document {document}: {message}{}", location_suffix(*.line, *.column))]
    Syntax {
        /// Where the text came from.
        origin: String,
        /// 1-based index of the YAML document in the stream.
        document: usize,
        /// 1-based line, when known.
        line: Option<usize>,
        /// 1-based column, when known.
        column: Option<usize>,
        /// What the parser said.
        message: String,
    },
    /// The document has fields the resource does not define.
    #[error("{origin}: document {document} ({kind} {name}): unknown field{} {}", if fields.len() == 1 { "" } else { "s" }, fields.join(", "))]
    UnknownFields {
        /// Where the text came from.
        origin: String,
        /// 1-based index of the YAML document in the stream.
        document: usize,
        /// Kind of the resource.
        kind: String,
        /// Name of the resource (or `<unnamed>`).
        name: String,
        /// Dotted paths of the unknown fields, e.g. `spec.schema.fields.0.maskng`.
        fields: Vec<String>,
    },
    /// `apiVersion`/`kind` are missing or name something Meshplane does not define.
    #[error("{origin}: document {document}: {problem}")]
    WrongKind {
        /// Where the text came from.
        origin: String,
        /// 1-based index of the YAML document in the stream.
        document: usize,
        /// What is wrong.
        problem: String,
    },
    /// The stream holds no resource at all.
    #[error("{origin}: no resource found (the file is empty)")]
    Empty {
        /// Where the text came from.
        origin: String,
    },
}

fn location_suffix(line: Option<usize>, column: Option<usize>) -> String {
    match (line, column) {
        (Some(l), Some(c)) => format!(" (line {l}, column {c})"),
        (Some(l), None) => format!(" (line {l})"),
        _ => String::new(),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TypeHeader {
    #[serde(default)]
    api_version: Option<String>,
    #[serde(default)]
    kind: Option<String>,
}

/// Loads every resource of a (multi-document) YAML stream.
pub fn load_all(text: &str, origin: &str) -> Result<Vec<Resource>, LoadError> {
    let mut resources = Vec::new();
    for (index, document) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let number = index + 1;
        let syntax = |e: serde_yaml::Error| syntax_error(origin, number, e);
        let value = serde_yaml::Value::deserialize(document).map_err(syntax)?;
        if value.is_null() {
            continue; // an empty document between `---` separators
        }
        if !value.is_mapping() {
            return Err(LoadError::WrongKind {
                origin: origin.to_string(),
                document: number,
                problem: "expected a mapping with apiVersion, kind, metadata and spec".into(),
            });
        }
        let header: TypeHeader = serde_yaml::from_value(value.clone()).map_err(syntax)?;
        let kind = header.kind.unwrap_or_default();
        let api_version = header.api_version.unwrap_or_default();
        let wrong = |problem: String| LoadError::WrongKind {
            origin: origin.to_string(),
            document: number,
            problem,
        };
        if kind.is_empty() || api_version.is_empty() {
            return Err(wrong(
                "`apiVersion` and `kind` are required (e.g. apiVersion: meshplane.dev/v1alpha1, kind: DataProduct)".into(),
            ));
        }
        if kind == "AccessRequest" {
            return Err(wrong(
                "kind `AccessRequest` is decided in the cluster, not from files (expected DataProduct or GovernancePolicy)".into(),
            ));
        }
        if kind != "DataProduct" && kind != "GovernancePolicy" {
            return Err(wrong(format!(
                "kind `{kind}` is not a Meshplane resource (expected DataProduct or GovernancePolicy)"
            )));
        }
        if api_version != API_VERSION {
            return Err(wrong(format!(
                "apiVersion `{api_version}` is not served for {kind} (expected {API_VERSION})"
            )));
        }
        resources.push(match kind.as_str() {
            "DataProduct" => Resource::DataProduct(Box::new(strict(text, origin, number, &kind)?)),
            _ => Resource::GovernancePolicy(Box::new(strict(text, origin, number, &kind)?)),
        });
    }
    if resources.is_empty() {
        return Err(LoadError::Empty {
            origin: origin.to_string(),
        });
    }
    Ok(resources)
}

/// Deserializes document `number` of `text` again, straight from the YAML so type
/// errors keep their line and column, and collects every field the type ignored.
fn strict<T: DeserializeOwned + kube::ResourceExt>(
    text: &str,
    origin: &str,
    number: usize,
    kind: &str,
) -> Result<T, LoadError> {
    let document = serde_yaml::Deserializer::from_str(text)
        .nth(number - 1)
        .expect("document counted by the first pass");
    let mut unknown = Vec::new();
    let resource: T = serde_ignored::deserialize(document, |path| {
        let path = path.to_string();
        // The derived type checks neither; load_all already has.
        if path != "apiVersion" && path != "kind" {
            unknown.push(path);
        }
    })
    .map_err(|e| syntax_error(origin, number, e))?;
    if unknown.is_empty() {
        Ok(resource)
    } else {
        Err(LoadError::UnknownFields {
            origin: origin.to_string(),
            document: number,
            kind: kind.to_string(),
            name: resource
                .meta()
                .name
                .clone()
                .unwrap_or_else(|| "<unnamed>".into()),
            fields: unknown,
        })
    }
}

fn syntax_error(origin: &str, document: usize, error: serde_yaml::Error) -> LoadError {
    let location = error.location();
    // serde_yaml appends its own "at line X column Y"; keep the message without it.
    let message = error.to_string();
    let message = match message.find(" at line ") {
        Some(at) if location.is_some() => message[..at].to_string(),
        _ => message,
    };
    LoadError::Syntax {
        origin: origin.to_string(),
        document,
        line: location.as_ref().map(|l| l.line()),
        column: location.as_ref().map(|l| l.column()),
        message,
    }
}

/// Loads exactly one `DataProduct`.
pub fn load_data_product(text: &str, origin: &str) -> Result<DataProduct, LoadError> {
    let mut products = Vec::new();
    for resource in load_all(text, origin)? {
        match resource {
            Resource::DataProduct(p) => products.push(*p),
            Resource::GovernancePolicy(_) => {
                return Err(LoadError::WrongKind {
                    origin: origin.to_string(),
                    document: products.len() + 1,
                    problem: "expected a DataProduct, found a GovernancePolicy".into(),
                })
            }
        }
    }
    if products.len() != 1 {
        return Err(LoadError::WrongKind {
            origin: origin.to_string(),
            document: 1,
            problem: format!("expected exactly one DataProduct, found {}", products.len()),
        });
    }
    Ok(products.remove(0))
}
