"""`meshplane controller` against the real API server, S3 server and Kafka broker (topics
in direct mode): products become Ready with their bucket, topic and children; tightened
policies are reported, not applied; drift is repaired; deletion keeps the data
(deletionPolicy Retain)."""
import base64
import re
import uuid

import pytest
from confluent_kafka.admin import AdminClient, ConfigResource

from conftest import (REPO, Controller, condition, direct_mode_args, event_reasons, example, kubectl,
                      kubectl_json, wait_until)


METRICS_ADDR = "127.0.0.1:18090"



@pytest.fixture(scope="module")
def controller(tmp_path_factory):
    kubectl("apply", "-f", f"{REPO}/examples/policy.yaml")
    process = Controller(tmp_path_factory.mktemp("controller") / "controller.log", METRICS_ADDR,
                         *direct_mode_args("meshplane-e2e-controller"))
    yield process
    process.stop()


def test_orders_becomes_ready_with_an_encrypted_bucket_and_owned_children(controller, namespace, s3, kafka_bootstrap):
    kubectl("apply", "-f", "-", input=example("orders.yaml", namespace))
    kubectl("-n", namespace, "wait", "--for=condition=Ready", "dataproduct/orders", "--timeout=90s")
    product = kubectl_json("-n", namespace, "get", "dataproduct", "orders")
    bucket = product["status"]["endpoints"]["bucket"]
    assert bucket == f"meshplane-{namespace}-orders"
    assert product["status"]["observedGeneration"] == product["metadata"]["generation"]
    assert product["status"]["source"] == "kafka:orders.events"
    assert {"gdpr", "ccpa"} <= set(product["status"]["complianceTags"])

    encryption = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert encryption["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    rules = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert [(r["Expiration"]["Days"], r["Filter"]["Prefix"]) for r in rules] == [(90, "_rejected/")]
    tags = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=bucket)["TagSet"]}
    assert tags["meshplane.dev/classification"] == "confidential"

    uid = product["metadata"]["uid"]
    for kind, name in [("deployment", "orders-ingest"), ("configmap", "orders-ingest-plan"),
                       ("serviceaccount", "orders-ingest"), ("role", "orders-ingest"), ("rolebinding", "orders-ingest"),
                       ("role", "orders-readers"), ("rolebinding", "orders-readers"), ("service", "orders-metrics"),
                       ("servicemonitor", "orders-ingest"), ("prometheusrule", "orders-slo"),
                       ("configmap", "orders-dashboard"), ("secret", "orders-read-credentials")]:
        child = kubectl_json("-n", namespace, "get", kind, name, "--show-managed-fields")
        owners = child["metadata"].get("ownerReferences", [])
        assert [o["uid"] for o in owners] == [uid], f"{kind}/{name} is not owned by the product"
        appliers = [f["manager"] for f in child["metadata"]["managedFields"] if f["operation"] == "Apply"]
        if kind != "secret":  # secrets are created once, never re-applied
            assert appliers == ["meshplane"], f"{kind}/{name}: {appliers}"
    plan = kubectl_json("-n", namespace, "get", "configmap", "orders-ingest-plan")["data"]["plan.json"]
    assert '"masking": "hash"' in plan
    wait_until(lambda: "BucketCreated" in event_reasons(namespace, "orders"), 30, "a BucketCreated event")
    assert "meshplane.dev/cleanup" in product["metadata"]["finalizers"]

    # The workload's secrets exist; the masking key is generated, 256 bits.
    key = kubectl_json("-n", namespace, "get", "secret", "meshplane-masking-key")["data"]["key"]
    assert len(base64.b64decode(key)) == 64
    creds = kubectl_json("-n", namespace, "get", "secret", "meshplane-s3-credentials")["data"]
    assert set(creds) == {"access-key-id", "secret-access-key"}
    read = kubectl_json("-n", namespace, "get", "secret", "orders-read-credentials")["data"]
    assert base64.b64decode(read["bucket"]).decode() == bucket

    # The source topic exists in Kafka with the declared partitions and raw-event retention
    # capped at 7 days (raw events carry unmasked PII).
    assert product["status"]["endpoints"]["topic"] == "orders.events"
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    metadata = admin.list_topics(topic="orders.events", timeout=10).topics["orders.events"]
    assert len(metadata.partitions) == 6
    resource = ConfigResource(ConfigResource.Type.TOPIC, "orders.events")
    config = admin.describe_configs([resource])[resource].result(timeout=10)
    assert config["retention.ms"].value == str(7 * 86400 * 1000)
    topic = condition(namespace, "orders", "TopicReady")
    assert topic["status"] == "True" and topic["reason"] == "TopicsProvisioned"
    # Ready waited for the worker: its pod runs on the node.
    ingestion = condition(namespace, "orders", "IngestionReady")
    assert ingestion["status"] == "True" and ingestion["reason"] == "WorkerAvailable", ingestion
    workers = kubectl_json("-n", namespace, "get", "pods", "-l", "app.kubernetes.io/name=meshplane-ingest")["items"]
    assert [p["status"]["phase"] for p in workers] == ["Running"]


