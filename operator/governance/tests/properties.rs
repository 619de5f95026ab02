//! Properties of the engine over generated products and policies.

use meshplane_api::load::{load_all, Resource};
use meshplane_api::{
    Classification, DataProduct, Field, FieldType, GovernancePolicy, MaskingStrategy,
};
use meshplane_governance::Engine;
use proptest::prelude::*;

const PLATFORM_POLICY: &str = include_str!("../../../examples/policy.yaml");
const BASE: &str = include_str!("fixtures/base-product.yaml");

fn platform() -> Vec<GovernancePolicy> {
    load_all(PLATFORM_POLICY, "policy")
        .unwrap()
        .into_iter()
        .filter_map(|r| match r {
            Resource::GovernancePolicy(p) => Some(*p),
            Resource::DataProduct(_) => None,
        })
        .collect()
}

fn classification() -> impl Strategy<Value = Option<Classification>> {
    prop::option::of(prop::sample::select(Classification::ALL.to_vec()))
}

fn masking() -> impl Strategy<Value = Option<MaskingStrategy>> {
    prop::option::of(prop::sample::select(vec![
        MaskingStrategy::None,
        MaskingStrategy::Partial,
        MaskingStrategy::Hash,
        MaskingStrategy::Redact,
    ]))
}

fn field() -> impl Strategy<Value = Field> {
    let names = prop::sample::select(vec![
        "order_id",
        "customer_email",
        "shipping_address",
        "phone",
        "user_id",
        "first_name",
        "amount",
        "status",
        "event_time",
        "Bad Name",
        "ip",
        "notes",
    ]);
    (
        names,
        0u8..20,
        classification(),
        prop::option::of(any::<bool>()),
        masking(),
    )
        .prop_map(|(name, suffix, classification, pii, masking)| Field {
            name: if suffix < 10 {
                name.to_string()
            } else {
                format!("{name}_{suffix}")
            },
            field_type: FieldType::String,
            nullable: true,
            description: None,
            classification,
            pii,
            masking,
        })
}

fn product() -> impl Strategy<Value = DataProduct> {
    (
        prop::collection::vec(field(), 0..12),
        classification(),
        prop::sample::select(vec!["1d", "90d", "400d", "5m", "x"]),
        prop::sample::select(vec!["orders", "payments"]),
    )
        .prop_map(|(fields, declared, retention, domain)| {
            let mut p = meshplane_api::load::load_data_product(BASE, "base").unwrap();
            p.spec.schema.fields = fields;
            p.spec.classification = declared;
            p.spec.retention = retention.to_string();
            p.spec.domain = domain.to_string();
            p.spec.output.table.as_mut().unwrap().partitioning = None;
            p
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn applying_the_decision_twice_equals_applying_it_once(p in product()) {
        let engine = Engine::new(&platform()).unwrap();
        let once = engine.evaluate(&p);
        let twice = engine.evaluate(&once.effective);
        prop_assert!(twice.mutations.is_empty(), "{:?}", twice.mutations);
        prop_assert_eq!(&twice.effective, &once.effective);
        prop_assert_eq!(twice.allowed, once.allowed);
    }

    #[test]
    fn product_classification_is_at_least_every_fields(p in product()) {
        let engine = Engine::new(&platform()).unwrap();
        let decision = engine.evaluate(&p);
        let effective = decision.effective.spec.classification.unwrap();
        prop_assert_eq!(effective, decision.classification);
        for f in &decision.effective.spec.schema.fields {
            prop_assert!(f.classification.unwrap() <= effective);
        }
    }

    #[test]
    fn an_admitted_product_never_has_unmasked_personal_data(p in product()) {
        for policies in [vec![], platform()] {
            let decision = Engine::new(&policies).unwrap().evaluate(&p);
            if decision.allowed {
                for f in decision.effective.spec.schema.fields.iter().filter(|f| f.is_pii()) {
                    prop_assert!(
                        matches!(f.masking, Some(m) if m != MaskingStrategy::None),
                        "{} is unmasked", f.name
                    );
                }
            }
        }
    }
}
