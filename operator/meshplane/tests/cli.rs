//! `meshplane plan` and `meshplane crds` as a user runs them.

use std::path::Path;
use std::process::{Command, Output};

fn repo() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

fn meshplane(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_meshplane"))
        .args(args)
        .current_dir(repo())
        .output()
        .expect("meshplane runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn orders_is_admitted_with_masking_encryption_and_a_90_day_lifecycle() {
    let out = meshplane(&[
        "plan",
        "-f",
        "examples/orders.yaml",
        "-p",
        "examples/policy.yaml",
    ]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("# DataProduct orders/orders: ADMITTED"));
    assert!(
        text.contains("masked fields: customer_email (hash), shipping_address (hash)"),
        "{text}"
    );
    assert!(
        text.contains("encryption: AES256; lifecycle: expire after 90 days"),
        "{text}"
    );
    assert!(text.contains("kind: Deployment"));
}

#[test]
fn pii_over_retention_is_rejected_naming_field_limit_and_policy() {
    let out = meshplane(&[
        "plan",
        "-f",
        "examples/rejected/pii-over-retention.yaml",
        "-p",
        "examples/policy.yaml",
    ]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("REJECTED"));
    let line = text
        .lines()
        .find(|l| l.contains("spec.retention"))
        .expect("a retention violation");
    assert!(line.contains("`customer_email`"), "{line}");
    assert!(line.contains("365d"), "{line}");
    assert!(line.contains("policy platform-baseline"), "{line}");
    assert!(
        !text.contains("kind: Deployment"),
        "nothing is rendered for a rejected product"
    );
}

#[test]
fn user_id_is_rejected_naming_customer_id() {
    let out = meshplane(&[
        "plan",
        "-f",
        "examples/rejected/user-id-naming.yaml",
        "-p",
        "examples/policy.yaml",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("the organisation's term is `customer_id`"));
}

#[test]
fn json_output_carries_the_whole_decision() {
    let out = meshplane(&[
        "plan",
        "-o",
        "json",
        "-f",
        "examples/payments.yaml",
        "-p",
        "examples/policy.yaml",
        "-p",
        "examples/audit-policy.yaml",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let reports: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let decision = &reports[0]["decision"];
    assert_eq!(decision["allowed"], true);
    assert_eq!(decision["classification"], "restricted");
    assert_eq!(
        decision["warnings"][0]["policy"],
        "freshness-checks-preview"
    );
    assert_eq!(reports[0]["desired"]["bucket"]["expirationDays"], 180);
}

#[test]
fn bad_input_exits_2_with_a_clear_message() {
    let dir = std::env::temp_dir().join(format!("meshplane-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cases = [
        (
            "broken.yaml",
            "apiVersion: meshplane.dev/v1alpha1\nkind: DataProduct\nspec: [\n",
            "line",
        ),
        (
            "unknown.yaml",
            &include_str!("../../../examples/orders.yaml")
                .replace("retention: 90d", "retention: 90d\n  retension: 1d"),
            "unknown field spec.retension",
        ),
        (
            "kind.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n",
            "`ConfigMap` is not a Meshplane resource",
        ),
    ];
    for (name, text, expected) in cases {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        let out = meshplane(&["plan", "-f", path.to_str().unwrap()]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: {err}");
        assert!(err.contains(expected), "{name}: {err}");
    }
    let policy = dir.join("policy.yaml");
    std::fs::write(&policy, "apiVersion: meshplane.dev/v1alpha1\nkind: GovernancePolicy\nmetadata: {name: bad}\nspec:\n  piiDetection: {fieldPatterns: ['(']}\n").unwrap();
    let out = meshplane(&[
        "plan",
        "-f",
        "examples/orders.yaml",
        "-p",
        policy.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("spec.piiDetection.fieldPatterns[0]"));
    let out = meshplane(&["plan", "-f", "does-not-exist.yaml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read does-not-exist.yaml"));
}

#[test]
fn a_policy_whose_patterns_are_too_large_together_exits_2_naming_policy_and_field() {
    let out = meshplane(&[
        "plan",
        "-f",
        "examples/orders.yaml",
        "-p",
        "operator/meshplane/tests/fixtures/oversized-patterns-policy.yaml",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("GovernancePolicy strict is invalid")
            && err.contains(
                "spec.piiDetection.fieldPatterns: the combined patterns exceed the regex size limit"
            ),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn committed_crds_match_the_rust_types() {
    let out = meshplane(&["crds"]);
    assert!(out.status.success());
    let committed = std::fs::read_to_string(repo().join("crds/meshplane.dev_crds.yaml")).unwrap();
    assert!(
        stdout(&out) == committed,
        "crds/ drifted from the Rust types: run `make crds` and commit"
    );
}

#[test]
fn every_crd_field_is_documented() {
    let crds: Vec<serde_yaml::Value> =
        serde_yaml::Deserializer::from_str(&stdout(&meshplane(&["crds"])))
            .map(|d| serde::Deserialize::deserialize(d).unwrap())
            .collect();
    fn walk(schema: &serde_yaml::Value, path: &str, missing: &mut Vec<String>) {
        if let Some(props) = schema.get("properties").and_then(|p| p.as_mapping()) {
            for (name, sub) in props {
                let name = name.as_str().unwrap();
                let here = format!("{path}.{name}");
                // metadata, apiVersion and kind are documented by Kubernetes itself; conditions are k8s types.
                let standard =
                    path.is_empty() && ["metadata", "apiVersion", "kind"].contains(&name);
                if !standard && sub.get("description").is_none() {
                    missing.push(here.clone());
                }
                walk(sub, &here, missing);
            }
        }
        if let Some(items) = schema.get("items") {
            walk(items, &format!("{path}[]"), missing);
        }
        if let Some(extra) = schema.get("additionalProperties") {
            walk(extra, &format!("{path}{{}}"), missing);
        }
    }
    let mut missing = Vec::new();
    for crd in &crds {
        let schema = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
        walk(schema, "", &mut missing);
    }
    assert!(missing.is_empty(), "undocumented CRD fields: {missing:#?}");
}