def test_a_tightened_policy_is_reported_not_applied(controller, namespace):
    kubectl("apply", "-f", "-", input=example("orders.yaml", namespace))
    kubectl("-n", namespace, "wait", "--for=condition=Ready", "dataproduct/orders", "--timeout=90s")
    name = f"tight-{uuid.uuid4().hex[:6]}"
    policy = (f"apiVersion: meshplane.dev/v1alpha1\nkind: GovernancePolicy\nmetadata:\n  name: {name}\n"
              f"spec:\n  appliesTo: {{ namespaces: [{namespace}] }}\n  retention: {{ maxPii: 30d }}\n")
    kubectl("apply", "-f", "-", input=policy)
    try:
        compliant = wait_until(lambda: (c := condition(namespace, "orders", "PolicyCompliant")) and c["status"] == "False" and c,
                               60, "PolicyCompliant=False")
        assert "exceeds the maximum 30d for personal data" in compliant["message"]
        assert f"policy {name}" in compliant["message"]
        assert condition(namespace, "orders", "Ready")["status"] == "False"
        assert kubectl_json("-n", namespace, "get", "dataproduct", "orders")["spec"]["retention"] == "90d"
        wait_until(lambda: "PolicyViolation" in event_reasons(namespace, "orders"), 30, "a PolicyViolation event")
    finally:
        kubectl("delete", "governancepolicy", name, "--ignore-not-found")
    wait_until(lambda: condition(namespace, "orders", "PolicyCompliant")["status"] == "True", 60, "compliance restored")


def test_bucket_drift_is_repaired(controller, namespace, s3):
    kubectl("apply", "-f", "-", input=example("orders.yaml", namespace))
    kubectl("-n", namespace, "wait", "--for=condition=Ready", "dataproduct/orders", "--timeout=90s")
    bucket = f"meshplane-{namespace}-orders"
    s3.delete_bucket_encryption(Bucket=bucket)
    s3.delete_bucket_lifecycle(Bucket=bucket)
    # Any change to the product triggers a reconcile (the periodic resync does too, every 5 min).
    kubectl("-n", namespace, "annotate", "dataproduct", "orders", f"touched={uuid.uuid4().hex}")
    # The StorageReady reason is DriftRepaired only until the next reconcile; the Event stays.
    # (A reconcile may land between the two deletions and repair them in two steps.)
    def repaired_settings():
        events = kubectl_json("-n", namespace, "get", "events", "--field-selector", "involvedObject.name=orders")["items"]
        drift = [e for e in events if e["reason"] == "DriftRepaired"]
        assert all(e["type"] == "Warning" for e in drift)
        text = " ".join(e["message"] for e in drift)
        return "encryption" in text and "lifecycle" in text
    wait_until(repaired_settings, 60, "DriftRepaired events for encryption and lifecycle")
    assert s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"][0]["Expiration"]["Days"] == 90


