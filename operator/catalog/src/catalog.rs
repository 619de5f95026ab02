//! The catalog's state: entries in slots, with a token index and a lineage graph kept in
//! step on every change.

use crate::compliance::{self, ComplianceView};
use crate::entry::{Entry, ProductId};
use crate::impact::{self, ImpactResults, PolicyImpact};
use crate::lineage::{product_node, LineageGraph, LineageView, NodeKind};
use crate::query::{ImpactQuery, SearchQuery};
use crate::search::{self, SearchResults, TokenIndex};
use crate::views::AccessView;
use crate::views::{self, Completeness, FindingView, Freshness, ProductPage};
use meshplane_api::{AccessPhase, AccessRequest, DataProduct, GovernancePolicy};
use meshplane_governance::{Engine, PolicyError};
use std::collections::HashMap;
use std::sync::Arc;
use thiserror::Error;

/// Lineage depth shown on a product page.
const PAGE_LINEAGE_DEPTH: usize = 10;

/// Why the catalog kept its previous policies.
#[derive(Debug, Error)]
#[error("the catalog keeps its previous policies: {source}")]
pub struct PolicyUpdateError {
    /// What the engine refused.
    #[from]
    pub source: PolicyError,
}

/// Every product, searchable.
pub struct Catalog {
    engine: Arc<Engine>,
    slots: Vec<Option<Entry>>,
    free: Vec<u32>,
    by_id: HashMap<ProductId, u32>,
    index: TokenIndex,
    lineage: LineageGraph,
    /// Access requests by the product they ask for, keyed `namespace/name` of the request.
    requests: HashMap<ProductId, std::collections::BTreeMap<String, AccessView>>,
}

impl Default for Catalog {
    fn default() -> Catalog {
        Catalog::new()
    }
}

impl Catalog {
    /// An empty catalog with no policies.
    pub fn new() -> Catalog {
        Catalog {
            engine: Arc::new(Engine::default()),
            slots: Vec::new(),
            free: Vec::new(),
            by_id: HashMap::new(),
            index: TokenIndex::default(),
            lineage: LineageGraph::default(),
            requests: HashMap::new(),
        }
    }

    /// Adds or replaces an access request (shown on its product's page: granted ones
    /// under "who uses it", pending ones for the owner to decide).
    pub fn upsert_request(&mut self, request: &AccessRequest) {
        let key = request_key(request);
        for requests in self.requests.values_mut() {
            requests.remove(&key);
        }
        let (namespace, name) = request.product_key();
        self.requests
            .entry(ProductId::new(namespace, name))
            .or_default()
            .insert(key, AccessView::of(request));
    }

    /// Removes an access request; unknown ones are ignored.
    pub fn remove_request(&mut self, request: &AccessRequest) {
        let key = request_key(request);
        self.requests.retain(|_, requests| {
            requests.remove(&key);
            !requests.is_empty()
        });
    }

