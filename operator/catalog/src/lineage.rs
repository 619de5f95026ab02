//! Lineage: sources (topics, CDC tables, batch URLs) → products → derived products and
//! republished topics, as a graph walked upstream and downstream, many hops deep.

use crate::entry::{Entry, ProductId};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap, VecDeque};

/// Deepest walk a lineage question may ask for.
pub const MAX_DEPTH: usize = 32;

/// What a lineage node stands for.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum NodeKind {
    /// A Kafka topic (a source, or a product's masked output stream).
    Topic,
    /// A database table captured with CDC.
    CdcTable,
    /// An HTTP API pulled on a schedule.
    BatchSource,
    /// A data product.
    Product,
}

impl NodeKind {
    /// The name in JSON, e.g. `cdcTable`.
    pub fn as_str(self) -> &'static str {
        match self {
            NodeKind::Topic => "topic",
            NodeKind::CdcTable => "cdcTable",
            NodeKind::BatchSource => "batchSource",
            NodeKind::Product => "product",
        }
    }
}

/// A node of a lineage answer.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Node {
    /// Stable id, e.g. `topic:orders.events` or `product:orders/orders`.
    pub id: String,
    /// What it is.
    pub kind: NodeKind,
    /// Display name.
    pub label: String,
    /// Hops from the root: negative upstream, positive downstream, 0 for the root.
    pub depth: i32,
    /// For products: whether the catalog knows it (a derived product may name an
    /// input that does not exist yet).
    pub known: bool,
}

/// A directed edge: data flows `from` → `to`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Edge {
    /// Upstream node id.
    pub from: String,
    /// Downstream node id.
    pub to: String,
}

/// The lineage around one node.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LineageView {
    /// The node asked about.
    pub root: String,
    /// Every node reached, root first, then by depth.
    pub nodes: Vec<Node>,
    /// The edges walked.
    pub edges: Vec<Edge>,
}

impl LineageView {
    /// Ids of the product nodes downstream of the root.
    pub fn downstream_products(&self) -> Vec<&str> {
        self.product_nodes(|d| d > 0)
    }

    /// Ids of the product nodes upstream of the root.
    pub fn upstream_products(&self) -> Vec<&str> {
        self.product_nodes(|d| d < 0)
    }

    fn product_nodes(&self, side: impl Fn(i32) -> bool) -> Vec<&str> {
        self.nodes
            .iter()
            .filter(|n| n.kind == NodeKind::Product && side(n.depth))
            .filter_map(|n| n.id.strip_prefix("product:"))
            .collect()
    }
}

/// The node id of a product.
pub fn product_node(id: &ProductId) -> String {
    format!("product:{id}")
}

/// The node id of a topic.
pub fn topic_node(topic: &str) -> String {
    format!("topic:{topic}")
}

fn kind_and_label(node: &str) -> (NodeKind, &str) {
    let (prefix, rest) = node.split_once(':').unwrap_or(("", node));
    let kind = match prefix {
        "topic" => NodeKind::Topic,
        "cdc" => NodeKind::CdcTable,
        "batch" => NodeKind::BatchSource,
        _ => NodeKind::Product,
    };
    (kind, rest)
}

/// Edges each product contributes: into it from its sources, out of it to its stream.
fn edges_of(entry: &Entry) -> BTreeSet<(String, String)> {
    let me = product_node(&entry.id);
    let spec = &entry.product.spec;
    let mut edges = BTreeSet::new();
    if let Some(kafka) = &spec.source.kafka {
        edges.insert((topic_node(&kafka.topic), me.clone()));
    }
    if let Some(cdc) = &spec.source.cdc {
        for table in &cdc.tables {
            edges.insert((format!("cdc:{table}"), me.clone()));
        }
    }
    if let Some(batch) = &spec.source.batch {
        edges.insert((format!("batch:{}", batch.url), me.clone()));
    }
    if let Some(products) = &spec.source.products {
        for input in &products.inputs {
            let namespace = input
                .namespace
                .clone()
                .unwrap_or_else(|| entry.id.namespace.clone());
            edges.insert((
                product_node(&ProductId::new(namespace, &input.name)),
                me.clone(),
            ));
        }
    }
    if let Some(stream) = &spec.output.stream {
        edges.insert((me.clone(), topic_node(&stream.topic)));
    }
    edges
}

