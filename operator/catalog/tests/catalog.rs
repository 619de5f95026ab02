//! The catalog over the example products and policies of `examples/`.

mod support;

use meshplane_api::load::{load_all, Resource};
use meshplane_catalog::lineage::NodeKind;
use meshplane_catalog::query::{ImpactQuery, SearchQuery};
use meshplane_catalog::{odcs, openlineage, Catalog, ProductId};
use serde_json::Value;

fn catalog() -> Catalog {
    let (products, policies) = support::examples();
    let mut catalog = Catalog::new();
    catalog
        .set_policies(&policies)
        .expect("example policies compile");
    for p in products {
        catalog.upsert(p);
    }
    catalog
}

fn search(catalog: &Catalog, pairs: &[(&str, &str)]) -> Vec<String> {
    let q = SearchQuery::from_pairs(pairs.iter().copied()).unwrap();
    catalog
        .search(&q)
        .hits
        .into_iter()
        .map(|h| h.product.id.clone())
        .collect()
}

fn impact(catalog: &Catalog, pairs: &[(&str, &str)]) -> Vec<String> {
    let q = ImpactQuery::from_pairs(pairs.iter().copied()).unwrap();
    catalog
        .impact(&q)
        .products
        .into_iter()
        .map(|h| h.product.id.clone())
        .collect()
}

#[test]
fn searching_payment_finds_the_payment_failed_events_first() {
    let c = catalog();
    let hits = search(&c, &[("q", "payment")]);
    assert_eq!(
        hits.first().map(String::as_str),
        Some("payments/payment-failed-events"),
        "{hits:?}"
    );
    // Prefixes match too, and every word must match.
    assert_eq!(
        search(&c, &[("q", "paym fail")]),
        ["payments/payment-failed-events"]
    );
    assert!(search(&c, &[("q", "payment zebra")]).is_empty());
}

#[test]
fn search_covers_fields_owners_and_tags() {
    let c = catalog();
    assert!(search(&c, &[("q", "customer_email")]).contains(&"orders/orders".to_owned()));
    assert!(search(&c, &[("q", "crm-team")]).contains(&"customers/customer-profile".to_owned()));
    assert_eq!(search(&c, &[("q", "kpi")]), ["finance/daily-revenue"]);
}

#[test]
fn filters_narrow_the_results() {
    let c = catalog();
    assert_eq!(
        search(&c, &[("domain", "finance")]),
        ["finance/daily-revenue", "finance/exchange-rates"]
    );
    assert_eq!(
        search(&c, &[("source", "cdc")]),
        ["customers/customer-profile"]
    );
    assert_eq!(
        search(&c, &[("compliance", "pci-dss")]),
        ["payments/payment-failed-events"]
    );
    let without_pii = search(&c, &[("pii", "false")]);
    assert_eq!(
        without_pii,
        ["finance/daily-revenue", "finance/exchange-rates"]
    );
    assert_eq!(
        search(&c, &[("q", "payment"), ("domain", "orders")]),
        Vec::<String>::new()
    );
    let page = search(&c, &[("limit", "2"), ("offset", "1")]);
    assert_eq!(page.len(), 2);
}

#[test]
fn impact_lists_exactly_the_pii_products_under_gdpr() {
    let c = catalog();
    assert_eq!(
        impact(&c, &[("pii", "true"), ("compliance", "gdpr")]),
        [
            "customers/customer-profile",
            "orders/orders",
            "payments/payment-failed-events"
        ]
    );
    // ...of which these keep data longer than 30 days (all), and longer than 180 days:
    assert_eq!(
        impact(
            &c,
            &[
                ("pii", "true"),
                ("compliance", "gdpr"),
                ("retentionOver", "180d")
            ]
        ),
        ["customers/customer-profile"]
    );
    let q = ImpactQuery::from_pairs([("pii", "true"), ("compliance", "gdpr")]).unwrap();
    let orders = c
        .impact(&q)
        .products
        .into_iter()
        .find(|h| h.product.id == "orders/orders")
        .unwrap();
    let names: Vec<&str> = orders
        .matched_fields
        .iter()
        .map(|f| f.name.as_str())
        .collect();
    assert_eq!(names, ["customer_email", "shipping_address"]);
    assert!(
        orders
            .matched_fields
            .iter()
            .all(|f| f.masking.as_str() == "hash"),
        "{:?}",
        orders.matched_fields
    );
}

#[test]
fn impact_finds_products_by_field() {
    let c = catalog();
    assert_eq!(
        impact(&c, &[("field", "customer_email")]),
        ["orders/orders"]
    );
    assert_eq!(
        impact(&c, &[("field", "CUSTOMER_ID")]),
        [
            "customers/customer-profile",
            "orders/orders",
            "payments/payment-failed-events"
        ]
    );
}

