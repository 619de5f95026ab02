//! The planner on the examples, after governance has admitted them.

use meshplane_api::load::{load_all, Resource};
use meshplane_api::{DataProduct, GovernancePolicy, MaskingStrategy};
use meshplane_governance::Engine;
use meshplane_planner::workload::{
    pin_secret_versions, plan_hash, product_worker_secrets, secret_versions_text, worker_secrets,
    PLAN_HASH_ANNOTATION, SECRET_VERSIONS_ANNOTATION,
};
use meshplane_planner::{plan, DesiredState, PlatformSettings, TopicMode, TopicRole};
use serde_json::Value;
use std::collections::BTreeMap;

fn load(text: &str) -> (Vec<DataProduct>, Vec<GovernancePolicy>) {
    let mut products = Vec::new();
    let mut policies = Vec::new();
    for r in load_all(text, "fixture").unwrap() {
        match r {
            Resource::DataProduct(p) => products.push(*p),
            Resource::GovernancePolicy(p) => policies.push(*p),
        }
    }
    (products, policies)
}

fn admitted(example: &str) -> DataProduct {
    let (mut products, _) = load(example);
    let (_, policies) = load(include_str!("../../../examples/policy.yaml"));
    let decision = Engine::new(&policies)
        .unwrap()
        .evaluate(&products.remove(0));
    assert!(decision.allowed, "{:?}", decision.violations);
    let mut effective = decision.effective;
    effective.metadata.uid = Some("0b7c6d9e-1111-2222-3333-444455556666".into());
    effective
}

fn kinds(state: &DesiredState) -> Vec<String> {
    state
        .children
        .manifests()
        .iter()
        .map(|o| {
            format!(
                "{}/{}",
                o["kind"].as_str().unwrap(),
                o["metadata"]["name"].as_str().unwrap()
            )
        })
        .collect()
}

fn object(state: &DesiredState, kind: &str) -> Value {
    state
        .children
        .manifests()
        .into_iter()
        .find(|o| o["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind}"))
}

#[test]
fn orders_gets_an_encrypted_bucket_with_a_90_day_lifecycle_and_tags() {
    let state = plan(
        &admitted(include_str!("../../../examples/orders.yaml")),
        &PlatformSettings::default(),
    )
    .unwrap();
    let b = &state.bucket;
    assert_eq!(b.name, "meshplane-orders-orders");
    assert_eq!(b.encryption.as_deref(), Some("AES256"));
    assert_eq!(b.expiration_days, 90);
    assert_eq!(b.tags["meshplane.dev/classification"], "confidential");
    assert_eq!(b.tags["meshplane.dev/compliance.gdpr"], "true");
    assert_eq!(b.tags["meshplane.dev/domain"], "orders");
}

#[test]
fn orders_gets_every_kubernetes_object_owned_and_labelled() {
    let state = plan(
        &admitted(include_str!("../../../examples/orders.yaml")),
        &PlatformSettings::default(),
    )
    .unwrap();
    let names = kinds(&state);
    for expected in [
        "KafkaTopic/orders-events",
        "ConfigMap/orders-ingest-plan",
        "ServiceAccount/orders-ingest",
        "Role/orders-ingest",
        "RoleBinding/orders-ingest",
        "Role/orders-readers",
        "RoleBinding/orders-readers",
        "Deployment/orders-ingest",
        "Service/orders-metrics",
        "ServiceMonitor/orders-ingest",
        "PrometheusRule/orders-slo",
        "ConfigMap/orders-dashboard",
    ] {
        assert!(
            names.contains(&expected.to_string()),
            "{expected} missing from {names:?}"
        );
    }
    for o in &state.children.manifests() {
        let meta = &o["metadata"];
        assert_eq!(
            meta["labels"]["app.kubernetes.io/managed-by"], "meshplane",
            "{}",
            o["kind"]
        );
        assert_eq!(meta["labels"]["meshplane.dev/product"], "orders");
        if meta["namespace"] == "orders" {
            assert_eq!(
                meta["ownerReferences"][0]["kind"], "DataProduct",
                "{}",
                o["kind"]
            );
            assert_eq!(meta["ownerReferences"][0]["controller"], true);
        }
        assert!(meta["name"].as_str().unwrap().len() <= 63);
    }
    let topic = object(&state, "KafkaTopic");
    assert_eq!(topic["metadata"]["namespace"], "kafka");
    assert_eq!(topic["spec"]["topicName"], "orders.events");
    assert_eq!(topic["spec"]["partitions"], 6);
    assert!(
        topic["metadata"]["ownerReferences"].is_null(),
        "cross-namespace owners are not allowed"
    );
}

