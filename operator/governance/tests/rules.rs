//! Table-driven tests: one row per rule, from YAML fixtures. Each row edits the base
//! product (`fixtures/base-product.yaml`) and names the finding it expects.

use meshplane_api::load::{load_all, load_data_product, Resource};
use meshplane_api::{DataProduct, GovernancePolicy};
use meshplane_governance::{Decision, Engine, Rule, BUILT_IN};

const BASE: &str = include_str!("fixtures/base-product.yaml");
const PLATFORM_POLICY: &str = include_str!("../../../examples/policy.yaml");

fn base() -> DataProduct {
    load_data_product(BASE, "base-product.yaml").expect("base product loads")
}

fn policies(yaml: &[&str]) -> Vec<GovernancePolicy> {
    yaml.iter()
        .flat_map(|text| load_all(text, "policy").expect("policy loads"))
        .map(|r| match r {
            Resource::GovernancePolicy(p) => *p,
            Resource::DataProduct(_) => panic!("expected a policy"),
        })
        .collect()
}

/// Applies a YAML merge of `patch` onto the base product's JSON (objects merge, the rest replaces).
fn edit(patch: &str) -> DataProduct {
    fn merge(into: &mut serde_json::Value, patch: serde_json::Value) {
        match (into, patch) {
            (serde_json::Value::Object(a), serde_json::Value::Object(b)) => {
                for (k, v) in b {
                    if v.is_null() {
                        a.remove(&k);
                    } else {
                        merge(a.entry(k).or_insert(serde_json::Value::Null), v);
                    }
                }
            }
            (slot, value) => *slot = value,
        }
    }
    let mut value = serde_json::to_value(base()).unwrap();
    let patch: serde_json::Value = serde_yaml::from_str(patch).expect("patch is YAML");
    merge(&mut value, patch);
    serde_json::from_value(value).expect("edited product is well-typed")
}

fn decide(product: &DataProduct, policy_yaml: &[&str]) -> Decision {
    Engine::new(&policies(policy_yaml))
        .expect("policies compile")
        .evaluate(product)
}

fn policy(name: &str, enforcement: &str, spec: &str) -> String {
    format!(
        "apiVersion: meshplane.dev/v1alpha1\nkind: GovernancePolicy\nmetadata: {{ name: {name} }}\nspec:\n  enforcement: {enforcement}\n{}",
        spec.lines().map(|l| format!("  {l}\n")).collect::<String>()
    )
}

struct Row {
    case: &'static str,
    patch: &'static str,
    policy: &'static str,
    rule: Rule,
    path: &'static str,
    mentions: &'static [&'static str],
}

