//! Full-text search: an inverted index from tokens to products, matched by prefix.

use crate::entry::Entry;
use crate::query::{Filters, SearchQuery};
use crate::text::tokens;
use crate::views::ProductSummary;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// How much a match in each part of a product counts.
mod weight {
    pub const NAME: u8 = 10;
    pub const DOMAIN: u8 = 6;
    pub const TAG: u8 = 6;
    pub const FIELD_NAME: u8 = 4;
    pub const COMPLIANCE: u8 = 4;
    pub const OWNER: u8 = 3;
    pub const SOURCE: u8 = 3;
    pub const DESCRIPTION: u8 = 2;
    pub const FIELD_DESCRIPTION: u8 = 1;
}

/// Tokens of every indexed product, each with the weight of where it was found.
#[derive(Default, Debug)]
pub(crate) struct TokenIndex {
    postings: BTreeMap<String, HashMap<u32, u8>>,
    tokens_of: HashMap<u32, Vec<String>>,
}

impl TokenIndex {
    pub(crate) fn insert(&mut self, slot: u32, entry: &Entry) {
        self.remove(slot);
        let mut weighted: HashMap<String, u8> = HashMap::new();
        let mut add = |text: &str, w: u8| {
            for token in tokens(text) {
                let best = weighted.entry(token).or_insert(0);
                *best = (*best).max(w);
            }
        };
        let spec = &entry.product.spec;
        add(&entry.id.name, weight::NAME);
        add(&spec.domain, weight::DOMAIN);
        for tag in &spec.tags {
            add(tag, weight::TAG);
        }
        for tag in &entry.compliance_tags {
            add(tag, weight::COMPLIANCE);
        }
        add(&spec.owner, weight::OWNER);
        add(&spec.source.summary(), weight::SOURCE);
        if let Some(d) = &spec.description {
            add(d, weight::DESCRIPTION);
        }
        for field in &spec.schema.fields {
            add(&field.name, weight::FIELD_NAME);
            if let Some(d) = &field.description {
                add(d, weight::FIELD_DESCRIPTION);
            }
        }
        let mut kept = Vec::with_capacity(weighted.len());
        for (token, w) in weighted {
            self.postings
                .entry(token.clone())
                .or_default()
                .insert(slot, w);
            kept.push(token);
        }
        self.tokens_of.insert(slot, kept);
    }

    pub(crate) fn remove(&mut self, slot: u32) {
        for token in self.tokens_of.remove(&slot).unwrap_or_default() {
            if let Some(posting) = self.postings.get_mut(&token) {
                posting.remove(&slot);
                if posting.is_empty() {
                    self.postings.remove(&token);
                }
            }
        }
    }

    /// Products matching every word of `text` (each as a token prefix), with scores.
    /// `None` when the text has no words (everything matches).
    pub(crate) fn matching(&self, text: &str) -> Option<HashMap<u32, u32>> {
        let words = tokens(text);
        if words.is_empty() {
            return None;
        }
        let mut result: Option<HashMap<u32, u32>> = None;
        for word in words {
            let mut scores: HashMap<u32, u32> = HashMap::new();
            for (token, posting) in self.postings.range(word.clone()..) {
                if !token.starts_with(&word) {
                    break;
                }
                let exact = if *token == word { 2 } else { 1 };
                for (&slot, &w) in posting {
                    let s = scores.entry(slot).or_insert(0);
                    *s = (*s).max(u32::from(w) * exact);
                }
            }
            result = Some(match result {
                None => scores,
                Some(previous) => previous
                    .into_iter()
                    .filter_map(|(slot, s)| scores.get(&slot).map(|t| (slot, s + t)))
                    .collect(),
            });
            if result.as_ref().is_some_and(HashMap::is_empty) {
                break;
            }
        }
        result
    }
}

impl Filters {
    /// Whether `entry` passes every filter set.
    pub fn admit(&self, entry: &Entry) -> bool {
        let spec = &entry.product.spec;
        self.domain
            .as_ref()
            .is_none_or(|d| spec.domain.eq_ignore_ascii_case(d))
            && self
                .namespace
                .as_ref()
                .is_none_or(|n| entry.id.namespace == *n)
            && self
                .classification
                .is_none_or(|c| entry.classification >= c)
            && self
                .tag
                .as_ref()
                .is_none_or(|t| spec.tags.iter().any(|x| x.eq_ignore_ascii_case(t)))
            && self
                .compliance
                .as_ref()
                .is_none_or(|t| entry.compliance_tags.contains(t))
            && self.pii.is_none_or(|p| entry.has_pii == p)
            && self.source.is_none_or(|s| entry.source_kind == Some(s))
    }
}

/// One search hit.
#[derive(Serialize, Deserialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct SearchHit {
    /// Relevance: higher is better (0 without free text).
    pub score: u32,
    /// The product.
    #[serde(flatten)]
    pub product: Arc<ProductSummary>,
}

/// The answer to a search.
#[derive(Serialize, Deserialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct SearchResults {
    /// Products matching, before paging.
    pub total: usize,
    /// The page asked for, best first.
    pub hits: Vec<SearchHit>,
}

pub(crate) fn run<'a>(
    index: &TokenIndex,
    entry_at: impl Fn(u32) -> Option<&'a Entry>,
    all_slots: impl Iterator<Item = u32>,
    query: &SearchQuery,
) -> SearchResults {
    let mut ranked: Vec<(u32, &Entry)> = match index.matching(&query.text) {
        Some(scores) => scores
            .into_iter()
            .filter_map(|(slot, score)| entry_at(slot).map(|e| (score, e)))
            .filter(|(_, e)| query.filters.admit(e))
            .collect(),
        None => all_slots
            .filter_map(&entry_at)
            .filter(|e| query.filters.admit(e))
            .map(|e| (0, e))
            .collect(),
    };
    let total = ranked.len();
    let end = query.offset.saturating_add(query.limit).min(total);
    let cmp =
        |a: &(u32, &Entry), b: &(u32, &Entry)| b.0.cmp(&a.0).then_with(|| a.1.id.cmp(&b.1.id));
    if end < total && end > 0 {
        ranked.select_nth_unstable_by(end - 1, cmp);
        ranked.truncate(end);
    }
    ranked.sort_by(cmp);
    let hits = ranked
        .into_iter()
        .skip(query.offset)
        .map(|(score, e)| SearchHit {
            score,
            product: e.summary.clone(),
        })
        .collect();
    SearchResults { total, hits }
}
