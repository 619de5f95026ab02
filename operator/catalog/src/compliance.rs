//! The compliance view: products by compliance tag and classification, those with
//! personal data, and what the policies in force reject — the auditor's overview.

use crate::entry::Entry;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The compliance view. Every list is sorted by product id.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ComplianceView {
    /// Products in the catalog.
    pub products: usize,
    /// Product ids by compliance tag, e.g. `gdpr`.
    pub by_compliance_tag: BTreeMap<String, Vec<String>>,
    /// Product ids by classification of the product as a whole.
    pub by_classification: BTreeMap<String, Vec<String>>,
    /// Ids of the products with a personal-data field.
    pub with_pii: Vec<String>,
    /// Products the policies in force reject.
    pub non_compliant: Vec<NonCompliant>,
}

/// A product the policies in force reject.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct NonCompliant {
    /// `namespace/name`.
    pub id: String,
    /// Each violation as `path: message`.
    pub violations: Vec<String>,
}

/// The view over `entries`; `products` is their number (the catalog knows it already).
pub(crate) fn run<'a>(entries: impl Iterator<Item = &'a Entry>, products: usize) -> ComplianceView {
    let mut view = ComplianceView {
        products,
        by_compliance_tag: BTreeMap::new(),
        by_classification: BTreeMap::new(),
        with_pii: vec![],
        non_compliant: vec![],
    };
    for entry in entries {
        let id = entry.id.to_string();
        for tag in &entry.compliance_tags {
            view.by_compliance_tag
                .entry(tag.clone())
                .or_default()
                .push(id.clone());
        }
        view.by_classification
            .entry(entry.classification.as_str().to_owned())
            .or_default()
            .push(id.clone());
        if entry.has_pii {
            view.with_pii.push(id.clone());
        }
        if !entry.violations.is_empty() {
            let violations = entry
                .violations
                .iter()
                .map(|f| format!("{}: {}", f.path, f.message))
                .collect();
            view.non_compliant.push(NonCompliant { id, violations });
        }
    }
    // Entries come in slot order, which depends on the history of upserts and removals.
    for list in view
        .by_compliance_tag
        .values_mut()
        .chain(view.by_classification.values_mut())
    {
        list.sort();
    }
    view.with_pii.sort();
    view.non_compliant.sort_by(|a, b| a.id.cmp(&b.id));
    view
}
