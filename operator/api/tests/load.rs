//! Loading resources from YAML: every kind of bad input gets an error that says what is
//! wrong and where.

use meshplane_api::load::{load_all, load_data_product, LoadError, Resource};
use proptest::prelude::*;

const ORDERS: &str = include_str!("../../../examples/orders.yaml");

#[test]
fn every_example_loads() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples");
    let mut count = 0;
    for sub in ["", "rejected"] {
        for entry in std::fs::read_dir(format!("{dir}/{sub}")).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "yaml") {
                let text = std::fs::read_to_string(&path).unwrap();
                load_all(&text, &path.display().to_string()).unwrap();
                count += 1;
            }
        }
    }
    assert!(count >= 9, "only {count} examples found");
}

#[test]
fn malformed_yaml_reports_line_and_column() {
    let text =
        "apiVersion: meshplane.dev/v1alpha1\nkind: DataProduct\nmetadata:\n  name: x\n spec: [\n";
    let err = load_all(text, "bad.yaml").unwrap_err();
    match &err {
        LoadError::Syntax { line, column, .. } => {
            assert_eq!(*line, Some(5));
            assert!(column.is_some());
        }
        other => panic!("expected a syntax error, got {other}"),
    }
    assert!(
        err.to_string().starts_with("bad.yaml: document 1:"),
        "{err}"
    );
    assert!(err.to_string().contains("line 5"), "{err}");
}

#[test]
fn a_wrong_value_type_reports_where() {
    let text = ORDERS.replace("retention: 90d", "retention: [90d]");
    let err = load_all(&text, "orders.yaml").unwrap_err().to_string();
    assert!(err.contains("line"), "{err}");
    assert!(
        err.contains("spec") || err.contains("retention") || err.contains("sequence"),
        "{err}"
    );
}

#[test]
fn an_unknown_variant_names_the_choices() {
    let text = ORDERS.replace("format: json", "format: avro");
    let err = load_all(&text, "orders.yaml").unwrap_err().to_string();
    assert!(err.contains("avro") && err.contains("json"), "{err}");
}

#[test]
fn unknown_fields_are_named_not_dropped() {
    let text = ORDERS
        .replace("  retention: 90d", "  retention: 90d\n  retension: 30d")
        .replace(
            "pii: true, description: Email",
            "pii: true, maskng: hash, description: Email",
        );
    let err = load_all(&text, "orders.yaml").unwrap_err();
    match &err {
        LoadError::UnknownFields { fields, name, .. } => {
            assert_eq!(name, "orders");
            assert!(fields.contains(&"spec.retension".to_string()), "{fields:?}");
            assert!(
                fields.contains(&"spec.schema.fields.2.maskng".to_string()),
                "{fields:?}"
            );
        }
        other => panic!("expected unknown fields, got {other}"),
    }
}

#[test]
fn an_unknown_metadata_field_is_named() {
    let text = ORDERS.replace(
        "  namespace: orders",
        "  namespace: orders\n  lables: {a: b}",
    );
    let err = load_all(&text, "orders.yaml").unwrap_err().to_string();
    assert!(err.contains("metadata.lables"), "{err}");
}

#[test]
fn wrong_kind_and_api_version_are_refused() {
    let err = load_all(
        &ORDERS.replace("kind: DataProduct", "kind: Deployment"),
        "o.yaml",
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("`Deployment` is not a Meshplane resource"),
        "{err}"
    );
    let err = load_all(
        &ORDERS.replace("meshplane.dev/v1alpha1", "meshplane.dev/v2"),
        "o.yaml",
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("apiVersion `meshplane.dev/v2` is not served"),
        "{err}"
    );
    let err = load_all("metadata: {name: x}\n", "o.yaml")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("`apiVersion` and `kind` are required"),
        "{err}"
    );
    let err = load_all("- a\n- b\n", "o.yaml").unwrap_err().to_string();
    assert!(err.contains("expected a mapping"), "{err}");
}

#[test]
fn empty_input_is_an_error() {
    assert!(matches!(
        load_all("", "e.yaml"),
        Err(LoadError::Empty { .. })
    ));
    assert!(matches!(
        load_all("---\n---\n", "e.yaml"),
        Err(LoadError::Empty { .. })
    ));
}

#[test]
fn documents_are_counted_in_multi_document_streams() {
    let policy = include_str!("../../../examples/policy.yaml");
    let text = format!(
        "{policy}---\n{}",
        ORDERS.replace("owner: orders-team@example.com", "owner: [x]")
    );
    let err = load_all(&text, "both.yaml").unwrap_err().to_string();
    assert!(err.contains("document 2"), "{err}");
    let ok = load_all(&format!("{policy}---\n{ORDERS}"), "both.yaml").unwrap();
    assert!(matches!(ok[0], Resource::GovernancePolicy(_)));
    assert!(matches!(ok[1], Resource::DataProduct(_)));
}

#[test]
fn load_data_product_refuses_a_policy() {
    let err =
        load_data_product(include_str!("../../../examples/policy.yaml"), "p.yaml").unwrap_err();
    assert!(err.to_string().contains("expected a DataProduct"), "{err}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,300}") {
        let _ = load_all(&text, "fuzz");
    }

    #[test]
    fn mutilated_examples_never_panic(cut in 0usize..ORDERS.len(), junk in "[ :\\-\\[\\]{}a-z0-9\n]{0,12}") {
        let mut text = ORDERS.as_bytes()[..cut].to_vec();
        text.extend_from_slice(junk.as_bytes());
        text.extend_from_slice(&ORDERS.as_bytes()[cut..]);
        if let Ok(text) = String::from_utf8(text) {
            if let Ok(resources) = load_all(&text, "fuzz") {
                // Whatever loads serializes back: nothing half-built escapes.
                for r in resources {
                    if let Resource::DataProduct(p) = r {
                        prop_assert!(serde_json::to_string(&p).is_ok());
                    }
                }
            }
        }
    }
}