fn rows() -> Vec<Row> {
    vec![
        Row { case: "no source", patch: "spec: { source: { kafka: null } }", policy: "", rule: Rule::Source, path: "spec.source", mentions: &["no source"] },
        Row { case: "two sources", patch: "spec: { source: { batch: { url: 'http://x', schedule: '0 * * * *' } } }", policy: "", rule: Rule::Source, path: "spec.source", mentions: &["2 sources", "kafka, batch"] },
        Row { case: "stream output onto the source topic", patch: "spec: { output: { stream: { topic: orders.events } } }", policy: "", rule: Rule::Source, path: "spec.output.stream.topic", mentions: &["orders.events"] },
        Row { case: "more consumers than partitions", patch: "spec: { source: { kafka: { partitions: 6, consumers: 8 } } }", policy: "", rule: Rule::Source, path: "spec.source.kafka.consumers", mentions: &["8 consumers", "6 partitions", "2 would stay idle"] },
        Row { case: "derived from itself", patch: "spec: { source: { kafka: null, products: { inputs: [ { name: orders } ], transform: 'select 1' } } }", policy: "", rule: Rule::Source, path: "spec.source.products.inputs[0]", mentions: &["itself"] },
        Row { case: "empty schema", patch: "spec: { schema: { fields: [] }, output: { table: { partitioning: null } }, quality: [] }", policy: "", rule: Rule::Schema, path: "spec.schema.fields", mentions: &["no fields"] },
        Row { case: "duplicate field", patch: "spec: { schema: { fields: [ { name: a, type: string }, { name: a, type: long } ] }, output: { table: { partitioning: null } }, quality: [] }", policy: "", rule: Rule::Schema, path: "spec.schema.fields[1].name", mentions: &["`a`", "more than once"] },
        Row { case: "partitioning by a missing field", patch: "spec: { output: { table: { partitioning: { field: created_at } } } }", policy: "", rule: Rule::Schema, path: "spec.output.table.partitioning.field", mentions: &["created_at"] },
        Row { case: "partitioning by a non-time field", patch: "spec: { output: { table: { partitioning: { field: order_total } } } }", policy: "", rule: Rule::Schema, path: "spec.output.table.partitioning.field", mentions: &["order_total", "timestamp"] },
        Row { case: "malformed retention", patch: "spec: { retention: 90days }", policy: "", rule: Rule::Schema, path: "spec.retention", mentions: &["90days"] },
        Row { case: "no output port", patch: "spec: { output: { table: null } }", policy: "", rule: Rule::Schema, path: "spec.output", mentions: &["no output"] },
        Row { case: "unmasked personal data", patch: "spec: { schema: { fields: [ { name: order_id, type: string }, { name: customer_email, type: string, pii: true, masking: none }, { name: event_time, type: timestamp } ] } }", policy: "", rule: Rule::Masking, path: "spec.schema.fields[1].masking", mentions: &["customer_email", "unmasked"] },
        Row { case: "quality check on an unknown field", patch: "spec: { quality: [ { name: q, type: notNull, field: nope } ] }", policy: "", rule: Rule::Quality, path: "spec.quality[0].field", mentions: &["nope"] },
        Row { case: "range with min above max", patch: "spec: { quality: [ { name: q, type: range, field: order_total, min: 5, max: 1 } ] }", policy: "", rule: Rule::Quality, path: "spec.quality[0]", mentions: &["min 5", "max 1"] },
        Row { case: "invalid pattern check", patch: "spec: { quality: [ { name: q, type: pattern, field: order_id, pattern: '(' } ] }", policy: "", rule: Rule::Quality, path: "spec.quality[0].pattern", mentions: &["not a valid regular expression"] },
        Row { case: "accepted values missing", patch: "spec: { quality: [ { name: q, type: accepted, field: order_id } ] }", policy: "", rule: Rule::Quality, path: "spec.quality[0].values", mentions: &["no values"] },
        Row { case: "product name pattern", patch: "metadata: { name: Orders_v1 }", policy: "naming: { productNamePattern: '^[a-z-]+$' }", rule: Rule::ProductName, path: "metadata.name", mentions: &["Orders_v1", "^[a-z-]+$"] },
        Row { case: "field name pattern", patch: "spec: { schema: { fields: [ { name: orderId, type: string }, { name: event_time, type: timestamp } ] } , quality: [] }", policy: "naming: { fieldNamePattern: '^[a-z][a-z0-9_]*$' }", rule: Rule::FieldName, path: "spec.schema.fields[0].name", mentions: &["orderId"] },
        Row { case: "preferred term", patch: "spec: { schema: { fields: [ { name: order_id, type: string }, { name: billing_user_id, type: string }, { name: event_time, type: timestamp } ] } }", policy: "naming: { preferredTerms: [ { avoid: user_id, use: customer_id } ] }", rule: Rule::PreferredTerm, path: "spec.schema.fields[1].name", mentions: &["customer_id", "billing_customer_id"] },
        Row { case: "personal data classified too low", patch: "spec: { schema: { fields: [ { name: order_id, type: string }, { name: customer_email, type: string, pii: true, classification: internal }, { name: event_time, type: timestamp } ] } }", policy: "classification: { piiMinimum: confidential }", rule: Rule::Classification, path: "spec.schema.fields[1].classification", mentions: &["internal", "confidential"] },
        Row { case: "masking weaker than required", patch: "spec: { schema: { fields: [ { name: order_id, type: string }, { name: customer_email, type: string, pii: true, masking: partial }, { name: event_time, type: timestamp } ] } }", policy: "masking: { pii: hash }", rule: Rule::Masking, path: "spec.schema.fields[1].masking", mentions: &["partial", "hash"] },
        Row { case: "encryption disabled", patch: "spec: { encryption: { enabled: false } }", policy: "encryption: { required: true }", rule: Rule::Encryption, path: "spec.encryption.enabled", mentions: &["disabled"] },
        Row { case: "encryption weaker than required", patch: "spec: { encryption: { enabled: true, algorithm: AES256 } }", policy: "encryption: { required: true, algorithm: 'aws:kms' }", rule: Rule::Encryption, path: "spec.encryption.algorithm", mentions: &["AES256", "aws:kms"] },
        Row { case: "KMS without a key", patch: "spec: { encryption: { enabled: true, algorithm: 'aws:kms' } }", policy: "encryption: { required: true }", rule: Rule::Encryption, path: "spec.encryption.kmsKeyId", mentions: &["key id"] },
        Row { case: "personal data kept too long", patch: "spec: { retention: 400d }", policy: "retention: { maxPii: 365d }", rule: Rule::Retention, path: "spec.retention", mentions: &["400d", "365d", "customer_email"] },
        Row { case: "classification kept too long", patch: "spec: { retention: 40d }", policy: "retention: { maxByClassification: [ { classification: confidential, max: 30d } ] }", rule: Rule::Retention, path: "spec.retention", mentions: &["40d", "30d", "confidential"] },
        Row { case: "reader not allowed", patch: "spec: { access: { readers: [ { kind: User, name: mallory } ] } }", policy: "access: [ { classification: confidential, allowed: [ { kind: Group, namePattern: '.*-analysts' } ] } ]", rule: Rule::Access, path: "spec.access.readers[0]", mentions: &["User:mallory", "confidential", "Group:.*-analysts"] },
        Row { case: "service account reader outside allowed namespaces", patch: "spec: { access: { readers: [ { kind: ServiceAccount, namespace: sandbox, name: job } ] } }", policy: "access: [ { classification: internal, allowed: [ { kind: ServiceAccount, namePattern: 'finance/.*' } ] } ]", rule: Rule::Access, path: "spec.access.readers[0]", mentions: &["ServiceAccount:sandbox/job"] },
        Row { case: "required quality check missing", patch: "spec: { quality: [] }", policy: "quality: { required: [notNull, freshness] }", rule: Rule::Quality, path: "spec.quality", mentions: &["notNull"] },
    ]
}