#[test]
fn the_ingest_plan_masks_both_pii_fields_and_partitions_hourly() {
    let state = plan(
        &admitted(include_str!("../../../examples/orders.yaml")),
        &PlatformSettings::default(),
    )
    .unwrap();
    let p = &state.ingest_plan;
    let masked: Vec<(&str, MaskingStrategy)> = p
        .fields
        .iter()
        .filter(|f| f.masking != MaskingStrategy::None)
        .map(|f| (f.name.as_str(), f.masking))
        .collect();
    assert_eq!(
        masked,
        vec![
            ("customer_email", MaskingStrategy::Hash),
            ("shipping_address", MaskingStrategy::Hash)
        ]
    );
    assert_eq!(p.flush_interval_seconds, 300);
    assert_eq!(p.partition_field.as_deref(), Some("event_time"));
    let kafka = p.source.kafka.as_ref().unwrap();
    assert_eq!(kafka.topic, "orders.events");
    assert_eq!(kafka.consumer_group, "meshplane.orders.orders");
    let map = object(&state, "ConfigMap");
    let embedded: meshplane_api::ingest_plan::IngestPlan =
        serde_json::from_str(map["data"]["plan.json"].as_str().unwrap()).unwrap();
    assert_eq!(&embedded, p);
}

#[test]
fn personal_data_is_masked_in_the_plan_even_if_admission_was_bypassed() {
    let (mut products, _) = load(include_str!("../../../examples/orders.yaml"));
    let mut raw = products.remove(0);
    raw.spec.schema.fields[2].masking = Some(MaskingStrategy::None);
    let state = plan(&raw, &PlatformSettings::default()).unwrap();
    assert_eq!(state.ingest_plan.fields[2].masking, MaskingStrategy::Hash);
}

#[test]
fn raw_topic_retention_is_capped_and_stream_topics_keep_the_product_retention() {
    let state = plan(
        &admitted(include_str!("../../../examples/payments.yaml")),
        &PlatformSettings::default(),
    )
    .unwrap();
    let source = state
        .topics
        .iter()
        .find(|t| t.role == TopicRole::Source)
        .unwrap();
    assert_eq!(
        source.config["retention.ms"],
        (7u64 * 86_400_000).to_string()
    );
    let stream = state
        .topics
        .iter()
        .find(|t| t.role == TopicRole::StreamOutput)
        .unwrap();
    assert_eq!(stream.name, "payments.failed.masked");
    assert_eq!(
        stream.config["retention.ms"],
        (180u64 * 86_400_000).to_string()
    );
}

#[test]
fn direct_mode_renders_no_kafka_topic_resources() {
    let settings = PlatformSettings {
        topic_mode: TopicMode::Direct,
        ..PlatformSettings::default()
    };
    let state = plan(
        &admitted(include_str!("../../../examples/orders.yaml")),
        &settings,
    )
    .unwrap();
    assert!(!kinds(&state).iter().any(|k| k.starts_with("KafkaTopic/")));
    assert_eq!(state.topics.len(), 1);
}

#[test]
fn batch_and_derived_products_run_as_cronjobs_on_their_schedule() {
    let state = plan(
        &admitted(include_str!("../../../examples/exchange-rates.yaml")),
        &PlatformSettings::default(),
    )
    .unwrap();
    assert_eq!(object(&state, "CronJob")["spec"]["schedule"], "0 * * * *");
    // Nothing runs scheduled pulls yet: the CronJob is in place but suspended.
    assert_eq!(object(&state, "CronJob")["spec"]["suspend"], true);
    assert!(state.topics.is_empty());
    let state = plan(
        &admitted(include_str!("../../../examples/daily-revenue.yaml")),
        &PlatformSettings::default(),
    )
    .unwrap();
    assert_eq!(object(&state, "CronJob")["spec"]["schedule"], "15 0 * * *");
    assert_eq!(object(&state, "CronJob")["spec"]["suspend"], true);
    let inputs = &state.ingest_plan.source.products.as_ref().unwrap().inputs;
    assert_eq!(inputs[0].bucket, "meshplane-orders-orders");
    assert_eq!(inputs[1].bucket, "meshplane-finance-exchange-rates");
}

