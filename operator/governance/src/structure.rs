//! Built-in rules every product follows, whatever the policies say.

use crate::built_in_name;
use crate::decision::{Finding, Rule};
use crate::fnv::BuildFnv;
use meshplane_api::duration;
use meshplane_api::{DataProduct, FieldType, MaskingStrategy, QualityCheckType};
use std::collections::HashSet;

fn finding(path: impl Into<String>, rule: Rule, message: String, hint: &str) -> Finding {
    Finding {
        path: path.into(),
        rule,
        policy: built_in_name().clone(),
        message,
        hint: hint.to_string(),
    }
}

/// Findings of the built-in rules on the product as given.
pub fn check(product: &DataProduct) -> Vec<Finding> {
    let spec = &product.spec;
    let mut out = Vec::new();

    let kinds = spec.source.kinds();
    if kinds.len() != 1 {
        let set: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
        out.push(finding(
            "spec.source",
            Rule::Source,
            if set.is_empty() {
                "no source is set".to_string()
            } else {
                format!("{} sources are set ({})", set.len(), set.join(", "))
            },
            "set exactly one of kafka, cdc, batch, products",
        ));
    }
    if let (Some(kafka), Some(stream)) = (&spec.source.kafka, &spec.output.stream) {
        if kafka.topic == stream.topic {
            out.push(finding(
                "spec.output.stream.topic",
                Rule::Source,
                format!("the output topic `{}` is the source topic", stream.topic),
                "publish masked events to a topic of their own, e.g. `<source>.masked`",
            ));
        }
    }
    if let Some(kafka) = &spec.source.kafka {
        if let (Some(consumers), Some(partitions)) = (kafka.consumers, kafka.partitions) {
            if consumers > partitions {
                out.push(finding(
                    "spec.source.kafka.consumers",
                    Rule::Source,
                    format!(
                        "{consumers} consumers for a topic of {partitions} partitions: {} would stay idle",
                        consumers - partitions
                    ),
                    "use at most as many consumers as the topic has partitions",
                ));
            }
        }
    }
    if let Some(products) = &spec.source.products {
        let own = product.metadata.name.as_deref().unwrap_or_default();
        for (i, input) in products.inputs.iter().enumerate() {
            let same_ns = input.namespace.is_none()
                || input.namespace.as_deref() == product.metadata.namespace.as_deref();
            if same_ns && input.name == own {
                out.push(finding(
                    format!("spec.source.products.inputs[{i}]"),
                    Rule::Source,
                    "a product cannot be derived from itself".into(),
                    "name another product as input",
                ));
            }
        }
    }

    if spec.schema.fields.is_empty() {
        out.push(finding(
            "spec.schema.fields",
            Rule::Schema,
            "the schema has no fields".into(),
            "declare at least one field with a name and a type",
        ));
    }
    let duplicates = duplicated_names(spec.schema.fields.iter().map(|f| f.name.as_str()));
    for (i, field) in spec.schema.fields.iter().enumerate() {
        if duplicates.contains(&i) {
            out.push(finding(
                format!("spec.schema.fields[{i}].name"),
                Rule::Schema,
                format!("field `{}` is declared more than once", field.name),
                "give every field a unique name",
            ));
        }
        if field.is_pii() && field.masking == Some(MaskingStrategy::None) {
            out.push(finding(
                format!("spec.schema.fields[{i}].masking"),
                Rule::Masking,
                format!("personal-data field `{}` is declared unmasked", field.name),
                "use masking hash, partial or redact, or remove `masking` to take the policy default",
            ));
        }
    }

    for (path, text) in durations(product) {
        if let Err(e) = duration::parse(text) {
            out.push(finding(
                path,
                Rule::Schema,
                e.to_string(),
                "e.g. `90d`, `5m`, `12h`",
            ));
        }
    }

    if spec.output.table.is_none() && spec.output.stream.is_none() {
        out.push(finding(
            "spec.output",
            Rule::Schema,
            "the product has no output port".into(),
            "declare output.table (and optionally output.stream)",
        ));
    }
    if let Some(partitioning) = spec
        .output
        .table
        .as_ref()
        .and_then(|t| t.partitioning.as_ref())
    {
        match spec
            .schema
            .fields
            .iter()
            .find(|f| f.name == partitioning.field)
        {
            None => out.push(finding(
                "spec.output.table.partitioning.field",
                Rule::Schema,
                format!(
                    "partitioning field `{}` is not in the schema",
                    partitioning.field
                ),
                "name a timestamp field of the schema",
            )),
            Some(f) if !matches!(f.field_type, FieldType::Timestamp | FieldType::Date) => {
                out.push(finding(
                    "spec.output.table.partitioning.field",
                    Rule::Schema,
                    format!(
                        "partitioning field `{}` is not a timestamp or date",
                        partitioning.field
                    ),
                    "partition by a field of type timestamp or date",
                ))
            }
            Some(_) => {}
        }
    }

    let duplicate_checks = duplicated_names(spec.quality.iter().map(|q| q.name.as_str()));
    for (i, q) in spec.quality.iter().enumerate() {
        let path = format!("spec.quality[{i}]");
        if duplicate_checks.contains(&i) {
            out.push(finding(
                format!("{path}.name"),
                Rule::Quality,
                format!("quality check `{}` is declared more than once", q.name),
                "give every check a unique name",
            ));
        }
        let needs_field = !matches!(
            q.check_type,
            QualityCheckType::Schema | QualityCheckType::Freshness
        );
        match &q.field {
            None if needs_field => out.push(finding(
                format!("{path}.field"),
                Rule::Quality,
                format!(
                    "check `{}` of type {} needs a field",
                    q.name,
                    q.check_type.as_str()
                ),
                "name the field it checks",
            )),
            Some(name) if !spec.schema.fields.iter().any(|f| &f.name == name) => out.push(finding(
                format!("{path}.field"),
                Rule::Quality,
                format!(
                    "check `{}` names `{name}`, which is not in the schema",
                    q.name
                ),
                "name a field of the schema",
            )),
            _ => {}
        }
        match q.check_type {
            QualityCheckType::Range => match (q.min, q.max) {
                (None, None) => out.push(finding(
                    path,
                    Rule::Quality,
                    format!("range check `{}` has neither min nor max", q.name),
                    "give min, max or both",
                )),
                (Some(min), Some(max)) if min > max => out.push(finding(
                    path,
                    Rule::Quality,
                    format!("range check `{}` has min {min} above max {max}", q.name),
                    "swap them",
                )),
                _ => {}
            },
            QualityCheckType::Pattern => match q.pattern.as_deref().map(crate::regex_limits::regex)
            {
                None => out.push(finding(
                    format!("{path}.pattern"),
                    Rule::Quality,
                    format!("pattern check `{}` has no pattern", q.name),
                    "give a regular expression",
                )),
                Some(Err(e)) => out.push(finding(
                    format!("{path}.pattern"),
                    Rule::Quality,
                    format!(
                        "pattern of check `{}` is not a valid regular expression: {e}",
                        q.name
                    ),
                    "fix the regular expression",
                )),
                Some(Ok(_)) => {}
            },
            QualityCheckType::Accepted if q.values.is_empty() => out.push(finding(
                format!("{path}.values"),
                Rule::Quality,
                format!("accepted-values check `{}` lists no values", q.name),
                "list the accepted values",
            )),
            _ => {}
        }
    }
    out
}

/// Indices of every repeat of an earlier name.
fn duplicated_names<'a>(names: impl Iterator<Item = &'a str>) -> Vec<usize> {
    let mut seen: HashSet<&str, BuildFnv> = HashSet::default();
    names
        .enumerate()
        .filter(|(_, name)| !seen.insert(name))
        .map(|(i, _)| i)
        .collect()
}

fn durations(product: &DataProduct) -> Vec<(&'static str, &str)> {
    let spec = &product.spec;
    let mut out = vec![("spec.retention", spec.retention.as_str())];
    if let Some(t) = &spec.output.table {
        out.push((
            "spec.output.table.updateInterval",
            t.update_interval.as_str(),
        ));
    }
    if let Some(slo) = &spec.slo {
        if let Some(f) = &slo.freshness {
            out.push(("spec.slo.freshness", f.as_str()));
        }
        if let Some(q) = &slo.query_latency_p99 {
            out.push(("spec.slo.queryLatencyP99", q.as_str()));
        }
    }
    out
}