#[test]
fn a_proposed_policy_lists_the_products_it_would_reject() {
    let c = catalog();
    let text = include_str!("fixtures/pii-30-days.yaml");
    let Resource::GovernancePolicy(policy) = load_all(text, "pii-30-days.yaml").unwrap().remove(0)
    else {
        panic!("fixture is a policy");
    };
    let impact = c.policy_impact(&policy).unwrap();
    assert_eq!(impact.in_scope, 5);
    let rejected: Vec<&str> = impact
        .rejected
        .iter()
        .map(|r| r.product.id.as_str())
        .collect();
    assert_eq!(
        rejected,
        [
            "customers/customer-profile",
            "orders/orders",
            "payments/payment-failed-events"
        ]
    );
    let finding = &impact.rejected[1].findings[0];
    assert_eq!(finding.path, "spec.retention");
    assert!(finding.message.contains("90d"), "{}", finding.message);
}

#[test]
fn lineage_runs_from_the_topic_through_orders_to_daily_revenue() {
    let c = catalog();
    let view = c
        .lineage("topic:orders.events", 5)
        .expect("the topic is a known node");
    assert_eq!(
        view.downstream_products(),
        ["orders/orders", "finance/daily-revenue"]
    );
    let revenue = c.lineage("product:finance/daily-revenue", 5).unwrap();
    assert_eq!(
        revenue.upstream_products(),
        ["finance/exchange-rates", "orders/orders"]
    );
    let topic = revenue
        .nodes
        .iter()
        .find(|n| n.id == "topic:orders.events")
        .expect("two hops up");
    assert_eq!((topic.kind, topic.depth), (NodeKind::Topic, -2));
    // One hop only reaches the inputs.
    let near = c.lineage("product:finance/daily-revenue", 1).unwrap();
    assert!(near.nodes.iter().all(|n| n.depth >= -1));
    assert!(c.lineage("topic:nobody.reads.this", 5).is_none());
}

#[test]
fn removing_a_product_removes_it_from_search_and_lineage() {
    let mut c = catalog();
    c.remove(&ProductId::new("orders", "orders"));
    assert!(search(&c, &[("q", "customer_email")]).is_empty());
    assert!(c.lineage("topic:orders.events", 5).is_none());
    let revenue = c.lineage("product:finance/daily-revenue", 5).unwrap();
    let orders = revenue
        .nodes
        .iter()
        .find(|n| n.id == "product:orders/orders")
        .unwrap();
    assert!(!orders.known, "a missing input is shown as unknown");
    // Re-adding reuses the slot and everything is found again.
    let (products, _) = support::examples();
    c.upsert(
        products
            .into_iter()
            .find(|p| p.metadata.name.as_deref() == Some("orders"))
            .unwrap(),
    );
    assert_eq!(search(&c, &[("q", "customer_email")]), ["orders/orders"]);
}

/// The Orders example product.
fn orders_example() -> meshplane_api::DataProduct {
    let (products, _) = support::examples();
    products
        .into_iter()
        .find(|p| p.metadata.name.as_deref() == Some("orders"))
        .unwrap()
}

#[test]
fn the_product_page_shows_masking_consumers_and_freshness() {
    let mut c = catalog();
    let mut orders = orders_example();
    orders.status = Some(meshplane_api::DataProductStatus {
        last_event_time: Some("2026-11-27T12:00:00Z".into()),
        ..Default::default()
    });
    c.upsert(orders);
    let noon: i64 = 1_795_780_800; // 2026-11-27T12:00:00Z
    let page = c
        .page(&ProductId::new("orders", "orders"), noon + 120)
        .unwrap();
    let email = page
        .fields
        .iter()
        .find(|f| f.name == "customer_email")
        .unwrap();
    assert!(email.pii);
    assert_eq!(email.masking.as_str(), "hash");
    assert_eq!(page.consumers, ["finance/daily-revenue"]);
    assert_eq!(
        (page.freshness.age_seconds, page.freshness.state.as_str()),
        (Some(120), "met")
    );
    let late = c
        .page(&ProductId::new("orders", "orders"), noon + 3_600)
        .unwrap();
    assert_eq!(late.freshness.state.as_str(), "breached");
    assert!(c.page(&ProductId::new("orders", "nope"), noon).is_none());
}