#[test]
fn every_rule_rejects_its_violation_naming_path_rule_and_policy() {
    let mut failures = Vec::new();
    for row in rows() {
        let product = edit(row.patch);
        let policy_yaml = if row.policy.is_empty() {
            String::new()
        } else {
            policy("p", "Enforce", row.policy)
        };
        let texts: Vec<&str> = if row.policy.is_empty() {
            vec![]
        } else {
            vec![&policy_yaml]
        };
        let decision = decide(&product, &texts);
        let expected_policy = if row.policy.is_empty() { BUILT_IN } else { "p" };
        let found = decision.violations.iter().find(|v| {
            v.rule == row.rule
                && v.path == row.path
                && &*v.policy == expected_policy
                && row
                    .mentions
                    .iter()
                    .all(|m| v.message.contains(m) || v.hint.contains(m))
                && !v.hint.is_empty()
        });
        if found.is_none() || decision.allowed {
            failures.push(format!(
                "{}: expected {:?} at {} ({:?}); got {:#?}",
                row.case, row.rule, row.path, row.mentions, decision.violations
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn the_same_rows_under_an_audit_policy_warn_and_admit() {
    for row in rows().into_iter().filter(|r| !r.policy.is_empty()) {
        let product = edit(row.patch);
        let decision = decide(&product, &[&policy("preview", "Audit", row.policy)]);
        assert!(decision.allowed, "{}: {:?}", row.case, decision.violations);
        assert!(
            decision
                .warnings
                .iter()
                .any(|w| w.rule == row.rule && w.path == row.path && &*w.policy == "preview"),
            "{}: {:?}",
            row.case,
            decision.warnings
        );
    }
}

#[test]
fn the_base_product_is_admitted_under_the_platform_policy() {
    let decision = decide(&base(), &[PLATFORM_POLICY]);
    assert!(decision.allowed, "{:#?}", decision.violations);
    assert!(decision.warnings.is_empty());
}

#[test]
fn a_policy_scoped_to_another_domain_does_not_apply() {
    let scoped = policy(
        "payments-only",
        "Enforce",
        "appliesTo: { domains: [payments] }\nretention: { maxPii: 1d }",
    );
    let decision = decide(&base(), &[&scoped]);
    assert!(decision.allowed);
    assert!(decision.policies.is_empty());
    let labelled = policy("gold", "Enforce", "appliesTo: { matchLabels: { tier: gold }, namespaces: ['ord*'] }\nretention: { maxPii: 1d }");
    assert!(decide(&base(), &[&labelled]).allowed);
    let product = edit("metadata: { labels: { tier: gold } }");
    let decision = decide(&product, &[&labelled]);
    assert!(!decision.allowed);
    assert_eq!(decision.policies, vec!["gold"]);
}

#[test]
fn detected_pii_is_tagged_masked_and_classified() {
    let product = edit("spec: { schema: { fields: [ { name: order_id, type: string }, { name: shipping_address, type: string }, { name: event_time, type: timestamp } ] } }");
    let decision = decide(&product, &[PLATFORM_POLICY]);
    assert!(decision.allowed, "{:?}", decision.violations);
    let field = &decision.effective.spec.schema.fields[1];
    assert_eq!(field.pii, Some(true));
    assert_eq!(field.masking, Some(meshplane_api::MaskingStrategy::Hash));
    assert_eq!(
        field.classification,
        Some(meshplane_api::Classification::Confidential)
    );
    assert!(
        decision
            .mutations
            .iter()
            .any(|m| m.path.to_string() == "spec.schema.fields[1].pii"
                && m.reason.contains("address"))
    );
    let labels = decision
        .effective
        .metadata
        .labels
        .clone()
        .unwrap_or_default();
    assert_eq!(
        labels
            .get("compliance.meshplane.dev/gdpr")
            .map(String::as_str),
        Some("true")
    );
    assert!(decision.compliance_tags.contains("gdpr"));
}

#[test]
fn a_field_declared_not_pii_is_respected() {
    let product = edit("spec: { schema: { fields: [ { name: order_id, type: string }, { name: email_opt_in, type: boolean, pii: false }, { name: event_time, type: timestamp } ] } }");
    let decision = decide(&product, &[PLATFORM_POLICY]);
    let field = &decision.effective.spec.schema.fields[1];
    assert_eq!(field.pii, Some(false));
    assert_eq!(field.masking, None);
}

#[test]
fn policies_that_disagree_are_reported_and_the_strictest_wins() {
    let soft = policy(
        "soft",
        "Enforce",
        "masking: { pii: partial }\nretention: { maxPii: 365d }",
    );
    let strict = policy(
        "strict",
        "Enforce",
        "masking: { pii: redact }\nretention: { maxPii: 30d }",
    );
    let product = edit("spec: { retention: 60d }");
    let decision = decide(&product, &[&soft, &strict]);
    assert_eq!(
        decision.effective.spec.schema.fields[1].masking,
        Some(meshplane_api::MaskingStrategy::Redact)
    );
    let conflict = decision
        .conflicts
        .iter()
        .find(|c| c.setting == "masking.pii")
        .expect("conflict reported");
    assert_eq!(conflict.chosen, "redact");
    assert!(conflict.positions.contains(&"soft=partial".to_string()));
    // The stricter retention limit rejects; the looser one does not complain.
    assert_eq!(decision.violations.len(), 1, "{:?}", decision.violations);
    assert_eq!(&*decision.violations[0].policy, "strict");
}

#[test]
fn policy_order_does_not_change_the_decision() {
    let a = policy("a", "Enforce", "masking: { pii: partial }");
    let b = policy(
        "b",
        "Enforce",
        "masking: { pii: redact }\nclassification: { defaultField: confidential }",
    );
    assert_eq!(decide(&base(), &[&a, &b]), decide(&base(), &[&b, &a]));
}

#[test]
fn product_classification_is_raised_to_its_most_sensitive_field() {
    let product = edit("spec: { classification: public }");
    let decision = decide(&product, &[]);
    assert_eq!(
        decision.classification,
        meshplane_api::Classification::Confidential
    );
    assert_eq!(
        decision.effective.spec.classification,
        Some(meshplane_api::Classification::Confidential)
    );
}

#[test]
fn applying_the_mutations_twice_equals_once() {
    let first = decide(&base(), &[PLATFORM_POLICY]);
    let second = decide(&first.effective, &[PLATFORM_POLICY]);
    assert!(second.mutations.is_empty(), "{:?}", second.mutations);
    assert_eq!(second.effective, first.effective);
}

#[test]
fn an_invalid_policy_names_the_rule_and_the_pattern() {
    let bad = policy("broken", "Enforce", "piiDetection: { fieldPatterns: [ 'email', '([unclosed' ] }\nmasking: { pii: none }\nretention: { maxPii: 0d }");
    let err = Engine::new(&policies(&[&bad])).unwrap_err().to_string();
    assert!(err.contains("GovernancePolicy broken"), "{err}");
    assert!(err.contains("spec.piiDetection.fieldPatterns[1]"), "{err}");
    assert!(err.contains("([unclosed"), "{err}");
    assert!(err.contains("spec.masking.pii"), "{err}");
    assert!(err.contains("spec.retention.maxPii"), "{err}");
}

#[test]
fn policy_validation_catches_inconsistent_levels_and_empty_rules() {
    let bad = policy(
        "odd",
        "Enforce",
        "classification: { defaultField: confidential, piiMinimum: internal }\naccess: [ { classification: restricted, allowed: [] } ]\ncomplianceTags: [ { tag: 'not a label!' } ]\nnaming: { preferredTerms: [ { avoid: id, use: id } ] }",
    );
    let problems = meshplane_governance::validate_policy(&policies(&[&bad])[0]);
    let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
    for expected in [
        "spec.classification.piiMinimum",
        "spec.access[0].allowed",
        "spec.complianceTags[0].tag",
        "spec.complianceTags[0]",
        "spec.naming.preferredTerms[0]",
    ] {
        assert!(
            paths.contains(&expected),
            "{expected} missing from {paths:?}"
        );
    }
    assert!(meshplane_governance::validate_policy(&policies(&[PLATFORM_POLICY])[0]).is_empty());
}

/// Twelve patterns that compile one by one (`\w` is every Unicode word character) but
/// exceed the regex size limit as one set.
fn oversized_patterns() -> Vec<String> {
    (1..=12).map(|i| format!("'\\w{{30}}x{i}'")).collect()
}

#[test]
fn field_patterns_too_large_together_make_the_policy_invalid_naming_policy_and_field() {
    let strict = policy(
        "strict",
        "Enforce",
        &format!(
            "piiDetection: {{ fieldPatterns: [ {} ] }}",
            oversized_patterns().join(", ")
        ),
    );
    let problems = meshplane_governance::validate_policy(&policies(&[&strict])[0]);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].path, "spec.piiDetection.fieldPatterns");
    assert!(
        problems[0]
            .to_string()
            .contains("exceed the regex size limit"),
        "{}",
        problems[0]
    );
    let err = Engine::new(&policies(&[&strict])).unwrap_err().to_string();
    for expected in [
        "GovernancePolicy strict",
        "spec.piiDetection.fieldPatterns",
        "size limit",
    ] {
        assert!(err.contains(expected), "{expected} missing from {err}");
    }
}

#[test]
fn field_name_patterns_of_several_policies_too_large_together_name_every_policy() {
    let texts: Vec<String> = oversized_patterns()
        .iter()
        .enumerate()
        .map(|(i, p)| {
            policy(
                &format!("p{i:02}"),
                "Enforce",
                &format!("naming: {{ fieldNamePattern: {p} }}"),
            )
        })
        .collect();
    let all = policies(&texts.iter().map(String::as_str).collect::<Vec<_>>());
    for p in &all {
        assert!(meshplane_governance::validate_policy(p).is_empty());
    }
    let err = Engine::new(&all).unwrap_err().to_string();
    assert!(err.starts_with("GovernancePolicies p00, p01,"), "{err}");
    assert!(
        err.contains("p11 together: spec.naming.fieldNamePattern"),
        "{err}"
    );
    assert!(err.contains("exceed the regex size limit"), "{err}");
}

struct InvalidRow {
    case: &'static str,
    policy: String,
    path: &'static str,
    mentions: &'static [&'static str],
}

/// One row per way a policy can be unusable, by rule family.
fn invalid_rows() -> Vec<InvalidRow> {
    let row = |case, policy: &str, path, mentions| InvalidRow {
        case,
        policy: policy.to_string(),
        path,
        mentions,
    };
    vec![
        row("preferred term replaces itself", "naming: { preferredTerms: [ { avoid: id, use: id } ] }", "spec.naming.preferredTerms[0]", &["`id`", "both avoided and preferred"]),
        row("product name pattern does not parse", "naming: { productNamePattern: '(' }", "spec.naming.productNamePattern", &["`(`", "not a valid regular expression"]),
        row("field name pattern does not parse", "naming: { fieldNamePattern: '[z-a]' }", "spec.naming.fieldNamePattern", &["`[z-a]`", "not a valid regular expression"]),
        row("a pattern over the size limit", "naming: { productNamePattern: '\\w{2000}' }", "spec.naming.productNamePattern", &["exceeds the regex size limit", "[a-z0-9_]"]),
        row("PII pattern does not parse", "piiDetection: { fieldPatterns: [ email, '([unclosed' ] }", "spec.piiDetection.fieldPatterns[1]", &["([unclosed"]),
        row("PII patterns too large together", &format!("piiDetection: {{ fieldPatterns: [ {} ] }}", oversized_patterns().join(", ")), "spec.piiDetection.fieldPatterns", &["combined patterns exceed the regex size limit"]),
        row("personal data below ordinary fields", "classification: { defaultField: confidential, piiMinimum: internal }", "spec.classification.piiMinimum", &["internal", "confidential"]),
        row("personal data unmasked", "masking: { pii: none }", "spec.masking.pii", &["`none` is not allowed"]),
        row("masking level listed twice", "masking: { byClassification: [ { classification: internal, strategy: hash }, { classification: internal, strategy: redact } ] }", "spec.masking.byClassification[1]", &["internal is listed twice"]),
        row("zero PII retention", "retention: { maxPii: 0d }", "spec.retention.maxPii", &["zero"]),
        row("malformed retention limit", "retention: { maxByClassification: [ { classification: internal, max: 5x } ] }", "spec.retention.maxByClassification[0].max", &["`5x` is not a duration"]),
        row("retention level listed twice", "retention: { maxByClassification: [ { classification: internal, max: 5d }, { classification: internal, max: 6d } ] }", "spec.retention.maxByClassification[1]", &["internal is listed twice"]),
        row("access rule allowing nobody", "access: [ { classification: internal, allowed: [] } ]", "spec.access[0].allowed", &["deny every reader"]),
        row("reader pattern does not parse", "access: [ { classification: internal, allowed: [ { namePattern: '(' } ] } ]", "spec.access[0].allowed[0].namePattern", &["not a valid regular expression"]),
        row("tag not a label name", "complianceTags: [ { tag: 'not a label!', whenPii: true } ]", "spec.complianceTags[0].tag", &["`not a label!` cannot be a label name"]),
        row("tag without a condition", "complianceTags: [ { tag: gdpr } ]", "spec.complianceTags[0]", &["at least one condition"]),
    ]
}

#[test]
fn every_unusable_rule_is_reported_at_its_path_and_keeps_the_policy_out() {
    let mut failures = Vec::new();
    for row in invalid_rows() {
        let text = policy("p", "Enforce", &row.policy);
        let parsed = policies(&[&text]);
        let problems = meshplane_governance::validate_policy(&parsed[0]);
        let found = problems.iter().any(|p| {
            let text = p.to_string();
            p.path == row.path && row.mentions.iter().all(|m| text.contains(m))
        });
        let error = Engine::new(&parsed).map(|_| ()).map_err(|e| e.to_string());
        if !found || !matches!(&error, Err(e) if e.starts_with("GovernancePolicy p is invalid: ")) {
            failures.push(format!(
                "{}: expected {} ({:?}); got {problems:#?} and {error:?}",
                row.case, row.path, row.mentions
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