/// The whole graph, kept up to date product by product.
#[derive(Default, Debug)]
pub(crate) struct LineageGraph {
    contributed: HashMap<ProductId, BTreeSet<(String, String)>>,
    downstream: HashMap<String, BTreeSet<String>>,
    upstream: HashMap<String, BTreeSet<String>>,
}

impl LineageGraph {
    pub(crate) fn insert(&mut self, entry: &Entry) {
        self.remove(&entry.id);
        let edges = edges_of(entry);
        for (from, to) in &edges {
            self.downstream
                .entry(from.clone())
                .or_default()
                .insert(to.clone());
            self.upstream
                .entry(to.clone())
                .or_default()
                .insert(from.clone());
        }
        self.contributed.insert(entry.id.clone(), edges);
    }

    pub(crate) fn remove(&mut self, id: &ProductId) {
        for (from, to) in self.contributed.remove(id).unwrap_or_default() {
            detach(&mut self.downstream, &from, &to);
            detach(&mut self.upstream, &to, &from);
        }
    }

    /// Whether any product mentions `node`.
    pub(crate) fn has_node(&self, node: &str) -> bool {
        self.downstream.contains_key(node) || self.upstream.contains_key(node)
    }

    /// Walks `depth` hops up and down from `root`.
    pub(crate) fn around(
        &self,
        root: &str,
        depth: usize,
        known: impl Fn(&str) -> bool,
    ) -> LineageView {
        let depth = depth.min(MAX_DEPTH);
        let mut nodes = vec![node(root, 0, &known)];
        let mut edges = BTreeSet::new();
        let mut seen: BTreeSet<String> = BTreeSet::from([root.to_owned()]);
        for (graph, sign) in [(&self.upstream, -1), (&self.downstream, 1)] {
            let mut queue = VecDeque::from([(root.to_owned(), 0usize)]);
            while let Some((at, hops)) = queue.pop_front() {
                if hops == depth {
                    continue;
                }
                for next in graph.get(&at).into_iter().flatten() {
                    let edge = if sign < 0 {
                        Edge {
                            from: next.clone(),
                            to: at.clone(),
                        }
                    } else {
                        Edge {
                            from: at.clone(),
                            to: next.clone(),
                        }
                    };
                    edges.insert(edge);
                    if seen.insert(next.clone()) {
                        nodes.push(node(next, sign * (hops as i32 + 1), &known));
                        queue.push_back((next.clone(), hops + 1));
                    }
                }
            }
        }
        nodes[1..].sort_by(|a, b| a.depth.cmp(&b.depth).then_with(|| a.id.cmp(&b.id)));
        LineageView {
            root: root.to_owned(),
            nodes,
            edges: edges.into_iter().collect(),
        }
    }
}

fn node(id: &str, depth: i32, known: &impl Fn(&str) -> bool) -> Node {
    let (kind, label) = kind_and_label(id);
    let known = kind != NodeKind::Product || known(label);
    let label = match kind {
        NodeKind::Product => label.split_once('/').map_or(label, |(_, name)| name),
        _ => label,
    };
    Node {
        id: id.to_owned(),
        kind,
        label: label.to_owned(),
        depth,
        known,
    }
}

fn detach(map: &mut HashMap<String, BTreeSet<String>>, key: &str, value: &str) {
    if let Some(set) = map.get_mut(key) {
        set.remove(value);
        if set.is_empty() {
            map.remove(key);
        }
    }
}
