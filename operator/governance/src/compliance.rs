//! How the products in a cluster stand against each policy in force: how many each policy
//! applies to and how many break it. Feeds `GovernancePolicy.status`; bounded, so a
//! policy over thousands of products still has a small status.

use crate::Engine;
use meshplane_api::DataProduct;
use std::collections::{BTreeMap, BTreeSet};

/// Names of non-compliant products kept per policy (the count is always exact).
pub const EXAMPLES_KEPT: usize = 5;

/// One policy's standing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicyTally {
    /// Products the policy's scope selects.
    pub matched: u64,
    /// Selected products with at least one finding of the policy (a violation under
    /// `Enforce`, a warning under `Audit`) when decided today.
    pub non_compliant: u64,
    /// `namespace/name` of the first [`EXAMPLES_KEPT`] non-compliant products, by name.
    pub examples: BTreeSet<String>,
}

/// Decides every product with `engine` and counts, per policy in force, the products it
/// applies to and those that break it. Every policy in force has an entry, matched or not.
pub fn tally(engine: &Engine, products: &[DataProduct]) -> BTreeMap<String, PolicyTally> {
    let mut out: BTreeMap<String, PolicyTally> = engine
        .policies()
        .iter()
        .map(|p| (p.name.to_string(), PolicyTally::default()))
        .collect();
    for product in products {
        let key = format!(
            "{}/{}",
            product.metadata.namespace.as_deref().unwrap_or("default"),
            product.metadata.name.as_deref().unwrap_or_default()
        );
        let decision = engine.evaluate(product);
        let broken: BTreeSet<&str> = decision
            .violations
            .iter()
            .chain(&decision.warnings)
            .map(|f| &*f.policy)
            .collect();
        for policy in &decision.policies {
            let Some(entry) = out.get_mut(policy) else {
                continue;
            };
            entry.matched += 1;
            if broken.contains(policy.as_str()) {
                entry.non_compliant += 1;
                entry.examples.insert(key.clone());
                if entry.examples.len() > EXAMPLES_KEPT {
                    entry.examples.pop_last();
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use meshplane_api::load::{load_all, load_data_product, Resource};
    use meshplane_api::GovernancePolicy;

    fn policies(text: &str) -> Vec<GovernancePolicy> {
        load_all(text, "fixture")
            .unwrap()
            .into_iter()
            .filter_map(|r| match r {
                Resource::GovernancePolicy(p) => Some(*p),
                Resource::DataProduct(_) => None,
            })
            .collect()
    }

    const POLICIES: &str = r#"
apiVersion: meshplane.dev/v1alpha1
kind: GovernancePolicy
metadata: { name: sales-naming }
spec:
  enforcement: Audit
  appliesTo: { domains: [sales] }
  naming: { productNamePattern: "^sales-[a-z-]+$" }
---
apiVersion: meshplane.dev/v1alpha1
kind: GovernancePolicy
metadata: { name: nobody }
spec:
  enforcement: Audit
  appliesTo: { domains: [nowhere] }
  naming: { productNamePattern: "^x$" }
"#;

    fn product(namespace: &str, name: &str, domain: &str) -> DataProduct {
        let text = include_str!("../../../examples/orders.yaml")
            .replace("name: orders\n", &format!("name: {name}\n"))
            .replace("namespace: orders", &format!("namespace: {namespace}"))
            .replace("domain: orders", &format!("domain: {domain}"));
        load_data_product(&text, "fixture").unwrap()
    }

    #[test]
    fn counts_matched_and_non_compliant_products_per_policy() {
        let policies = policies(POLICIES);
        let engine = Engine::new(&policies).unwrap();
        let products = vec![
            product("sales", "sales-orders", "sales"),
            product("sales", "orders", "sales"),
            product("hr", "people", "hr"),
        ];
        let tally = tally(&engine, &products);
        assert_eq!(tally.len(), 2);
        let naming = &tally["sales-naming"];
        assert_eq!((naming.matched, naming.non_compliant), (2, 1));
        assert_eq!(
            naming.examples,
            BTreeSet::from(["sales/orders".to_string()])
        );
        assert_eq!(tally["nobody"], PolicyTally::default());
    }

    #[test]
    fn keeps_a_few_names_and_the_exact_count() {
        let policies = policies(POLICIES);
        let engine = Engine::new(&policies).unwrap();
        let products: Vec<DataProduct> = (0..40)
            .map(|i| product("sales", &format!("bad{i:02}"), "sales"))
            .collect();
        let naming = &tally(&engine, &products)["sales-naming"];
        assert_eq!((naming.matched, naming.non_compliant), (40, 40));
        assert_eq!(naming.examples.len(), EXAMPLES_KEPT);
        assert_eq!(naming.examples.first().unwrap(), "sales/bad00");
        assert_eq!(naming.examples.last().unwrap(), "sales/bad04");
    }
}