    /// Replaces every access request (a watch restarted and listed them again).
    pub fn replace_requests<'a>(&mut self, requests: impl IntoIterator<Item = &'a AccessRequest>) {
        self.requests.clear();
        for request in requests {
            self.upsert_request(request);
        }
    }

    /// Number of products.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Whether there are no products.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// Adds or replaces a product.
    pub fn upsert(&mut self, product: DataProduct) {
        let entry = Entry::build(product, &self.engine);
        let slot = match self.by_id.get(&entry.id) {
            Some(&slot) => slot,
            None => {
                let slot = self.free.pop().unwrap_or_else(|| {
                    self.slots.push(None);
                    (self.slots.len() - 1) as u32
                });
                self.by_id.insert(entry.id.clone(), slot);
                slot
            }
        };
        self.index.insert(slot, &entry);
        self.lineage.insert(&entry);
        self.slots[slot as usize] = Some(entry);
    }

    /// Removes a product; unknown ids are ignored.
    pub fn remove(&mut self, id: &ProductId) {
        if let Some(slot) = self.by_id.remove(id) {
            self.index.remove(slot);
            self.lineage.remove(id);
            self.slots[slot as usize] = None;
            self.free.push(slot);
        }
    }

    /// Replaces every product (a watch restarted and listed everything again).
    pub fn replace_all(&mut self, products: impl IntoIterator<Item = DataProduct>) {
        *self = Catalog {
            engine: self.engine.clone(),
            requests: std::mem::take(&mut self.requests),
            ..Catalog::new()
        };
        for product in products {
            self.upsert(product);
        }
    }

    /// Changes the policies in force and re-evaluates every product. An invalid policy
    /// set is refused and the previous one kept.
    pub fn set_policies(&mut self, policies: &[GovernancePolicy]) -> Result<(), PolicyUpdateError> {
        self.set_engine(Arc::new(Engine::new(policies)?));
        Ok(())
    }

    /// Decides with `engine` from now on (in the controller: the one admission and
    /// reconciliation use) and re-evaluates every product.
    pub fn set_engine(&mut self, engine: Arc<Engine>) {
        self.engine = engine;
        let products: Vec<DataProduct> = self.entries().map(|e| e.product.clone()).collect();
        // Each entry keeps its effective spec, so re-evaluation starts from the stored one.
        for product in products {
            self.upsert(product);
        }
    }

    /// Every entry, in no particular order.
    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.slots.iter().flatten()
    }

    /// The entry of `id`.
    pub fn get(&self, id: &ProductId) -> Option<&Entry> {
        self.by_id
            .get(id)
            .and_then(|&slot| self.slots[slot as usize].as_ref())
    }

    /// Full-text search with filters.
    pub fn search(&self, query: &SearchQuery) -> SearchResults {
        let slots = &self.slots;
        search::run(
            &self.index,
            |slot| slots.get(slot as usize).and_then(Option::as_ref),
            self.by_id.values().copied(),
            query,
        )
    }

    /// Products (and fields) matching an impact question.
    pub fn impact(&self, query: &ImpactQuery) -> ImpactResults {
        impact::run(self.entries(), query)
    }

    /// What `policy` would reject among the products.
    pub fn policy_impact(&self, policy: &GovernancePolicy) -> Result<PolicyImpact, PolicyError> {
        impact::of_policy(self.entries(), policy)
    }

    /// Products by compliance tag and classification, and what the policies in force
    /// reject.
    pub fn compliance(&self) -> ComplianceView {
        compliance::run(self.entries(), self.len())
    }

    /// Lineage around any node (`product:ns/name`, `topic:…`, `cdc:…`, `batch:…`);
    /// `None` when no product mentions it.
    pub fn lineage(&self, node: &str, depth: usize) -> Option<LineageView> {
        let is_product = node
            .strip_prefix("product:")
            .and_then(ProductId::parse)
            .is_some_and(|id| self.by_id.contains_key(&id));
        (is_product || self.lineage.has_node(node)).then(|| {
            self.lineage.around(node, depth, |id| {
                ProductId::parse(id).is_some_and(|id| self.by_id.contains_key(&id))
            })
        })
    }

    /// The product page of `id` at `now` (seconds since the Unix epoch).
    /// The product's access requests in `phase`, by request.
    fn access(&self, id: &ProductId, phase: AccessPhase) -> Vec<AccessView> {
        self.requests
            .get(id)
            .into_iter()
            .flat_map(|r| r.values())
            .filter(|r| r.phase == Some(phase))
            .cloned()
            .collect()
    }

    /// Every granted request on a product whose table exists, as Trino's rules need it.
    pub fn trino_grants(&self) -> Vec<crate::trino_rules::TrinoGrant> {
        let mut out = Vec::new();
        for (id, requests) in &self.requests {
            let Some(entry) = self.get(id) else { continue };
            let Some((schema, table)) = entry
                .product
                .status
                .as_ref()
                .and_then(|s| s.table.as_ref())
                .and_then(|t| t.identifier.as_deref())
                .and_then(|i| i.split_once('.'))
            else {
                continue;
            };
            for view in requests.values() {
                if view.phase != Some(AccessPhase::Granted) {
                    continue;
                }
                let hidden_columns = entry
                    .product
                    .spec
                    .schema
                    .fields
                    .iter()
                    .filter(|f| !view.columns.contains(&f.name))
                    .map(|f| f.name.clone())
                    .collect();
                out.push(crate::trino_rules::TrinoGrant {
                    subject: view.subject.clone(),
                    schema: schema.to_owned(),
                    table: table.to_owned(),
                    hidden_columns,
                });
            }
        }
        out
    }

    pub fn page(&self, id: &ProductId, now: i64) -> Option<ProductPage> {
        let entry = self.get(id)?;
        let lineage = self
            .lineage
            .around(&product_node(id), PAGE_LINEAGE_DEPTH, |p| {
                ProductId::parse(p).is_some_and(|p| self.by_id.contains_key(&p))
            });
        // Derived products read it directly: the products one hop downstream.
        let consumers = lineage
            .nodes
            .iter()
            .filter(|n| n.kind == NodeKind::Product && n.depth == 1)
            .filter_map(|n| n.id.strip_prefix("product:"))
            .map(str::to_owned)
            .collect();
        let spec = &entry.product.spec;
        Some(ProductPage {
            summary: entry.summary.clone(),
            fields: entry.fields.clone(),
            retention: spec.retention.clone(),
            slo: spec.slo.clone(),
            freshness: Freshness::of(entry, now),
            completeness: Completeness::of(entry),
            slo_history: entry
                .product
                .status
                .as_ref()
                .map(|s| s.slo_history.clone())
                .unwrap_or_default(),
            locations: views::locations(entry),
            readers: spec.access.readers.clone(),
            grants: self.access(id, AccessPhase::Granted),
            pending_requests: self.access(id, AccessPhase::Pending),
            consumers,
            quality: spec.quality.clone(),
            conditions: views::conditions(entry),
            violations: entry.violations.iter().map(FindingView::from).collect(),
            lineage,
        })
    }
}

fn request_key(request: &AccessRequest) -> String {
    format!(
        "{}/{}",
        request.namespace_or_default(),
        request.metadata.name.clone().unwrap_or_default()
    )
}
