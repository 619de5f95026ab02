"""The controller keeps a product's children exactly as planned, against the real API
server and Kafka broker: children a product no longer needs are pruned (a Deployment after
the source became a batch pull, the topic of a removed stream port), and a child deleted
or edited by hand is restored at once, not at the next 5-minute resync."""
import pytest
from confluent_kafka.admin import AdminClient

from conftest import (REPO, Controller, condition, direct_mode_args, event_reasons, example, free_port, kubectl,
                      kubectl_json, wait_until)

BATCH_SOURCE = "    batch:\n      url: http://treasury.finance.svc/api/orders\n      schedule: \"0 * * * *\"\n"
KAFKA_SOURCE = "    kafka:\n      topic: orders.events\n      partitions: 6\n      format: json\n"


@pytest.fixture(scope="module")
def controller(tmp_path_factory):
    kubectl("apply", "-f", f"{REPO}/examples/policy.yaml")
    process = Controller(tmp_path_factory.mktemp("controller") / "controller.log", f"127.0.0.1:{free_port()}",
                         *direct_mode_args("meshplane-e2e-children"))
    yield process
    process.stop()


def exists(namespace, kind, name):
    return kubectl("-n", namespace, "get", kind, name, check=False).returncode == 0


def ready(namespace, name="orders"):
    kubectl("-n", namespace, "wait", "--for=condition=Ready", f"dataproduct/{name}", "--timeout=90s")


def test_switching_the_source_from_kafka_to_batch_leaves_no_deployment(controller, namespace):
    orders = example("orders.yaml", namespace)
    assert KAFKA_SOURCE in orders
    kubectl("apply", "-f", "-", input=orders)
    ready(namespace)
    assert exists(namespace, "deployment", "orders-ingest")

    kubectl("apply", "-f", "-", input=orders.replace(KAFKA_SOURCE, BATCH_SOURCE))
    wait_until(lambda: exists(namespace, "cronjob", "orders-ingest"), 60, "the batch CronJob")
    wait_until(lambda: not exists(namespace, "deployment", "orders-ingest"), 60, "the Deployment to be pruned")
    wait_until(lambda: "OrphansDeleted" in event_reasons(namespace, "orders"), 30, "an OrphansDeleted event")
    product = kubectl_json("-n", namespace, "get", "dataproduct", "orders")
    assert product["status"]["source"].startswith("batch:")
    # Everything else the product still needs is still there.
    for kind, name in [("configmap", "orders-ingest-plan"), ("service", "orders-metrics"),
                       ("rolebinding", "orders-readers"), ("servicemonitor", "orders-ingest")]:
        assert exists(namespace, kind, name), f"{kind}/{name} was pruned"


def test_a_removed_stream_port_leaves_no_topic(controller, namespace, kafka_bootstrap):
    topic = f"orders.masked.{namespace}"
    orders = example("orders.yaml", namespace)
    with_stream = orders.replace("  output:\n", f"  output:\n    stream:\n      topic: {topic}\n", 1)
    assert with_stream != orders
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})

    def topic_exists():
        return topic in admin.list_topics(timeout=10).topics

    kubectl("apply", "-f", "-", input=with_stream)
    ready(namespace)
    assert kubectl_json("-n", namespace, "get", "dataproduct", "orders")["status"]["endpoints"]["streamTopic"] == topic
    assert topic_exists()

    kubectl("apply", "-f", "-", input=orders)
    wait_until(lambda: not topic_exists(), 60, f"topic {topic} to be deleted")
    wait_until(lambda: "streamTopic" not in kubectl_json("-n", namespace, "get", "dataproduct", "orders")["status"]
               .get("endpoints", {}), 30, "the stream topic to leave the status")
    assert condition(namespace, "orders", "Ready")["status"] == "True"


def test_a_deleted_or_edited_child_is_restored_within_seconds(controller, namespace):
    kubectl("apply", "-f", "-", input=example("orders.yaml", namespace))
    ready(namespace)
    before = kubectl_json("-n", namespace, "get", "deployment", "orders-ingest")["metadata"]["uid"]

    kubectl("-n", namespace, "delete", "deployment", "orders-ingest")
    # The periodic resync is 5 minutes; the watch of children brings it back at once.
    restored = wait_until(lambda: exists(namespace, "deployment", "orders-ingest") and
                          kubectl_json("-n", namespace, "get", "deployment", "orders-ingest"), 20,
                          "the deleted Deployment to be restored")
    assert restored["metadata"]["uid"] != before

    plan = kubectl_json("-n", namespace, "get", "configmap", "orders-ingest-plan")["data"]["plan.json"]
    kubectl("-n", namespace, "patch", "configmap", "orders-ingest-plan", "--type=merge",
            "-p", '{"data": {"plan.json": "{}"}}')
    wait_until(lambda: kubectl_json("-n", namespace, "get", "configmap", "orders-ingest-plan")["data"]["plan.json"] == plan,
               20, "the edited plan ConfigMap to be restored")

    # Restoring is a full pass like any other; the product is Ready again once the restored
    # Deployment's worker pod is available (while it was gone, Ready said so).
    kubectl("-n", namespace, "wait", "--for=condition=Ready", "dataproduct/orders", "--timeout=90s")
    assert condition(namespace, "orders", "IngestionReady")["reason"] == "WorkerAvailable"


def test_a_policy_too_large_to_compile_leaves_the_controller_running_and_is_reported(controller, namespace):
    """Each pattern compiles, the twelve together exceed the regex size limit. Admission
    rejects such a policy; one stored while no webhook ran must not stop the controller:
    it is left out of force with a Warning Event on the policy and a counted failure, and
    products still reconcile with the policies in force."""
    import re
    import urllib.request
    name = f"oversized-{namespace}"
    patterns = ", ".join(f"'\\w{{30}}x{i}'" for i in range(1, 13))
    policy = (f"apiVersion: meshplane.dev/v1alpha1\nkind: GovernancePolicy\nmetadata:\n  name: {name}\n"
              f"spec:\n  piiDetection:\n    fieldPatterns: [{patterns}]\n")
    kubectl("apply", "-f", "-", input=policy)
    try:
        def reported():
            events = kubectl_json("get", "events", "-A", "--field-selector", f"involvedObject.name={name}")["items"]
            return [e for e in events if e["reason"] == "PolicyNotInForce"]
        event = wait_until(reported, 60, "a PolicyNotInForce event on the policy")[0]
        assert event["type"] == "Warning"
        assert "spec.piiDetection.fieldPatterns" in event["message"], event["message"]
        assert controller.process.poll() is None, "the controller stopped"
        metrics = urllib.request.urlopen(f"http://{controller.metrics_addr}/metrics", timeout=10).read().decode()
        counted = re.findall(r"^meshplane_policy_rebuild_failures_total\{[^}]*\} (\d+)", metrics, re.M)
        assert counted and sum(map(int, counted)) > 0, metrics
        kubectl("apply", "-f", "-", input=example("orders.yaml", namespace))
        ready(namespace)
    finally:
        kubectl("delete", "governancepolicy", name, "--ignore-not-found")