#[test]
fn the_product_page_shows_the_measured_completeness_as_the_controller_judged_it() {
    let mut c = catalog();
    let mut orders = orders_example();
    let id = ProductId::new("orders", "orders");
    c.upsert(orders.clone());
    let unmeasured = c.page(&id, 0).unwrap().completeness;
    assert_eq!(
        (unmeasured.slo, unmeasured.state.as_str()),
        (Some(99.5), "unknown")
    );
    assert!(unmeasured.measured.is_none());
    // The status as the controller writes it.
    orders.status = Some(
        serde_json::from_value(serde_json::json!({
            "conditions": [{
                "type": "CompletenessSLOMet", "status": "False", "reason": "CompletenessSLOBreached",
                "message": "99.00 % of the last 1h's records passed (about 1000 records, 10 rejected); the SLO is 99.5 %",
                "lastTransitionTime": "2026-12-02T10:00:00Z",
            }],
            "measuredCompleteness": {
                "percent": 99.0, "records": 1000, "rejected": 10, "window": "1h",
                "measuredAt": "2026-12-02T10:00:00Z",
            },
            "sloHistory": [
                {"slo": "completeness", "status": "True", "reason": "WithinSLO",
                 "message": "100.00 % passed", "at": "2026-12-02T09:00:00Z"},
                {"slo": "completeness", "status": "False", "reason": "CompletenessSLOBreached",
                 "message": "99.00 % passed", "at": "2026-12-02T10:00:00Z"},
            ],
        }))
        .unwrap(),
    );
    c.upsert(orders);
    let page = c.page(&id, 0).unwrap();
    let history: Vec<(&str, &str)> = page
        .slo_history
        .iter()
        .map(|t| (t.status.as_str(), t.reason.as_str()))
        .collect();
    assert_eq!(
        history,
        [("True", "WithinSLO"), ("False", "CompletenessSLOBreached")]
    );
    assert_eq!(page.completeness.state.as_str(), "breached");
    assert_eq!(page.completeness.measured.as_ref().unwrap().rejected, 10);
    assert!(page.completeness.message.unwrap().contains("99.00 %"));
}

#[test]
fn the_odcs_contract_carries_schema_masking_and_service_levels() {
    let c = catalog();
    let entry = c.get(&ProductId::new("orders", "orders")).unwrap();
    let doc = odcs::contract(entry);
    assert_eq!(doc["apiVersion"], "v3.1.0");
    assert_eq!(doc["kind"], "DataContract");
    let props = doc["schema"][0]["properties"].as_array().unwrap();
    let email = props
        .iter()
        .find(|p| p["name"] == "customer_email")
        .unwrap();
    assert_eq!(email["classification"], "confidential");
    assert_eq!(email["transformDescription"], "masked: hash");
    let sla: Vec<&Value> = doc["slaProperties"].as_array().unwrap().iter().collect();
    assert!(
        sla.iter()
            .any(|s| s["property"] == "retention" && s["value"] == 90),
        "{sla:?}"
    );
    assert!(
        sla.iter()
            .any(|s| s["property"] == "latency" && s["value"] == 600),
        "{sla:?}"
    );
}

