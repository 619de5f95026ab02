//! Export of a product's contract as an Open Data Contract Standard (ODCS v3.1.0) document.

use crate::entry::Entry;
use crate::views::locations;
use meshplane_api::{duration, FieldType, MaskingStrategy, QualityCheckType};
use serde_json::{json, Value};

/// The ODCS version the documents follow.
pub const API_VERSION: &str = "v3.1.0";

/// The contract of `entry`.
pub fn contract(entry: &Entry) -> Value {
    let spec = &entry.product.spec;
    let version = entry.product.metadata.generation.unwrap_or(1);
    let properties: Vec<Value> = spec
        .schema
        .fields
        .iter()
        .map(|f| {
            let mut p = json!({
                "name": f.name,
                "logicalType": logical_type(f.field_type),
                "physicalType": physical_type(f.field_type),
                "required": !f.nullable,
            });
            if let Some(d) = &f.description {
                p["description"] = json!(d);
            }
            if let Some(c) = f.classification {
                p["classification"] = json!(c.as_str());
            }
            let masking = f.masking.unwrap_or(MaskingStrategy::None);
            if masking != MaskingStrategy::None {
                p["transformDescription"] = json!(format!("masked: {}", masking.as_str()));
            }
            let mut custom = vec![json!({ "property": "pii", "value": f.is_pii() })];
            custom.push(json!({ "property": "masking", "value": masking.as_str() }));
            p["customProperties"] = json!(custom);
            if f.is_pii() {
                p["tags"] = json!(["pii"]);
            }
            p
        })
        .collect();
    let quality: Vec<Value> = spec
        .quality
        .iter()
        .map(|q| {
            let mut rule =
                json!({ "name": q.name, "type": "library", "rule": q.check_type.as_str() });
            if let Some(field) = &q.field {
                rule["description"] = json!(format!("{} on {field}", q.check_type.as_str()));
            }
            match q.check_type {
                QualityCheckType::Range => {
                    if let Some(min) = q.min {
                        rule["mustBeGreaterOrEqualTo"] = json!(min);
                    }
                    if let Some(max) = q.max {
                        rule["mustBeLessOrEqualTo"] = json!(max);
                    }
                }
                QualityCheckType::Accepted => rule["validValues"] = json!(q.values),
                QualityCheckType::Pattern => rule["pattern"] = json!(q.pattern),
                _ => {}
            }
            rule
        })
        .collect();
    let mut sla = Vec::new();
    if let Some(days) = duration::parse(&spec.retention)
        .ok()
        .map(|d| d.as_secs() / 86_400)
    {
        sla.push(json!({ "property": "retention", "value": days, "unit": "d" }));
    }
    if let Some(slo) = &spec.slo {
        if let Some(fresh) = slo
            .freshness
            .as_deref()
            .and_then(|f| duration::parse(f).ok())
        {
            sla.push(json!({ "property": "latency", "value": fresh.as_secs(), "unit": "s", "element": format!("{}.{}", entry.id.name, partition_field(entry)) }));
        }
        if let Some(a) = slo.availability {
            sla.push(json!({ "property": "availability", "value": a, "unit": "percent" }));
        }
        if let Some(c) = slo.completeness {
            sla.push(json!({ "property": "completeness", "value": c, "unit": "percent" }));
        }
    }
    if let Some(interval) = spec
        .output
        .table
        .as_ref()
        .and_then(|t| duration::parse(&t.update_interval).ok())
    {
        sla.push(json!({ "property": "frequency", "value": interval.as_secs(), "unit": "s" }));
    }
    let loc = locations(entry);
    let mut servers = Vec::new();
    if let Some(bucket) = &loc.bucket {
        servers.push(json!({
            "server": "table", "type": "s3", "format": "parquet",
            "location": format!("s3://{bucket}/{}", loc.prefix.clone().unwrap_or_default()),
        }));
    }
    if let Some(topic) = &loc.stream_topic {
        servers
            .push(json!({ "server": "stream", "type": "kafka", "format": "json", "topic": topic }));
    }
    let roles: Vec<Value> = spec
        .access
        .readers
        .iter()
        .map(|r| {
            let mut role = json!({ "role": r.qualified_name(), "access": "read" });
            if let Some(p) = &r.purpose {
                role["description"] = json!(p);
            }
            role
        })
        .collect();
    let mut doc = json!({
        "apiVersion": API_VERSION,
        "kind": "DataContract",
        "id": entry.product.metadata.uid.clone().unwrap_or_else(|| entry.id.to_string()),
        "name": entry.id.name,
        "version": format!("{version}.0.0"),
        "status": if entry.ready() == Some(true) { "active" } else { "proposed" },
        "tenant": entry.id.namespace,
        "domain": spec.domain,
        "dataProduct": entry.id.name,
        "tags": spec.tags,
        "schema": [{
            "name": entry.id.name,
            "physicalName": loc.prefix.clone().unwrap_or_else(|| entry.id.name.clone()),
            "logicalType": "object",
            "physicalType": "table",
            "properties": properties,
            "quality": quality,
        }],
        "slaProperties": sla,
        "team": { "name": spec.domain, "members": [{ "username": spec.owner, "role": "owner" }] },
        "roles": roles,
        "servers": servers,
        "customProperties": [
            { "property": "classification", "value": entry.classification.as_str() },
            { "property": "complianceTags", "value": entry.compliance_tags },
            { "property": "source", "value": spec.source.summary() },
        ],
    });
    if let Some(d) = &spec.description {
        doc["description"] = json!({ "purpose": d });
    }
    if let Some(support) = spec.slo.as_ref().and_then(|s| s.support.clone()) {
        doc["support"] = json!([{ "channel": support, "tool": "other" }]);
    }
    doc
}

fn partition_field(entry: &Entry) -> String {
    entry
        .product
        .spec
        .output
        .table
        .as_ref()
        .and_then(|t| t.partitioning.as_ref())
        .map_or_else(String::new, |p| p.field.clone())
}

fn logical_type(t: FieldType) -> &'static str {
    match t {
        FieldType::String => "string",
        FieldType::Int | FieldType::Long => "integer",
        FieldType::Double | FieldType::Decimal => "number",
        FieldType::Boolean => "boolean",
        FieldType::Date | FieldType::Timestamp => "date",
    }
}

fn physical_type(t: FieldType) -> &'static str {
    match t {
        FieldType::String => "STRING",
        FieldType::Int => "INT32",
        FieldType::Long => "INT64",
        FieldType::Double => "DOUBLE",
        FieldType::Decimal => "STRING",
        FieldType::Boolean => "BOOLEAN",
        FieldType::Date => "DATE",
        FieldType::Timestamp => "TIMESTAMP",
    }
}
