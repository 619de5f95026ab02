//! Quality: the kinds of quality check every product must declare.

use crate::checks::Findings;
use crate::decision::Rule;
use crate::policy::CompiledPolicy;
use meshplane_api::{DataProduct, QualityCheckType};

/// The product's checks against the kinds the policy requires.
pub(crate) fn check(policy: &CompiledPolicy, product: &DataProduct, findings: &mut Findings<'_>) {
    let Some(quality) = &policy.policy.spec.quality else {
        return;
    };
    for required in &quality.required {
        if !product
            .spec
            .quality
            .iter()
            .any(|q| q.check_type == *required)
        {
            findings.add(
                "spec.quality",
                Rule::Quality,
                format!("a {} quality check is required", required.as_str()),
                format!("add a check with type: {}", example_check(*required)),
            );
        }
    }
}

/// How to declare a check of a kind, for hints.
fn example_check(t: QualityCheckType) -> &'static str {
    match t {
        QualityCheckType::Schema => "schema",
        QualityCheckType::NotNull => "notNull (and the field it checks)",
        QualityCheckType::Range => "range (with field, min, max)",
        QualityCheckType::Pattern => "pattern (with field and pattern)",
        QualityCheckType::Accepted => "accepted (with field and values)",
        QualityCheckType::Unique => "unique (and the field it checks)",
        QualityCheckType::Freshness => "freshness",
    }
}
