//! Shared by the catalog's tests and benchmark: the example resources, and synthetic
//! products made from them.
#![allow(dead_code)] // each test target uses a part of it

use meshplane_api::load::{load_all, Resource};
use meshplane_api::{DataProduct, GovernancePolicy};

const EXAMPLES: [(&str, &str); 7] = [
    (
        "orders.yaml",
        include_str!("../../../../examples/orders.yaml"),
    ),
    (
        "payments.yaml",
        include_str!("../../../../examples/payments.yaml"),
    ),
    (
        "customer-profile.yaml",
        include_str!("../../../../examples/customer-profile.yaml"),
    ),
    (
        "exchange-rates.yaml",
        include_str!("../../../../examples/exchange-rates.yaml"),
    ),
    (
        "daily-revenue.yaml",
        include_str!("../../../../examples/daily-revenue.yaml"),
    ),
    (
        "policy.yaml",
        include_str!("../../../../examples/policy.yaml"),
    ),
    (
        "audit-policy.yaml",
        include_str!("../../../../examples/audit-policy.yaml"),
    ),
];

/// The example products and policies of `examples/`.
pub fn examples() -> (Vec<DataProduct>, Vec<GovernancePolicy>) {
    let mut products = Vec::new();
    let mut policies = Vec::new();
    for (name, text) in EXAMPLES {
        for resource in load_all(text, name).expect("examples load") {
            match resource {
                Resource::DataProduct(p) => products.push(*p),
                Resource::GovernancePolicy(p) => policies.push(*p),
            }
        }
    }
    (products, policies)
}

const WORDS: [&str; 24] = [
    "invoice",
    "shipment",
    "refund",
    "session",
    "click",
    "inventory",
    "ledger",
    "claim",
    "subscription",
    "device",
    "sensor",
    "campaign",
    "basket",
    "loyalty",
    "warehouse",
    "supplier",
    "ticket",
    "review",
    "transfer",
    "account",
    "booking",
    "route",
    "return",
    "quote",
];

/// `n` products made by renaming and varying the examples: distinct names, domains,
/// descriptions and field names, the same shapes.
pub fn synthetic(n: usize) -> Vec<DataProduct> {
    let (examples, _) = examples();
    (0..n)
        .map(|i| {
            let mut p = examples[i % examples.len()].clone();
            let word = WORDS[i % WORDS.len()];
            let other = WORDS[(i / WORDS.len()) % WORDS.len()];
            p.metadata.name = Some(format!("{word}-{other}-{i}"));
            p.metadata.namespace = Some(format!("team-{}", i % 40));
            p.spec.domain = format!("{word}s");
            p.spec.description = Some(format!("Synthetic {word} {other} records number {i}."));
            p.spec.tags.push(other.to_owned());
            for (j, field) in p.spec.schema.fields.iter_mut().enumerate() {
                if j % 3 == 1 {
                    field.name = format!("{}_{other}_{j}", field.name);
                }
            }
            if let Some(products) = &mut p.spec.source.products {
                for input in &mut products.inputs {
                    input.name = format!("{}-{}", input.name, i % 7);
                }
            }
            p
        })
        .collect()
}
