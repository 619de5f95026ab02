//! The field-name regexes of all policies, compiled into two sets so that a decision
//! searches each field name once instead of once per policy, and remembered per name:
//! an organisation's field vocabulary (`customer_id`, `event_time`, ...) repeats across
//! products and across re-evaluations, and admission is hot.

use crate::fnv::BuildFnv;
use crate::policy::CompiledPolicy;
use crate::regex_limits::{self, PatternError};
use crate::rules::naming::contains_term;
use regex::{RegexSet, SetMatches};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use thiserror::Error;

/// Field names remembered before the memo is cleared; bounds memory.
const MEMO_LIMIT: usize = 65_536;

/// Field patterns of valid policies that cannot be searched together.
#[derive(Debug, Error)]
pub enum FieldPatternsError {
    /// Compiling one field's patterns of several policies as one set failed.
    #[error("{}: {path}: {source}", policies_label(policies))]
    Together {
        /// Names of the policies whose patterns are in the set.
        policies: Vec<String>,
        /// The field they come from, e.g. `spec.naming.fieldNamePattern`.
        path: &'static str,
        /// Why the set does not compile.
        source: PatternError,
    },
}

fn policies_label(policies: &[String]) -> String {
    match policies {
        [one] => format!("GovernancePolicy {one}"),
        many => format!("GovernancePolicies {} together", many.join(", ")),
    }
}

/// Name and PII-detection patterns of every policy of an engine.
#[derive(Debug, Default)]
pub struct FieldPatterns {
    memo: RwLock<HashMap<Box<str>, Arc<FieldFacts>, BuildFnv>>,
    names: Option<RegexSet>,
    /// Policy index → its pattern in `names`.
    name_slot: Vec<Option<usize>>,
    pii: Option<RegexSet>,
    /// Pattern in `pii` → owning policy index.
    pii_owner: Vec<usize>,
    /// Avoided naming terms: (policy index, index in its `preferredTerms`, term).
    avoided: Vec<(usize, usize, String)>,
}

impl Clone for FieldPatterns {
    fn clone(&self) -> Self {
        FieldPatterns {
            memo: RwLock::default(),
            names: self.names.clone(),
            name_slot: self.name_slot.clone(),
            pii: self.pii.clone(),
            pii_owner: self.pii_owner.clone(),
            avoided: self.avoided.clone(),
        }
    }
}

/// What the patterns say about one field name.
#[derive(Debug, Clone)]
pub struct FieldFacts {
    names: Option<SetMatches>,
    pii: Option<SetMatches>,
    /// (policy index, preferred-term index) of every avoided term the name uses.
    avoided: Vec<(usize, usize)>,
}

impl FieldPatterns {
    /// Compiles the sets; `policies[i].index` must be `i`. Every pattern compiled on its
    /// own before, but the patterns of several policies together can still exceed the
    /// size limit: that names the policies instead of failing later.
    pub fn new(policies: &[CompiledPolicy]) -> Result<FieldPatterns, FieldPatternsError> {
        let mut names = Vec::new();
        let mut name_owner = Vec::new();
        let mut name_slot = Vec::with_capacity(policies.len());
        let mut pii = Vec::new();
        let mut pii_owner = Vec::new();
        let mut avoided = Vec::new();
        for (i, p) in policies.iter().enumerate() {
            let terms = p.policy.spec.naming.iter().flat_map(|n| &n.preferred_terms);
            for (t, term) in terms.enumerate() {
                avoided.push((i, t, term.avoid.clone()));
            }
            name_slot.push(p.naming.field_name.as_ref().map(|r| {
                names.push(r.as_str().to_string());
                name_owner.push(i);
                names.len() - 1
            }));
            for pattern in p
                .policy
                .spec
                .pii_detection
                .iter()
                .flat_map(|d| &d.field_patterns)
            {
                pii.push(pattern.clone());
                pii_owner.push(i);
            }
        }
        let set = |patterns: &[String], owners: &[usize], path: &'static str| {
            if patterns.is_empty() {
                return Ok(None);
            }
            regex_limits::set(patterns).map(Some).map_err(|source| {
                let mut owners = owners.to_vec();
                owners.dedup();
                FieldPatternsError::Together {
                    policies: owners
                        .into_iter()
                        .map(|i| policies[i].name.to_string())
                        .collect(),
                    path,
                    source,
                }
            })
        };
        Ok(FieldPatterns {
            memo: RwLock::default(),
            names: set(&names, &name_owner, "spec.naming.fieldNamePattern")?,
            name_slot,
            pii: set(&pii, &pii_owner, "spec.piiDetection.fieldPatterns")?,
            pii_owner,
            avoided,
        })
    }

    /// What every policy's patterns say about a field name, searched at most once per name.
    pub fn facts(&self, name: &str) -> Arc<FieldFacts> {
        // A poisoned lock only means another thread panicked mid-insert; the map is still valid.
        if let Some(hit) = self
            .memo
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
        {
            return hit.clone();
        }
        let facts = Arc::new(self.search(name));
        let mut memo = self.memo.write().unwrap_or_else(|e| e.into_inner());
        if memo.len() >= MEMO_LIMIT {
            memo.clear();
        }
        memo.insert(name.into(), facts.clone());
        facts
    }

    /// Searches a field name once for every policy.
    fn search(&self, name: &str) -> FieldFacts {
        FieldFacts {
            names: self.names.as_ref().map(|s| s.matches(name)),
            // Most names are not personal data: a yes/no search first is much cheaper.
            pii: self
                .pii
                .as_ref()
                .filter(|s| s.is_match(name))
                .map(|s| s.matches(name)),
            avoided: self
                .avoided
                .iter()
                .filter(|(_, _, term)| contains_term(name, term))
                .map(|(policy, index, _)| (*policy, *index))
                .collect(),
        }
    }

    /// Whether the name satisfies policy `index`'s field name pattern (or it has none).
    pub fn name_allowed(&self, facts: &FieldFacts, index: usize) -> bool {
        match (self.name_slot.get(index).copied().flatten(), &facts.names) {
            (Some(slot), Some(hits)) => hits.matched(slot),
            _ => true,
        }
    }

    /// Indices in policy `index`'s `preferredTerms` of the avoided terms the name uses.
    pub fn avoided_terms<'f>(
        &self,
        facts: &'f FieldFacts,
        index: usize,
    ) -> impl Iterator<Item = usize> + 'f {
        facts
            .avoided
            .iter()
            .filter(move |(policy, _)| *policy == index)
            .map(|(_, term)| *term)
    }

    /// The first PII pattern of policy `index` that the name matches.
    pub fn pii_pattern(&self, facts: &FieldFacts, index: usize) -> Option<&str> {
        let (set, hits) = (self.pii.as_ref()?, facts.pii.as_ref()?);
        hits.iter()
            .find(|&p| self.pii_owner[p] == index)
            .map(|p| set.patterns()[p].as_str())
    }
}
