//! One product as the catalog holds it: its effective spec (governance defaults applied)
//! and what governance derived from it.

use crate::views::{FieldView, ProductSummary};
use meshplane_api::{duration, Classification, DataProduct, SourceKind};
use meshplane_governance::{Engine, Finding};
use serde::Serialize;
use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;

/// `namespace/name` of a DataProduct.
#[derive(Serialize, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProductId {
    /// Namespace of the product.
    pub namespace: String,
    /// Name of the product.
    pub name: String,
}

impl ProductId {
    /// Builds an id.
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> ProductId {
        ProductId {
            namespace: namespace.into(),
            name: name.into(),
        }
    }

    /// The id of a product object (namespace `default` when unset, as the API server does).
    pub fn of(product: &DataProduct) -> ProductId {
        ProductId::new(
            product
                .metadata
                .namespace
                .clone()
                .unwrap_or_else(|| "default".to_owned()),
            product.metadata.name.clone().unwrap_or_default(),
        )
    }

    /// Parses `namespace/name`.
    pub fn parse(text: &str) -> Option<ProductId> {
        let (namespace, name) = text.split_once('/')?;
        (!namespace.is_empty() && !name.is_empty() && !name.contains('/'))
            .then(|| ProductId::new(namespace, name))
    }
}

impl fmt::Display for ProductId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// A product with everything the catalog derives from it once, when it arrives.
#[derive(Clone, Debug)]
pub struct Entry {
    /// Its id.
    pub id: ProductId,
    /// The product as stored, its spec replaced by the effective spec (governance
    /// defaults applied), so masking and classification are what the platform enforces.
    pub product: DataProduct,
    /// Classification of the product as a whole.
    pub classification: Classification,
    /// Compliance tags from governance and from the product's status.
    pub compliance_tags: BTreeSet<String>,
    /// What the policies in force reject in it (empty when compliant).
    pub violations: Vec<Finding>,
    /// Retention in seconds (`None` when the declared value does not parse).
    pub retention_seconds: Option<u64>,
    /// Whether any field holds personal data.
    pub has_pii: bool,
    /// The kind of its source, when exactly one is set.
    pub source_kind: Option<SourceKind>,
    /// Its summary, made once: every search and impact hit shares it.
    pub summary: Arc<ProductSummary>,
    /// Its fields as shown, made once: pages and impact answers share them.
    pub fields: Vec<Arc<FieldView>>,
}

impl Entry {
    /// Evaluates `product` with `engine` and keeps the result.
    pub fn build(product: DataProduct, engine: &Engine) -> Entry {
        let decision = engine.evaluate(&product);
        let mut compliance_tags = decision.compliance_tags.clone();
        if let Some(status) = &product.status {
            compliance_tags.extend(status.compliance_tags.iter().cloned());
        }
        let mut effective = product;
        effective.spec = decision.effective.spec;
        let kinds = effective.spec.source.kinds();
        let id = ProductId::of(&effective);
        let has_pii = effective.spec.schema.fields.iter().any(|f| f.is_pii());
        let summary = ProductSummary::new(
            &id,
            &effective,
            decision.classification,
            &compliance_tags,
            has_pii,
        );
        Entry {
            id,
            classification: decision.classification,
            compliance_tags,
            violations: decision.violations,
            retention_seconds: duration::parse(&effective.spec.retention)
                .ok()
                .map(|d| d.as_secs()),
            has_pii,
            source_kind: (kinds.len() == 1).then(|| kinds[0]),
            fields: effective
                .spec
                .schema
                .fields
                .iter()
                .map(|f| Arc::new(FieldView::of(f)))
                .collect(),
            product: effective,
            summary: Arc::new(summary),
        }
    }

    /// The value of the `Ready` condition, when the controller has written one.
    pub fn ready(&self) -> Option<bool> {
        self.summary.ready
    }
}