#[test]
fn cdc_products_get_a_debezium_connector_routed_to_their_topic() {
    let state = plan(
        &admitted(include_str!("../../../examples/customer-profile.yaml")),
        &PlatformSettings::default(),
    )
    .unwrap();
    let connector = object(&state, "KafkaConnector");
    assert_eq!(
        connector["spec"]["class"],
        "io.debezium.connector.postgresql.PostgresConnector"
    );
    assert_eq!(
        connector["spec"]["config"]["table.include.list"],
        "public.customers"
    );
    assert_eq!(
        connector["spec"]["config"]["transforms.route.replacement"],
        "meshplane.cdc.customers.customer-profile"
    );
    assert!(
        state
            .ingest_plan
            .source
            .kafka
            .as_ref()
            .unwrap()
            .change_events
    );
    assert!(kinds(&state).contains(&"Deployment/customer-profile-ingest".to_string()));
}

#[test]
fn planning_is_deterministic() {
    let product = admitted(include_str!("../../../examples/orders.yaml"));
    let settings = PlatformSettings::default();
    assert_eq!(
        plan(&product, &settings).unwrap(),
        plan(&product, &settings).unwrap()
    );
}

#[test]
fn the_freshness_slo_becomes_an_alert_and_the_dashboard_graphs_the_workers_series() {
    let state = plan(
        &admitted(include_str!("../../../examples/orders.yaml")),
        &PlatformSettings::default(),
    )
    .unwrap();
    let rule = object(&state, "PrometheusRule");
    let rules = rule["spec"]["groups"][0]["rules"].as_array().unwrap();
    let alerts: Vec<&str> = rules.iter().map(|r| r["alert"].as_str().unwrap()).collect();
    assert_eq!(
        alerts,
        [
            "DataProductFreshnessSLOBreached",
            "DataProductRejectingRecords",
            "DataProductIngestionDown"
        ]
    );
    assert_eq!(
        rules[0]["expr"],
        "time() - max(meshplane_ingest_newest_committed_event_timestamp_seconds{product=\"orders/orders\"}) > 600 \
         and max(meshplane_ingest_newest_committed_event_timestamp_seconds{product=\"orders/orders\"}) > 0"
    );
    // completeness 99.5 %: more than 0.5 % rejected breaches it.
    assert!(
        rules[1]["expr"].as_str().unwrap().ends_with("> 0.005"),
        "{}",
        rules[1]["expr"]
    );
    // The product label comes from the scraped Service: namespace and product label.
    let monitor = object(&state, "ServiceMonitor");
    let relabel = &monitor["spec"]["endpoints"][0]["relabelings"][0];
    assert_eq!(relabel["targetLabel"], "product");
    assert_eq!(relabel["separator"], "/");
    assert_eq!(
        relabel["sourceLabels"],
        serde_json::json!([
            "__meta_kubernetes_namespace",
            "__meta_kubernetes_service_label_meshplane_dev_product"
        ])
    );
    let manifests = state.children.manifests();
    let dashboard = manifests
        .iter()
        .find(|o| o["metadata"]["name"] == "orders-dashboard")
        .unwrap();
    assert_eq!(dashboard["metadata"]["labels"]["grafana_dashboard"], "1");
    let json = dashboard["data"]["orders-dashboard.json"].as_str().unwrap();
    for title in [
        "Ingestion lag",
        "Throughput",
        "Rejected records",
        "Freshness (SLO 10m)",
        "Event to commit p99",
    ] {
        assert!(json.contains(title), "{title}");
    }
    // Unless the platform's Prometheus scrapes the query port, no panel claims to show
    // query latency.
    assert!(!json.contains("query"), "{json}");
}