#[test]
fn openlineage_events_name_inputs_and_outputs() {
    let c = catalog();
    let ns = openlineage::Namespaces {
        kafka: "kafka://kafka:9092".into(),
    };
    let events = openlineage::job_events(&c, None, "2026-11-27T12:00:00Z", &ns);
    assert_eq!(events.len(), 5);
    let revenue = events
        .iter()
        .find(|e| e["job"]["name"] == "finance/daily-revenue")
        .unwrap();
    let inputs: Vec<&str> = revenue["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(inputs, ["orders", "exchange-rates"]);
    assert_eq!(
        revenue["job"]["facets"]["jobType"]["jobType"],
        "TRANSFORMATION"
    );
    let orders = events
        .iter()
        .find(|e| e["job"]["name"] == "orders/orders")
        .unwrap();
    assert_eq!(
        orders["inputs"][0],
        serde_json::json!({ "namespace": "kafka://kafka:9092", "name": "orders.events" })
    );
    let fields = orders["outputs"][0]["facets"]["schema"]["fields"]
        .as_array()
        .unwrap();
    assert_eq!(fields.len(), 8);
    assert_eq!(orders["schemaURL"], openlineage::SCHEMA_URL);
}

#[test]
fn the_compliance_view_groups_products_by_tag_and_classification() {
    let view = catalog().compliance();
    assert_eq!(view.products, 5);
    assert_eq!(
        view.by_compliance_tag["gdpr"],
        [
            "customers/customer-profile",
            "orders/orders",
            "payments/payment-failed-events"
        ]
    );
    assert_eq!(
        view.with_pii,
        [
            "customers/customer-profile",
            "orders/orders",
            "payments/payment-failed-events"
        ]
    );
    let classified: usize = view.by_classification.values().map(Vec::len).sum();
    assert_eq!(classified, 5);
}

/// Serialises `view` as the API does, reads it back as the CLI does, and checks that
/// nothing is lost on the way.
fn round_trips<T: serde::Serialize + serde::de::DeserializeOwned>(view: &T) {
    let json = serde_json::to_value(view).unwrap();
    let back: T = serde_json::from_value(json.clone()).unwrap();
    assert_eq!(serde_json::to_value(&back).unwrap(), json);
}

#[test]
fn every_view_reads_back_as_it_was_served() {
    let c = catalog();
    let page = c.page(&ProductId::new("orders", "orders"), 0).unwrap();
    round_trips(&page);
    let q = SearchQuery::from_pairs([("q", "payment")]).unwrap();
    round_trips(&c.search(&q));
    let q = ImpactQuery::from_pairs([("pii", "true")]).unwrap();
    round_trips(&c.impact(&q));
    round_trips(&c.lineage("topic:orders.events", 5).unwrap());
    round_trips(&c.compliance());
    let policy = load_all(include_str!("fixtures/pii-30-days.yaml"), "fixture").unwrap();
    let Resource::GovernancePolicy(policy) = &policy[0] else {
        panic!("the fixture is a policy")
    };
    let impact = c.policy_impact(policy).unwrap();
    assert!(!impact.rejected.is_empty());
    round_trips(&impact);
}

#[test]
fn findings_are_served_as_the_governance_engine_writes_them() {
    let policy = load_all(include_str!("fixtures/pii-30-days.yaml"), "fixture").unwrap();
    let Resource::GovernancePolicy(policy) = &policy[0] else {
        panic!("the fixture is a policy")
    };
    let engine = meshplane_governance::Engine::new(std::slice::from_ref(&**policy)).unwrap();
    let (products, _) = support::examples();
    let findings: Vec<_> = products
        .iter()
        .flat_map(|p| engine.evaluate(p).violations)
        .collect();
    assert!(!findings.is_empty());
    for finding in &findings {
        let view = meshplane_catalog::views::FindingView::from(finding);
        assert_eq!(
            serde_json::to_value(&view).unwrap(),
            serde_json::to_value(finding).unwrap()
        );
    }
}

fn access_request(name: &str, subject: Value, status: Value) -> meshplane_api::AccessRequest {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "meshplane.dev/v1alpha1", "kind": "AccessRequest",
        "metadata": {"name": name, "namespace": "analytics"},
        "spec": {"product": {"namespace": "orders", "name": "orders"}, "subject": subject,
                 "purpose": "reports"},
        "status": status,
    }))
    .unwrap()
}

#[test]
fn trino_rules_give_each_granted_subject_its_table_without_the_columns_above_its_grant() {
    let mut c = catalog();
    let mut orders = orders_example();
    let none = c.trino_grants();
    assert!(none.is_empty(), "{none:?}");
    orders.status = Some(
        serde_json::from_value(serde_json::json!({
            "table": {"identifier": "orders.orders"},
        }))
        .unwrap(),
    );
    c.upsert(orders);
    c.upsert_request(&access_request(
        "bot",
        serde_json::json!({"kind": "ServiceAccount", "name": "report-bot"}),
        serde_json::json!({"phase": "Granted", "grant": {
            "credentialsSecret": "bot-access", "objectStoreAccess": false,
            "classification": "internal",
            "columns": ["order_id", "customer_id", "order_total", "currency", "status", "event_time"],
        }}),
    ));
    c.upsert_request(&access_request(
        "waiting",
        serde_json::json!({"kind": "User", "name": "jane"}),
        serde_json::json!({"phase": "Pending"}),
    ));
    let grants = c.trino_grants();
    assert_eq!(grants.len(), 1, "{grants:?}");
    assert_eq!(grants[0].subject, "ServiceAccount:analytics/report-bot");
    assert_eq!(
        (grants[0].schema.as_str(), grants[0].table.as_str()),
        ("orders", "orders")
    );
    assert_eq!(
        grants[0].hidden_columns,
        ["customer_email", "shipping_address"]
    );
    let scope = meshplane_catalog::trino_rules::TrinoRulesScope {
        catalog: "meshplane".into(),
        platform_user: "meshplane".into(),
    };
    let rules = meshplane_catalog::trino_rules::rules(&scope, &grants);
    assert_eq!(
        rules["tables"][1]["user"],
        "system:serviceaccount:analytics:report\\-bot"
    );
}
