"""Controller lifecycle against the real API server, S3 server and Kafka broker: both
deletion policies, a clean-up that cannot reach its S3 server, leader election between two
replicas, and a controller killed with SIGKILL while provisioning 100 products."""
import uuid

import pytest
from confluent_kafka.admin import AdminClient

from conftest import (Controller, REPO, bucket_exists, direct_mode_args, event_reasons, example, kubectl,
                      kubectl_json, wait_until)


def orders(namespace, name="orders", topic=None, deletion_policy=None):
    """examples/orders.yaml renamed, with its own source topic and deletion policy."""
    text = example("orders.yaml", namespace).replace("name: orders\n", f"name: {name}\n", 1)
    if topic:
        text = text.replace("topic: orders.events", f"topic: {topic}")
    if deletion_policy:
        text = text.replace("  retention: 90d\n", f"  retention: 90d\n  deletionPolicy: {deletion_policy}\n")
    return text


def topics(kafka_bootstrap):
    return set(AdminClient({"bootstrap.servers": kafka_bootstrap}).list_topics(timeout=10).topics)


def lease_holder(name):
    proc = kubectl("-n", "default", "get", "lease", name, "-o", "jsonpath={.spec.holderIdentity}", check=False)
    return proc.stdout.strip() if proc.returncode == 0 else ""


@pytest.fixture
def run_dir(tmp_path):
    kubectl("apply", "-f", f"{REPO}/examples/policy.yaml")
    return tmp_path


@pytest.fixture
def controller(run_dir):
    process = Controller(run_dir / "controller.log", "127.0.0.1:18091",
                         *direct_mode_args(f"lifecycle-{uuid.uuid4().hex[:6]}"))
    yield process
    process.stop()


def test_deletion_policy_delete_removes_bucket_and_topic(controller, namespace, s3, kafka_bootstrap):
    topic = f"orders.delete-{uuid.uuid4().hex[:6]}"
    kubectl("apply", "-f", "-", input=orders(namespace, topic=topic, deletion_policy="Delete"))
    kubectl("-n", namespace, "wait", "--for=condition=Ready", "dataproduct/orders", "--timeout=90s")
    bucket = f"meshplane-{namespace}-orders"
    s3.put_object(Bucket=bucket, Key="table/dt=2026-11-27/hr=10/part-0.parquet", Body=b"x")
    assert topic in topics(kafka_bootstrap)

    kubectl("-n", namespace, "delete", "dataproduct", "orders", "--timeout=60s")
    assert not bucket_exists(s3, bucket)
    wait_until(lambda: topic not in topics(kafka_bootstrap), 30, f"topic {topic} to be deleted")
    assert "CleanedUp" in event_reasons(namespace, "orders")


def test_deletion_policy_retain_keeps_bucket_data_and_topic(controller, namespace, s3, kafka_bootstrap):
    topic = f"orders.retain-{uuid.uuid4().hex[:6]}"
    kubectl("apply", "-f", "-", input=orders(namespace, topic=topic))
    kubectl("-n", namespace, "wait", "--for=condition=Ready", "dataproduct/orders", "--timeout=90s")
    bucket = f"meshplane-{namespace}-orders"
    s3.put_object(Bucket=bucket, Key="table/part-0.parquet", Body=b"x")

    kubectl("-n", namespace, "delete", "dataproduct", "orders", "--timeout=60s")
    assert s3.head_object(Bucket=bucket, Key="table/part-0.parquet")
    assert topic in topics(kafka_bootstrap)


def test_a_clean_up_that_cannot_reach_s3_gives_up_after_bounded_retries(run_dir, namespace):
    # A controller whose S3 server is gone (nothing listens on port 1).
    process = Controller(run_dir / "no-s3.log", "127.0.0.1:18092", "--s3-endpoint", "http://127.0.0.1:1",
                         *direct_mode_args(f"nos3-{uuid.uuid4().hex[:6]}"))
    try:
        kubectl("apply", "-f", "-", input=orders(namespace, deletion_policy="Delete"))
        wait_until(lambda: "meshplane.dev/cleanup" in kubectl_json("-n", namespace, "get", "dataproduct", "orders")
                   ["metadata"].get("finalizers", []), 30, "the finalizer")
        wait_until(lambda: "ProvisioningFailed" in event_reasons(namespace, "orders"), 30, "a ProvisioningFailed event")
        kubectl("-n", namespace, "delete", "dataproduct", "orders", "--wait=false")
        gone = lambda: kubectl("-n", namespace, "get", "dataproduct", "orders", check=False).returncode != 0
        wait_until(gone, 120, "the finalizer to be released after bounded retries")
        events = kubectl_json("-n", namespace, "get", "events", "--field-selector", "involvedObject.name=orders")["items"]
        abandoned = [e for e in events if e["reason"] == "CleanupAbandoned"]
        assert abandoned and abandoned[0]["type"] == "Warning"
        assert f"meshplane-{namespace}-orders" in abandoned[0]["message"]
        assert "manual removal" in abandoned[0]["message"]
    finally:
        process.stop()