#[test]
fn a_scraped_query_port_adds_the_query_latency_panel_and_the_p99_alert() {
    let orders = admitted(include_str!("../../../examples/orders.yaml"));
    let settings = PlatformSettings {
        query_latency_scraped: true,
        ..PlatformSettings::default()
    };
    let state = plan(&orders, &settings).unwrap();
    let rules = object(&state, "PrometheusRule")["spec"]["groups"][0]["rules"]
        .as_array()
        .unwrap()
        .clone();
    let alert = rules
        .iter()
        .find(|r| r["alert"] == "DataProductQueryLatencySLOBreached")
        .expect("the queryLatencyP99 alert");
    let expr = alert["expr"].as_str().unwrap();
    assert!(
        expr.contains("meshplane_query_duration_seconds_bucket{product=\"orders/orders\"}")
            && expr.contains("> 2 and"),
        "{expr}"
    );
    assert_eq!(alert["labels"]["slo"], "query-latency");
    let manifests = state.children.manifests();
    let dashboard = manifests
        .iter()
        .find(|o| o["metadata"]["name"] == "orders-dashboard")
        .unwrap();
    let json = dashboard["data"]["orders-dashboard.json"].as_str().unwrap();
    assert!(json.contains("Query latency (SLO p99 2s)"), "{json}");
    // Without a queryLatencyP99 SLO: the panel, and no alert.
    let mut no_slo = orders.clone();
    no_slo.spec.slo.as_mut().unwrap().query_latency_p99 = None;
    let state = plan(&no_slo, &settings).unwrap();
    let rules = object(&state, "PrometheusRule")["spec"]["groups"][0]["rules"].clone();
    assert!(!rules.to_string().contains("QueryLatency"), "{rules}");
}

