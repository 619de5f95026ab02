//! Export of lineage as OpenLineage job events (static lineage: one `JobEvent` per
//! product, its sources as inputs and its table and stream as outputs).

use crate::catalog::Catalog;
use crate::entry::{Entry, ProductId};
use crate::views::locations;
use serde_json::{json, Value};

/// The OpenLineage schema the events follow.
pub const SCHEMA_URL: &str = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/JobEvent";
/// The `producer` of every event.
pub const PRODUCER: &str = "https://meshplane.dev/catalog";
/// Job namespace of every product's ingestion or transformation job.
pub const JOB_NAMESPACE: &str = "meshplane";

/// Where datasets live, for dataset namespaces.
#[derive(Debug, Clone)]
pub struct Namespaces {
    /// Kafka dataset namespace, e.g. `kafka://kafka.kafka.svc:9092`.
    pub kafka: String,
}

/// One event per product (all products when `only` is `None`), in id order.
pub fn job_events(
    catalog: &Catalog,
    only: Option<&ProductId>,
    event_time: &str,
    ns: &Namespaces,
) -> Vec<Value> {
    let mut entries: Vec<&Entry> = match only {
        Some(id) => catalog.get(id).into_iter().collect(),
        None => catalog.entries().collect(),
    };
    entries.sort_by(|a, b| a.id.cmp(&b.id));
    entries
        .into_iter()
        .map(|e| job_event(catalog, e, event_time, ns))
        .collect()
}

fn facet(schema: &str) -> Value {
    json!({ "_producer": PRODUCER, "_schemaURL": format!("https://openlineage.io/spec/facets/{schema}") })
}

fn with_facet(base: Value, fields: Value) -> Value {
    let mut out = base;
    if let (Some(o), Some(f)) = (out.as_object_mut(), fields.as_object()) {
        o.extend(f.clone());
    }
    out
}

/// The dataset of a product's table.
fn table_dataset(entry: &Entry) -> (String, String) {
    let loc = locations(entry);
    match loc.bucket {
        Some(bucket) => (
            format!("s3://{bucket}"),
            loc.prefix.unwrap_or_else(|| entry.id.name.clone()),
        ),
        None => (
            format!("meshplane://{}", entry.id.namespace),
            entry.id.name.clone(),
        ),
    }
}

fn job_event(catalog: &Catalog, entry: &Entry, event_time: &str, ns: &Namespaces) -> Value {
    let spec = &entry.product.spec;
    let mut inputs = Vec::new();
    if let Some(k) = &spec.source.kafka {
        inputs.push(json!({ "namespace": ns.kafka, "name": k.topic }));
    }
    if let Some(c) = &spec.source.cdc {
        for table in &c.tables {
            inputs.push(json!({
                "namespace": format!("postgres://{}/{}", entry.id.namespace, c.connection_secret_ref.name),
                "name": table
            }));
        }
    }
    if let Some(b) = &spec.source.batch {
        let (origin, path) = split_url(&b.url);
        inputs.push(json!({ "namespace": origin, "name": path }));
    }
    if let Some(p) = &spec.source.products {
        for input in &p.inputs {
            let id = ProductId::new(
                input
                    .namespace
                    .clone()
                    .unwrap_or_else(|| entry.id.namespace.clone()),
                &input.name,
            );
            let (namespace, name) = match catalog.get(&id) {
                Some(upstream) => table_dataset(upstream),
                None => (format!("meshplane://{}", id.namespace), id.name.clone()),
            };
            inputs.push(json!({ "namespace": namespace, "name": name }));
        }
    }
    let schema_fields: Vec<Value> = spec
        .schema
        .fields
        .iter()
        .map(|f| {
            let mut field = json!({ "name": f.name, "type": f.field_type });
            if let Some(d) = &f.description {
                field["description"] = json!(d);
            }
            field
        })
        .collect();
    let (table_ns, table_name) = table_dataset(entry);
    let dataset_facets = json!({
        "schema": with_facet(facet("1-1-1/SchemaDatasetFacet.json#/$defs/SchemaDatasetFacet"), json!({ "fields": schema_fields })),
        "ownership": with_facet(facet("1-0-1/OwnershipDatasetFacet.json#/$defs/OwnershipDatasetFacet"),
            json!({ "owners": [{ "name": spec.owner, "type": "team" }] })),
    });
    let mut outputs =
        vec![json!({ "namespace": table_ns, "name": table_name, "facets": dataset_facets })];
    if let Some(stream) = &spec.output.stream {
        outputs.push(json!({ "namespace": ns.kafka, "name": stream.topic }));
    }
    let streaming = spec.source.kafka.is_some() || spec.source.cdc.is_some();
    let mut job_facets = json!({
        "jobType": with_facet(facet("2-0-3/JobTypeJobFacet.json#/$defs/JobTypeJobFacet"), json!({
            "processingType": if streaming { "STREAMING" } else { "BATCH" },
            "integration": "MESHPLANE",
            "jobType": if spec.source.products.is_some() { "TRANSFORMATION" } else { "INGESTION" },
        })),
        "ownership": with_facet(facet("1-0-1/OwnershipJobFacet.json#/$defs/OwnershipJobFacet"),
            json!({ "owners": [{ "name": spec.owner, "type": "team" }] })),
    });
    if let Some(d) = &spec.description {
        job_facets["documentation"] = with_facet(
            facet("1-0-1/DocumentationJobFacet.json#/$defs/DocumentationJobFacet"),
            json!({ "description": d }),
        );
    }
    if let Some(p) = &spec.source.products {
        job_facets["sql"] = with_facet(
            facet("1-0-1/SQLJobFacet.json#/$defs/SQLJobFacet"),
            json!({ "query": p.transform }),
        );
    }
    json!({
        "eventTime": event_time,
        "producer": PRODUCER,
        "schemaURL": SCHEMA_URL,
        "job": { "namespace": JOB_NAMESPACE, "name": entry.id.to_string(), "facets": job_facets },
        "inputs": inputs,
        "outputs": outputs,
    })
}

/// `https://host:port/path?q` → (`https://host:port`, `/path?q`).
fn split_url(url: &str) -> (String, String) {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    match url[after_scheme..].find('/') {
        Some(i) => (
            url[..after_scheme + i].to_owned(),
            url[after_scheme + i..].to_owned(),
        ),
        None => (url.to_owned(), "/".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::split_url;

    #[test]
    fn urls_split_into_origin_and_path() {
        assert_eq!(
            split_url("https://fx.example.com/v1/rates?base=EUR"),
            ("https://fx.example.com".into(), "/v1/rates?base=EUR".into())
        );
        assert_eq!(
            split_url("http://host:8080"),
            ("http://host:8080".into(), "/".into())
        );
    }
}
