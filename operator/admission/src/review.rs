//! From an AdmissionReview to the engine's answer. Pure: no I/O.

use kube::core::admission::{AdmissionRequest, AdmissionResponse, AdmissionReview, Operation};
use kube::core::DynamicObject;
use meshplane_api::{DataProduct, GovernancePolicy, GROUP};
use meshplane_governance::{validate_policy, Decision, Engine, Finding};
use thiserror::Error;

/// Which webhook a request came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// Applies the engine's defaults to a DataProduct as a JSONPatch.
    MutateProduct,
    /// Rejects a DataProduct that violates an `Enforce` policy.
    ValidateProduct,
    /// Rejects a GovernancePolicy whose patterns or limits are unusable, alone or with
    /// the policies in force.
    ValidatePolicy,
}

/// A body that is not a usable AdmissionReview (answered with HTTP 400).
#[derive(Debug, Error)]
pub enum ReviewError {
    /// The body does not decode as an AdmissionReview.
    #[error("the body is not an AdmissionReview: {0}")]
    Malformed(#[source] serde_json::Error),
    /// The AdmissionReview carries no request.
    #[error("the AdmissionReview has no request")]
    NoRequest,
}

/// Longest warning the API server passes on in full.
const WARNING_LIMIT: usize = 256;

/// Decodes an AdmissionReview, decides, and returns the AdmissionReview to answer with.
pub fn review(
    body: &[u8],
    endpoint: Endpoint,
    engine: &Engine,
) -> Result<AdmissionReview<DynamicObject>, ReviewError> {
    let review: AdmissionReview<DynamicObject> =
        serde_json::from_slice(body).map_err(ReviewError::Malformed)?;
    let request: AdmissionRequest<DynamicObject> =
        review.try_into().map_err(|_| ReviewError::NoRequest)?;
    Ok(respond(&request, endpoint, engine).into_review())
}

fn respond(
    request: &AdmissionRequest<DynamicObject>,
    endpoint: Endpoint,
    engine: &Engine,
) -> AdmissionResponse {
    let response = AdmissionResponse::from(request);
    let Some(object) = &request.object else {
        return response; // DELETE and CONNECT carry no object to judge.
    };
    if matches!(request.operation, Operation::Delete | Operation::Connect) {
        return response;
    }
    let expected = match endpoint {
        Endpoint::MutateProduct | Endpoint::ValidateProduct => "DataProduct",
        Endpoint::ValidatePolicy => "GovernancePolicy",
    };
    if request.kind.group != GROUP || request.kind.kind != expected {
        return response.deny(format!(
            "this webhook reviews {GROUP} {expected} resources, not {}/{} {}",
            request.kind.group, request.kind.version, request.kind.kind
        ));
    }
    let value = match serde_json::to_value(object) {
        Ok(v) => v,
        Err(e) => return response.deny(format!("the object cannot be read: {e}")),
    };
    let name = object.metadata.name.as_deref().unwrap_or("<unnamed>");
    match endpoint {
        Endpoint::ValidatePolicy => {
            let policy: GovernancePolicy = match serde_json::from_value(value) {
                Ok(p) => p,
                Err(e) => {
                    return response.deny(format!("GovernancePolicy {name} cannot be read: {e}"))
                }
            };
            let problems = validate_policy(&policy);
            if !problems.is_empty() {
                let lines: Vec<String> = problems.iter().map(|p| format!("  - {p}")).collect();
                return response.deny(format!(
                    "GovernancePolicy {name} is invalid:\n{}",
                    lines.join("\n")
                ));
            }
            // Valid alone, a policy can still not be built into one engine with the
            // policies in force; the controller would then leave it out of force.
            match engine.with_policy(&policy) {
                Ok(_) => response,
                Err(e) => response.deny(format!(
                    "GovernancePolicy {name} cannot be put in force with the policies in force: {e}"
                )),
            }
        }
        Endpoint::MutateProduct | Endpoint::ValidateProduct => {
            let product: DataProduct = match serde_json::from_value(value) {
                Ok(p) => p,
                Err(e) => return response.deny(format!("DataProduct {name} cannot be read: {e}")),
            };
            // Only a change of spec is judged: an existing product that a tightened policy
            // now rejects must still be labelled, finalized and deleted. It reports
            // PolicyCompliant=False instead, and nothing is rewritten.
            if spec_unchanged(request, &product) || product.metadata.deletion_timestamp.is_some() {
                return match endpoint {
                    Endpoint::MutateProduct => response,
                    _ => with_warnings(
                        response,
                        &engine.evaluate(&product).violations,
                        "not enforced on an unchanged spec",
                    ),
                };
            }
            if endpoint == Endpoint::ValidateProduct {
                let breaking = old_spec(request)
                    .map(|old| breaking_schema_changes(&old.schema, &product.spec.schema))
                    .unwrap_or_default();
                if !breaking.is_empty() {
                    return response.deny(format!(
                        "DataProduct {name} changes its table's schema in a way the table cannot follow without rewriting data:\n{}\nAdd new nullable fields instead, or publish a new product.",
                        breaking.iter().map(|b| format!("  - {b}")).collect::<Vec<_>>().join("\n")
                    ));
                }
            }
            let decision = engine.evaluate(&product);
            match endpoint {
                // Warnings come from the validating webhook only, so kubectl prints each once.
                Endpoint::MutateProduct => mutate(response, &product, &decision),
                _ if decision.allowed => with_warnings(response, &decision.warnings, "Audit"),
                _ => with_warnings(response, &decision.warnings, "Audit")
                    .deny(denial(&product, &decision)),
            }
        }
    }
}

fn old_spec(request: &AdmissionRequest<DynamicObject>) -> Option<meshplane_api::DataProductSpec> {
    let old = request.old_object.as_ref()?;
    if request.operation != Operation::Update {
        return None;
    }
    serde_json::from_value(old.data.get("spec")?.clone()).ok()
}

/// The column type a field is stored as in the table: its type, or `string` when masked
/// (masking a text field keeps its column; masking a number turns it into text).
fn stored_type(field: &meshplane_api::Field) -> String {
    let masked = field
        .masking
        .is_some_and(|m| m != meshplane_api::MaskingStrategy::None)
        || field.is_pii();
    if masked || field.field_type == meshplane_api::FieldType::Decimal {
        "string".into()
    } else {
        serde_json::to_value(field.field_type)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    }
}

/// Changes of a product's schema that its Iceberg table cannot take without rewriting
/// data: a field removed, or stored as another type. Adding nullable fields is fine.
pub fn breaking_schema_changes(
    old: &meshplane_api::Schema,
    new: &meshplane_api::Schema,
) -> Vec<String> {
    let mut changes = Vec::new();
    for (i, before) in old.fields.iter().enumerate() {
        match new.fields.iter().find(|f| f.name == before.name) {
            None => changes.push(format!(
                "spec.schema.fields[{i}] ({}): removing a field is not supported; the table keeps its column",
                before.name
            )),
            Some(after) if stored_type(after) != stored_type(before) => changes.push(format!(
                "spec.schema.fields ({}): its table column is {}; the change makes it {} (retyping a column is not supported)",
                before.name,
                stored_type(before),
                stored_type(after)
            )),
            Some(_) => {}
        }
    }
    for (i, after) in new.fields.iter().enumerate() {
        if !after.nullable && !old.fields.iter().any(|f| f.name == after.name) {
            changes.push(format!(
                "spec.schema.fields[{i}] ({}): a field added to an existing table must be nullable (rows already there have no value)",
                after.name
            ));
        }
    }
    changes
}

fn spec_unchanged(request: &AdmissionRequest<DynamicObject>, product: &DataProduct) -> bool {
    let Some(old) = &request.old_object else {
        return false;
    };
    request.operation == Operation::Update
        && old.data.get("spec").is_some()
        && serde_json::from_value::<meshplane_api::DataProductSpec>(old.data["spec"].clone())
            .is_ok_and(|old_spec| old_spec == product.spec)
}

fn mutate(
    response: AdmissionResponse,
    product: &DataProduct,
    decision: &Decision,
) -> AdmissionResponse {
    if decision.mutations.is_empty() {
        return response;
    }
    // Diff the typed forms, so only the engine's changes become operations.
    let before = serde_json::to_value(product).expect("products serialize");
    let after = serde_json::to_value(&decision.effective).expect("products serialize");
    let patch = json_patch::diff(&before, &after);
    match response.clone().with_patch(patch) {
        Ok(r) => r,
        Err(e) => response.deny(format!("the governance defaults could not be encoded: {e}")),
    }
}

fn with_warnings(
    mut response: AdmissionResponse,
    findings: &[Finding],
    mode: &str,
) -> AdmissionResponse {
    if findings.is_empty() {
        return response;
    }
    let warnings = findings
        .iter()
        .map(|f| {
            let mut text = format!(
                "policy {} ({mode}): {}: {} (fix: {})",
                f.policy, f.path, f.message, f.hint
            );
            if text.len() > WARNING_LIMIT {
                let mut cut = WARNING_LIMIT - 3;
                while !text.is_char_boundary(cut) {
                    cut -= 1;
                }
                text.truncate(cut);
                text.push_str("...");
            }
            text
        })
        .collect();
    response.warnings = Some(warnings);
    response
}

fn denial(product: &DataProduct, decision: &Decision) -> String {
    let lines: Vec<String> = decision
        .violations
        .iter()
        .map(|v| format!("  - {v}"))
        .collect();
    format!(
        "DataProduct {}/{} violates governance ({} violation{}):\n{}",
        product.metadata.namespace.as_deref().unwrap_or("default"),
        product.metadata.name.as_deref().unwrap_or("<unnamed>"),
        lines.len(),
        if lines.len() == 1 { "" } else { "s" },
        lines.join("\n")
    )
}
