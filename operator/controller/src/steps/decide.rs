//! Decide: the governance engine the webhook uses, on the stored product.

use crate::context::{event, Context};
use crate::status::{was_compliant, DecideReport};
use kube::runtime::events::EventType;
use meshplane_api::DataProduct;
use meshplane_governance::Decision;

/// Evaluates the product; a product turning non-compliant gets a Warning event.
pub async fn decide(ctx: &Context, product: &DataProduct) -> (Decision, DecideReport) {
    let decision = ctx.engine.engine().evaluate(product);
    let report = DecideReport {
        allowed: decision.allowed,
        violations: decision
            .violations
            .iter()
            .map(ToString::to_string)
            .collect(),
        compliance_tags: decision.compliance_tags.iter().cloned().collect(),
        policies: decision.policies.len(),
        source: product.spec.source.summary(),
    };
    if !report.allowed && was_compliant(product.status.as_ref()) {
        // A policy tightened after admission: report, never rewrite, wait for a change.
        event(
            ctx,
            product,
            EventType::Warning,
            "PolicyViolation",
            "Evaluate",
            report.violations.join("; "),
        )
        .await;
    }
    (decision, report)
}
