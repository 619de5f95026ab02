//! Impact analysis: which products, and which of their fields, a question or a proposed
//! policy touches — answered from metadata alone.

use crate::entry::Entry;
use crate::query::ImpactQuery;
use crate::views::{FieldView, FindingView, ProductSummary};
use meshplane_api::GovernancePolicy;
use meshplane_governance::{Engine, Finding, PolicyError};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// A product an impact question matches.
#[derive(Serialize, Deserialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct ImpactHit {
    /// The product.
    #[serde(flatten)]
    pub product: Arc<ProductSummary>,
    /// Its retention as declared.
    pub retention: String,
    /// The fields the question is about (empty when it asks about products only).
    pub matched_fields: Vec<Arc<FieldView>>,
}

/// The answer to an impact question.
#[derive(Serialize, Deserialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct ImpactResults {
    /// Products matching.
    pub total: usize,
    /// The products, by id.
    pub products: Vec<ImpactHit>,
}

/// Products matching `query`, in id order.
pub(crate) fn run<'a>(
    entries: impl Iterator<Item = &'a Entry>,
    query: &ImpactQuery,
) -> ImpactResults {
    let mut products: Vec<ImpactHit> = entries
        .filter(|e| matches(e, query))
        .map(|e| ImpactHit {
            product: e.summary.clone(),
            retention: e.product.spec.retention.clone(),
            matched_fields: matched_fields(e, query),
        })
        .collect();
    products.sort_by(|a, b| a.product.id.cmp(&b.product.id));
    ImpactResults {
        total: products.len(),
        products,
    }
}

fn matches(entry: &Entry, query: &ImpactQuery) -> bool {
    query.filters.admit(entry)
        && query
            .retention_over_seconds
            .is_none_or(|limit| entry.retention_seconds.is_some_and(|r| r > limit))
        && query.field.as_ref().is_none_or(|wanted| {
            entry
                .product
                .spec
                .schema
                .fields
                .iter()
                .any(|f| f.name.eq_ignore_ascii_case(wanted))
        })
}

fn matched_fields(entry: &Entry, query: &ImpactQuery) -> Vec<Arc<FieldView>> {
    let field_level = query.field.is_some()
        || query.filters.pii == Some(true)
        || query.filters.classification.is_some();
    if !field_level {
        return Vec::new();
    }
    entry
        .fields
        .iter()
        .filter(|f| {
            query
                .field
                .as_ref()
                .is_none_or(|w| f.name.eq_ignore_ascii_case(w))
        })
        .filter(|f| query.filters.pii != Some(true) || f.pii)
        .filter(|f| {
            query
                .filters
                .classification
                .is_none_or(|c| f.classification.is_some_and(|fc| fc >= c))
        })
        .cloned()
        .collect()
}

/// A product a proposed policy would reject or warn about.
#[derive(Serialize, Deserialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct AffectedProduct {
    /// The product.
    #[serde(flatten)]
    pub product: Arc<ProductSummary>,
    /// What the policy finds wrong with it.
    pub findings: Vec<FindingView>,
}

/// What a proposed GovernancePolicy would do to the products in the catalog.
#[derive(Serialize, Deserialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct PolicyImpact {
    /// The policy's name.
    pub policy: String,
    /// Products in the policy's scope.
    pub in_scope: usize,
    /// Products it would reject (an `Enforce` policy's findings).
    pub rejected: Vec<AffectedProduct>,
    /// Products it would warn about (an `Audit` policy's findings).
    pub warned: Vec<AffectedProduct>,
}

/// Evaluates every product against `policy` alone; reports what it would reject.
pub(crate) fn of_policy<'a>(
    entries: impl Iterator<Item = &'a Entry>,
    policy: &GovernancePolicy,
) -> Result<PolicyImpact, PolicyError> {
    let engine = Engine::new(std::slice::from_ref(policy))?;
    let name = policy.metadata.name.clone().unwrap_or_default();
    let mut impact = PolicyImpact {
        policy: name.clone(),
        in_scope: 0,
        rejected: vec![],
        warned: vec![],
    };
    for entry in entries {
        let decision = engine.evaluate(&entry.product);
        if !decision.policies.contains(&name) {
            continue;
        }
        impact.in_scope += 1;
        let own = |findings: &[Finding]| -> Vec<FindingView> {
            findings
                .iter()
                .filter(|f| *f.policy == *name)
                .map(FindingView::from)
                .collect()
        };
        let violations = own(&decision.violations);
        if !violations.is_empty() {
            impact.rejected.push(AffectedProduct {
                product: entry.summary.clone(),
                findings: violations,
            });
        }
        let warnings = own(&decision.warnings);
        if !warnings.is_empty() {
            impact.warned.push(AffectedProduct {
                product: entry.summary.clone(),
                findings: warnings,
            });
        }
    }
    impact
        .rejected
        .sort_by(|a, b| a.product.id.cmp(&b.product.id));
    impact
        .warned
        .sort_by(|a, b| a.product.id.cmp(&b.product.id));
    Ok(impact)
}
