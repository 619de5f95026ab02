//! Pruning: which existing objects are a product's orphans, children it rendered once and
//! no longer needs (a Deployment after the source became `batch`, the KafkaTopic of a
//! removed stream port). Owner references alone do not remove these: the product lives on.

use crate::children::{ChildId, ChildKind, CHILD_KINDS};
use crate::labels::PRODUCT_NAMESPACE_LABEL;
use crate::settings::{PlatformSettings, TopicMode};
use crate::topics::TOPIC_ROLE_LABEL;
use meshplane_api::{DataProduct, DeletionPolicy};
use std::collections::{BTreeMap, BTreeSet};

/// Where to look for a product's children: a kind in a namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PruneTarget {
    /// The kind to list.
    pub kind: &'static ChildKind,
    /// The namespace to list it in.
    pub namespace: String,
}

/// Every kind the planner renders, in the product's namespace, plus KafkaTopics in the
/// topic operator's namespace when that is another one.
pub fn targets(product: &DataProduct, settings: &PlatformSettings) -> Vec<PruneTarget> {
    let namespace = product
        .metadata
        .namespace
        .clone()
        .unwrap_or_else(|| "default".into());
    let mut out: Vec<PruneTarget> = CHILD_KINDS
        .iter()
        .map(|kind| PruneTarget {
            kind,
            namespace: namespace.clone(),
        })
        .collect();
    if let TopicMode::Strimzi {
        namespace: Some(topics_namespace),
        ..
    } = &settings.topic_mode
    {
        if *topics_namespace != namespace {
            if let Some(kind) = CHILD_KINDS.iter().find(|k| k.kind == "KafkaTopic") {
                out.push(PruneTarget {
                    kind,
                    namespace: topics_namespace.clone(),
                });
            }
        }
    }
    out
}

/// An object found by the children selector, as much of it as pruning needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundChild {
    /// Kind, namespace and name.
    pub id: ChildId,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// The uids of its owners.
    pub owner_uids: Vec<String>,
    /// Already being deleted.
    pub deleting: bool,
}

/// What to do with an orphan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Orphan {
    /// Delete it.
    Delete(ChildId),
    /// A KafkaTopic whose topic keeps its data (`deletionPolicy: Retain` on a source
    /// topic): release it from the topic operator, then delete the resource.
    ReleaseTopic(ChildId),
}

/// The orphans among `found`: this product's (owned by it, or labelled with its namespace
/// where owner references cannot reach), not desired, not already going.
pub fn orphans(
    product: &DataProduct,
    found: &[FoundChild],
    desired: &BTreeSet<ChildId>,
) -> Vec<Orphan> {
    let namespace = product.metadata.namespace.as_deref().unwrap_or("default");
    let uid = product.metadata.uid.as_deref();
    found
        .iter()
        .filter(|child| !child.deleting && !desired.contains(&child.id))
        .filter(|child| {
            uid.is_some_and(|u| child.owner_uids.iter().any(|o| o == u))
                || child
                    .labels
                    .get(PRODUCT_NAMESPACE_LABEL)
                    .map(String::as_str)
                    == Some(namespace)
        })
        .map(|child| {
            let source_topic = child.id.kind == "KafkaTopic"
                && child.labels.get(TOPIC_ROLE_LABEL).map(String::as_str)
                    != Some(crate::external::TopicRole::StreamOutput.label());
            if source_topic && product.spec.deletion_policy == DeletionPolicy::Retain {
                Orphan::ReleaseTopic(child.id.clone())
            } else {
                Orphan::Delete(child.id.clone())
            }
        })
        .collect()
}