#[test]
fn a_stream_output_port_adds_its_latency_panel_and_a_table_only_product_has_none() {
    let board_of = |product: &meshplane_api::DataProduct| {
        let state = plan(product, &PlatformSettings::default()).unwrap();
        let manifests = state.children.manifests();
        let name = product.metadata.name.clone().unwrap();
        let dashboard = manifests
            .iter()
            .find(|o| o["metadata"]["name"] == format!("{name}-dashboard"))
            .unwrap()
            .clone();
        let json = dashboard["data"][format!("{name}-dashboard.json")]
            .as_str()
            .unwrap()
            .to_string();
        serde_json::from_str::<serde_json::Value>(&json).unwrap()
    };
    let payments = admitted(include_str!("../../../examples/payments.yaml"));
    let board = board_of(&payments);
    let panel = board["panels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["title"] == "Stream output latency (consumed to published)")
        .expect("the stream latency panel")
        .clone();
    let exprs: Vec<&str> = panel["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["expr"].as_str().unwrap())
        .collect();
    assert_eq!(
        exprs,
        [
            "histogram_quantile(0.99, sum by (le) (rate(meshplane_ingest_stream_publish_latency_seconds_bucket{product=\"payments/payment-failed-events\"}[5m])))",
            "histogram_quantile(0.5, sum by (le) (rate(meshplane_ingest_stream_publish_latency_seconds_bucket{product=\"payments/payment-failed-events\"}[5m])))",
        ]
    );
    let orders = admitted(include_str!("../../../examples/orders.yaml"));
    assert!(!board_of(&orders).to_string().contains("stream_publish"));
}

#[test]
fn every_alert_names_its_product_namespace_and_support_and_waits_the_platforms_for() {
    let orders = admitted(include_str!("../../../examples/orders.yaml"));
    let rules_of = |settings: &PlatformSettings| {
        let state = plan(&orders, settings).unwrap();
        object(&state, "PrometheusRule")["spec"]["groups"][0]["rules"]
            .as_array()
            .unwrap()
            .clone()
    };
    let defaults = rules_of(&PlatformSettings::default());
    let pending: Vec<&str> = defaults
        .iter()
        .map(|r| r["for"].as_str().unwrap())
        .collect();
    assert_eq!(pending, ["5m", "15m", "10m"]);
    for rule in &defaults {
        let labels = &rule["labels"];
        assert_eq!(labels["product"], "orders/orders", "{rule}");
        assert_eq!(labels["namespace"], "orders", "{rule}");
        // Alertmanager routes on it to the team the product's SLO names.
        assert_eq!(labels["support"], "#orders-oncall", "{rule}");
    }
    let short = PlatformSettings {
        alert_for: "10s".into(),
        ..PlatformSettings::default()
    };
    assert!(rules_of(&short).iter().all(|r| r["for"] == "10s"));
    // Prometheus's own scrape interval applies: the ServiceMonitor sets none.
    let state = plan(&orders, &PlatformSettings::default()).unwrap();
    let monitor = object(&state, "ServiceMonitor");
    assert!(
        monitor["spec"]["endpoints"][0].get("interval").is_none(),
        "{monitor}"
    );
}

#[test]
fn a_scheduled_product_gets_no_alerts_and_a_dashboard_that_says_not_yet() {
    let state = plan(
        &admitted(include_str!("../../../examples/exchange-rates.yaml")),
        &PlatformSettings::default(),
    )
    .unwrap();
    let manifests = state.children.manifests();
    assert!(
        manifests.iter().all(|o| o["kind"] != "PrometheusRule"),
        "no alerts for series nothing exports"
    );
    let dashboard = manifests
        .iter()
        .find(|o| o["metadata"]["name"] == "exchange-rates-dashboard")
        .unwrap();
    let json = dashboard["data"]["exchange-rates-dashboard.json"]
        .as_str()
        .unwrap();
    assert!(json.contains("Not measured yet"), "{json}");
    assert!(!json.contains("meshplane_"), "{json}");
}

#[test]
fn readers_are_bound_to_the_read_credentials_role() {
    let state = plan(
        &admitted(include_str!("../../../examples/orders.yaml")),
        &PlatformSettings::default(),
    )
    .unwrap();
    let manifests = state.children.manifests();
    let binding = manifests
        .iter()
        .find(|o| o["kind"] == "RoleBinding" && o["metadata"]["name"] == "orders-readers")
        .unwrap();
    let subjects = binding["subjects"].as_array().unwrap();
    assert_eq!(subjects[0]["kind"], "Group");
    assert_eq!(subjects[0]["name"], "analytics-analysts");
    assert_eq!(subjects[1]["kind"], "ServiceAccount");
    assert_eq!(subjects[1]["namespace"], "finance");
}

#[test]
fn the_worker_deployment_runs_the_declared_number_of_consumers() {
    let example = include_str!("../../../examples/orders.yaml");
    let one = plan(&admitted(example), &PlatformSettings::default()).unwrap();
    assert_eq!(object(&one, "Deployment")["spec"]["replicas"], 1);

    let three = example.replace(
        "      partitions: 6\n",
        "      partitions: 6\n      consumers: 3\n",
    );
    assert_ne!(three, example);
    let state = plan(&admitted(&three), &PlatformSettings::default()).unwrap();
    assert_eq!(object(&state, "Deployment")["spec"]["replicas"], 3);
}

/// The plan-hash annotation of the worker pod template.
fn worker_plan_hash(state: &DesiredState) -> String {
    object(state, "Deployment")["spec"]["template"]["metadata"]["annotations"][PLAN_HASH_ANNOTATION]
        .as_str()
        .unwrap_or_else(|| panic!("no {PLAN_HASH_ANNOTATION} on the worker pod template"))
        .to_string()
}

#[test]
fn the_worker_pod_template_carries_the_hash_of_the_plan_its_config_map_holds() {
    let state = plan(
        &admitted(include_str!("../../../examples/orders.yaml")),
        &PlatformSettings::default(),
    )
    .unwrap();
    let map = object(&state, "ConfigMap");
    let written = map["data"]["plan.json"].as_str().unwrap();
    let hash = worker_plan_hash(&state);
    assert_eq!(hash, plan_hash(written));
    assert_eq!(hash.len(), 16);
    assert!(hash.chars().all(|c| c.is_ascii_hexdigit()), "{hash}");
}

#[test]
fn the_same_plan_gives_the_same_hash_and_a_changed_masking_rolls_the_workers() {
    let product = admitted(include_str!("../../../examples/orders.yaml"));
    let settings = PlatformSettings::default();
    let hash = worker_plan_hash(&plan(&product, &settings).unwrap());
    assert_eq!(hash, worker_plan_hash(&plan(&product, &settings).unwrap()));

    let mut redacted = product.clone();
    let email = redacted
        .spec
        .schema
        .fields
        .iter_mut()
        .find(|f| f.name == "customer_email")
        .unwrap();
    assert_eq!(email.masking, Some(MaskingStrategy::Hash));
    email.masking = Some(MaskingStrategy::Redact);
    assert_ne!(hash, worker_plan_hash(&plan(&redacted, &settings).unwrap()));
}

#[test]
fn a_crashing_worker_leaves_its_last_log_lines_in_the_pod_status() {
    let state = plan(
        &admitted(include_str!("../../../examples/orders.yaml")),
        &PlatformSettings::default(),
    )
    .unwrap();
    let container = &object(&state, "Deployment")["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(
        container["terminationMessagePolicy"],
        "FallbackToLogsOnError"
    );
}

#[test]
fn worker_pods_take_pull_policy_and_resources_from_the_platform_settings() {
    let settings = PlatformSettings {
        image_pull_policy: "Never".into(),
        worker_cpu_request: "10m".into(),
        worker_memory_request: "32Mi".into(),
        worker_memory_limit: "512Mi".into(),
        ..PlatformSettings::default()
    };
    let state = plan(
        &admitted(include_str!("../../../examples/orders.yaml")),
        &settings,
    )
    .unwrap();
    let container = &object(&state, "Deployment")["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["imagePullPolicy"], "Never");
    assert_eq!(container["resources"]["requests"]["cpu"], "10m");
    assert_eq!(container["resources"]["requests"]["memory"], "32Mi");
    assert_eq!(container["resources"]["limits"]["memory"], "512Mi");
    // Ready waits for a ready worker: readiness is polled every 2 s, liveness every 10 s.
    assert_eq!(container["readinessProbe"]["periodSeconds"], 2);
    assert_eq!(container["livenessProbe"]["periodSeconds"], 10);
}

#[test]
fn table_maintenance_is_a_cron_job_through_trino_only_when_trino_is_configured() {
    let product = admitted(include_str!("../../../examples/orders.yaml"));
    let without = plan(&product, &PlatformSettings::default()).unwrap();
    assert!(without.children.maintenance.is_none());
    assert!(!kinds(&without).iter().any(|k| k.contains("maintenance")));

    let settings = PlatformSettings {
        maintenance_trino_url: "http://trino.trino.svc:8080".into(),
        ..PlatformSettings::default()
    };
    let state = plan(&product, &settings).unwrap();
    let jobs: Vec<Value> = state
        .children
        .manifests()
        .into_iter()
        .filter(|o| o["kind"] == "CronJob")
        .collect();
    assert_eq!(jobs.len(), 1, "{:?}", kinds(&state));
    let job = &jobs[0];
    assert_eq!(job["metadata"]["name"], "orders-maintenance");
    assert_eq!(job["spec"]["schedule"], "30 * * * *");
    assert_eq!(job["spec"]["concurrencyPolicy"], "Forbid");
    let pod = &job["spec"]["jobTemplate"]["spec"]["template"];
    let container = &pod["spec"]["containers"][0];
    assert_eq!(
        container["args"],
        serde_json::json!([
            "maintain",
            "--plan",
            "/etc/meshplane/plan.json",
            "--keep-snapshots",
            "7d",
            "--orphan-age",
            "7d"
        ])
    );
    assert_eq!(
        container["env"][0],
        serde_json::json!({"name": "MESHPLANE_TRINO_URL", "value": "http://trino.trino.svc:8080"})
    );
    // No secrets reach it (Trino holds the catalog's and S3's), and the workers' Service
    // does not select it.
    assert!(!container["env"].to_string().contains("secretKeyRef"));
    let service = object(&state, "Service");
    let selector = service["spec"]["selector"].as_object().unwrap();
    let labels = pod["metadata"]["labels"].as_object().unwrap();
    assert!(selector.iter().any(|(k, v)| labels.get(k) != Some(v)));
    assert_eq!(pod["spec"]["restartPolicy"], "OnFailure");
    assert_eq!(
        job["spec"]["jobTemplate"]["spec"]["activeDeadlineSeconds"],
        3000
    );
}

#[test]
fn the_worker_pod_template_pins_the_version_of_every_secret_the_workers_read() {
    let settings = PlatformSettings::default();
    let product = admitted(include_str!("../../../examples/orders.yaml"));
    let mut state = plan(&product, &settings).unwrap();
    // Every Secret the pod's environment names is pinned, and nothing else.
    let deployment = object(&state, "Deployment");
    let mut referenced: Vec<String> = deployment["spec"]["template"]["spec"]["containers"][0]
        ["env"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["valueFrom"]["secretKeyRef"]["name"].as_str())
        .map(str::to_string)
        .collect();
    referenced.sort();
    referenced.dedup();
    assert_eq!(referenced, worker_secrets(&settings));

    let versions = BTreeMap::from([
        ("meshplane-s3-credentials".to_string(), "812".to_string()),
        ("meshplane-masking-key".to_string(), "805".to_string()),
    ]);
    let text = secret_versions_text(&product, &settings, &versions);
    assert_eq!(
        text,
        "meshplane-catalog=absent,meshplane-masking-key=805,meshplane-s3-credentials=812"
    );
    pin_secret_versions(&mut state.children.workload, &text);
    let annotations = &object(&state, "Deployment")["spec"]["template"]["metadata"]["annotations"];
    assert_eq!(annotations[SECRET_VERSIONS_ANNOTATION], text.as_str());
    // The plan hash stays beside it.
    assert!(annotations[PLAN_HASH_ANNOTATION].is_string());

    let rotated = BTreeMap::from([
        ("meshplane-s3-credentials".to_string(), "900".to_string()),
        ("meshplane-masking-key".to_string(), "805".to_string()),
    ]);
    assert_ne!(secret_versions_text(&product, &settings, &rotated), text);
}

#[test]
fn with_keys_per_product_the_workers_read_their_own_secret_and_only_it() {
    let settings = PlatformSettings {
        worker_keys_per_product: true,
        ..PlatformSettings::default()
    };
    let product = admitted(include_str!("../../../examples/orders.yaml"));
    let mut state = plan(&product, &settings).unwrap();
    let deployment = object(&state, "Deployment");
    let env = &deployment["spec"]["template"]["spec"]["containers"][0]["env"];
    let key_secret = |name: &str| {
        env.as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == name)
            .map(|e| e["valueFrom"]["secretKeyRef"]["name"].clone())
    };
    assert_eq!(
        key_secret("AWS_ACCESS_KEY_ID"),
        Some("orders-worker-keys".into())
    );
    assert_eq!(
        key_secret("AWS_SECRET_ACCESS_KEY"),
        Some("orders-worker-keys".into())
    );
    assert!(!env.to_string().contains("meshplane-s3-credentials"));
    // The shared Secrets watched by name no longer include a key pair.
    assert_eq!(
        worker_secrets(&settings),
        vec!["meshplane-catalog", "meshplane-masking-key"]
    );
    // The workers' Role may read exactly the Secrets the pod names.
    let role = object(&state, "Role");
    let names: Vec<String> = role["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["resources"][0] == "secrets")
        .map(|r| serde_json::from_value(r["resourceNames"].clone()).unwrap())
        .unwrap();
    assert_eq!(names, product_worker_secrets(&product, &settings));
    assert!(names.contains(&"orders-worker-keys".to_string()));
    // A rotation (a new access key id) changes the pinned text, so the workers roll.
    let issued = |key: &str| {
        BTreeMap::from([
            ("orders-worker-keys".to_string(), key.to_string()),
            ("meshplane-masking-key".to_string(), "805".to_string()),
        ])
    };
    let text = secret_versions_text(&product, &settings, &issued("AK1"));
    assert_eq!(
        text,
        "meshplane-catalog=absent,meshplane-masking-key=805,orders-worker-keys=AK1"
    );
    assert_ne!(
        secret_versions_text(&product, &settings, &issued("AK2")),
        text
    );
    pin_secret_versions(&mut state.children.workload, &text);
    let template = &object(&state, "Deployment")["spec"]["template"]["metadata"];
    assert_eq!(
        template["annotations"][SECRET_VERSIONS_ANNOTATION],
        text.as_str()
    );
}

#[test]
fn a_scheduled_product_pins_secret_versions_on_its_job_template() {
    let settings = PlatformSettings::default();
    let mut state = plan(
        &admitted(include_str!("../../../examples/exchange-rates.yaml")),
        &settings,
    )
    .unwrap();
    pin_secret_versions(&mut state.children.workload, "meshplane-catalog=1");
    let cron = object(&state, "CronJob");
    assert_eq!(
        cron["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["annotations"]
            [SECRET_VERSIONS_ANNOTATION],
        "meshplane-catalog=1"
    );
}