def test_deleting_a_retained_product_removes_its_children_and_keeps_its_data(controller, namespace, s3):
    kubectl("apply", "-f", "-", input=example("orders.yaml", namespace))
    kubectl("-n", namespace, "wait", "--for=condition=Ready", "dataproduct/orders", "--timeout=90s")
    bucket = f"meshplane-{namespace}-orders"
    s3.put_object(Bucket=bucket, Key="table/dt=2026-11-27/hr=10/part-0.parquet", Body=b"x")
    kubectl("-n", namespace, "delete", "dataproduct", "orders")
    wait_until(lambda: kubectl("-n", namespace, "get", "deployment", "orders-ingest", check=False).returncode != 0,
               60, "the garbage collector to remove the workload")
    assert s3.head_object(Bucket=bucket, Key="table/dt=2026-11-27/hr=10/part-0.parquet")


def test_metrics_and_health_are_served(controller, namespace):
    import urllib.request
    kubectl("apply", "-f", "-", input=example("orders.yaml", namespace))
    kubectl("-n", namespace, "wait", "--for=condition=Ready", "dataproduct/orders", "--timeout=90s")
    get = lambda path: urllib.request.urlopen(f"http://{METRICS_ADDR}{path}", timeout=10).read().decode()
    assert get("/healthz") == "ok" and get("/readyz") == "ok"
    metrics = get("/metrics")
    ok = re.search(r'^meshplane_reconciles_total\{result="ok"\} (\d+)$', metrics, re.M)
    ready = re.search(r'^meshplane_data_products\{state="ready"\} (\d+)$', metrics, re.M)
    assert ok and int(ok.group(1)) >= 1, metrics
    assert ready and int(ready.group(1)) >= 1, metrics
    assert "meshplane_reconcile_duration_seconds_bucket" in metrics


def test_a_policy_reports_the_products_it_applies_to_and_those_that_break_it(controller, namespace):
    policy = f"names-{namespace}"
    kubectl("apply", "-f", "-", input=f"""
apiVersion: meshplane.dev/v1alpha1
kind: GovernancePolicy
metadata: {{ name: {policy} }}
spec:
  enforcement: Audit
  appliesTo: {{ namespaces: [{namespace}] }}
  naming: {{ productNamePattern: "^orders-[a-z]+$" }}
""")
    try:
        orders = example("orders.yaml", namespace)
        kubectl("apply", "-f", "-", input=orders)
        kubectl("apply", "-f", "-", input=orders.replace("  name: orders\n", "  name: orders-eu\n", 1))

        def status():
            return kubectl_json("get", "governancepolicy", policy).get("status", {})

        counted = wait_until(lambda: (lambda s: s if s.get("matchedProducts") == 2 else None)(status()), 90,
                             f"GovernancePolicy {policy} to count the two products of {namespace}")
        assert counted["nonCompliantProducts"] == 1, counted
        assert counted["nonCompliant"] == [f"{namespace}/orders"], counted
        ready = {c["type"]: c for c in counted["conditions"]}["Ready"]
        assert (ready["status"], ready["reason"]) == ("True", "InForce"), ready
        assert ready["message"] == "in force: applies to 2 products, 1 non-compliant"
        row = kubectl("get", "governancepolicy", policy, "--no-headers").stdout.split()
        assert row[1:4] == ["Audit", "2", "1"], row

        # Stored past admission (no webhook here), an invalid policy is left out of force
        # and its status says why instead of keeping the old counts.
        kubectl("patch", "governancepolicy", policy, "--type=merge",
                "-p", '{"spec":{"piiDetection":{"fieldPatterns":["("]}}}')
        broken = wait_until(lambda: (lambda s: s if any(c["type"] == "Ready" and c["status"] == "False"
                                                       for c in s.get("conditions", [])) else None)(status()),
                            90, f"GovernancePolicy {policy} to report that it is not in force")
        ready = {c["type"]: c for c in broken["conditions"]}["Ready"]
        assert ready["reason"] == "PolicyNotInForce", ready
        assert "spec.piiDetection.fieldPatterns[0]" in ready["message"], ready
        assert {c["type"]: c for c in broken["conditions"]}["Stalled"]["status"] == "True"
        assert "matchedProducts" not in broken and "nonCompliant" not in broken, broken
    finally:
        kubectl("delete", "governancepolicy", policy, "--ignore-not-found")