def test_one_leader_at_a_time_and_a_standby_takes_over_after_sigkill(run_dir, namespace):
    lease = f"leader-{uuid.uuid4().hex[:6]}"
    first = Controller(run_dir / "first.log", "127.0.0.1:18093", *direct_mode_args(lease))
    second = Controller(run_dir / "second.log", "127.0.0.1:18094", *direct_mode_args(lease))
    try:
        holder = wait_until(lambda: lease_holder(lease), 30, "a lease holder")
        kubectl("apply", "-f", "-", input=orders(namespace, name="before"))
        kubectl("-n", namespace, "wait", "--for=condition=Ready", "dataproduct/before", "--timeout=90s")
        leader, standby = (first, second) if holder.endswith(f"-{first.process.pid}") else (second, first)
        assert holder.endswith(f"-{leader.process.pid}"), holder
        # The standby never reconciled anything.
        standby.log.flush()
        assert "controller running" not in open(standby.log_path).read()

        leader.kill()
        kubectl("apply", "-f", "-", input=orders(namespace, name="after"))
        wait_until(lambda: lease_holder(lease).endswith(f"-{standby.process.pid}"), 60, "the standby to take the lease")
        kubectl("-n", namespace, "wait", "--for=condition=Ready", "dataproduct/after", "--timeout=90s")
    finally:
        first.stop()
        second.stop()


def test_sigkill_while_provisioning_100_products_converges_without_orphans(run_dir, namespace, s3, kafka_bootstrap):
    lease = f"kill-{uuid.uuid4().hex[:6]}"
    count = 100
    manifests = "---\n".join(orders(namespace, name=f"p{i:03d}", topic=f"kill-{namespace}.p{i:03d}")
                             for i in range(count))
    # Two reconciles at a time, so the kill lands mid-way (a release build at full
    # concurrency provisions all 100 within one poll).
    controller = Controller(run_dir / "kill.log", "127.0.0.1:18095", *direct_mode_args(lease), "--concurrency", "2")
    kubectl("apply", "-f", "-", input=manifests)

    def ready_count():
        items = kubectl_json("-n", namespace, "get", "dataproducts")["items"]
        return sum(1 for p in items for c in p.get("status", {}).get("conditions", [])
                   if c["type"] == "Ready" and c["status"] == "True")
    try:
        wait_until(lambda: ready_count() >= 3, 120, "the first products to be Ready")
        controller.kill()
        assert ready_count() < count, "all products were Ready before the kill; the test proves nothing"
    finally:
        controller.stop()
    restarted = Controller(run_dir / "restarted.log", "127.0.0.1:18095", *direct_mode_args(lease))
    try:
        # Ready includes each product's worker pod: 100 of them start on the node (~100 s
        # on two cores, see BENCHMARKS.md).
        kubectl("-n", namespace, "wait", "--for=condition=Ready", "dataproduct", "--all", "--timeout=300s",
                timeout=320)
    finally:
        restarted.stop()

    products = {p["metadata"]["name"]: p["metadata"]["uid"]
                for p in kubectl_json("-n", namespace, "get", "dataproducts")["items"]}
    assert len(products) == count
    # One of each child per product, each owned by its product, nothing else.
    for kind in ["deployment", "configmap", "serviceaccount", "role", "rolebinding", "service",
                 "servicemonitor", "prometheusrule"]:
        items = kubectl_json("-n", namespace, "get", kind, "-l", "app.kubernetes.io/managed-by=meshplane")["items"]
        owners = [tuple(o["uid"] for o in i["metadata"].get("ownerReferences", [])) for i in items]
        assert all(len(o) == 1 and o[0] in products.values() for o in owners), f"orphaned {kind}"
        per_product = {"configmap": 2, "role": 2, "rolebinding": 2}.get(kind, 1)
        assert len(items) == count * per_product, f"{len(items)} {kind}s for {count} products"
    buckets = [b["Name"] for b in s3.list_buckets()["Buckets"] if b["Name"].startswith(f"meshplane-{namespace}-")]
    assert sorted(buckets) == sorted(f"meshplane-{namespace}-{name}" for name in products)
    created = {t for t in topics(kafka_bootstrap) if t.startswith(f"kill-{namespace}.")}
    assert len(created) == count
