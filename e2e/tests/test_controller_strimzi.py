"""Strimzi topic mode against the real API server: the controller applies KafkaTopic
resources, reports TopicReady from their status, and on deletion with Retain marks them
unmanaged so the Kafka topic survives.

Strimzi's topic operator does not run on the local stack (its CRDs are installed, the
operator is not); the test writes the KafkaTopic status the operator would write."""
import uuid

import pytest

from conftest import Controller, REPO, condition, event_reasons, example, kubectl, kubectl_json, wait_until


@pytest.fixture(scope="module")
def controller(tmp_path_factory):
    kubectl("apply", "-f", f"{REPO}/examples/policy.yaml")
    # KafkaTopics beside each product (no Strimzi namespace on the local stack).
    process = Controller(tmp_path_factory.mktemp("strimzi") / "controller.log", "127.0.0.1:18096",
                         "--topic-mode", "strimzi", "--strimzi-namespace", "",
                         "--lease-name", f"strimzi-{uuid.uuid4().hex[:6]}", "--lease-seconds", "6")
    yield process
    process.stop()


def operator_reports(namespace, name, ready, message=""):
    """Writes the status Strimzi's topic operator would write."""
    topic = kubectl_json("-n", namespace, "get", "kafkatopic", name)
    status = {"observedGeneration": topic["metadata"]["generation"],
              "conditions": [{"type": "Ready", "status": "True" if ready else "False", "message": message,
                              "lastTransitionTime": "2026-11-27T10:00:00Z"}]}
    import json
    kubectl("-n", namespace, "patch", "kafkatopic", name, "--subresource=status", "--type=merge",
            "-p", json.dumps({"status": status}))


def test_ready_follows_the_topic_operator(controller, namespace):
    kubectl("apply", "-f", "-", input=example("orders.yaml", namespace))
    waiting = wait_until(lambda: (c := condition(namespace, "orders", "TopicReady")) and c, 60, "TopicReady")
    assert waiting["status"] == "False" and waiting["reason"] == "WaitingForTopicOperator"
    assert condition(namespace, "orders", "Ready")["status"] == "False"
    assert condition(namespace, "orders", "Reconciling")["status"] == "True"

    topic = kubectl_json("-n", namespace, "get", "kafkatopic", "orders-events")
    assert topic["spec"]["topicName"] == "orders.events"
    assert topic["spec"]["partitions"] == 6
    assert topic["spec"]["config"]["retention.ms"] == str(7 * 86400 * 1000)
    assert topic["metadata"]["labels"]["strimzi.io/cluster"] == "kafka"

    operator_reports(namespace, "orders-events", False, "Number of partitions cannot be decreased")
    failed = wait_until(lambda: (c := condition(namespace, "orders", "TopicReady")) and c["reason"] == "KafkaTopicFailed" and c,
                        60, "TopicReady=False KafkaTopicFailed")
    assert "cannot be decreased" in failed["message"]
    assert condition(namespace, "orders", "Stalled")["status"] == "True"

    operator_reports(namespace, "orders-events", True)
    kubectl("-n", namespace, "wait", "--for=condition=Ready", "dataproduct/orders", "--timeout=60s")
    assert condition(namespace, "orders", "TopicReady")["reason"] == "KafkaTopicReady"


def test_retain_hands_the_topic_over_before_the_resource_goes(controller, namespace):
    kubectl("apply", "-f", "-", input=example("orders.yaml", namespace))
    wait_until(lambda: kubectl("-n", namespace, "get", "kafkatopic", "orders-events", check=False).returncode == 0,
               60, "the KafkaTopic")
    # Strimzi's topic operator holds KafkaTopics with its own finalizer; so does this test,
    # to see what the resource looks like when the deletion reaches it.
    kubectl("-n", namespace, "patch", "kafkatopic", "orders-events", "--type=merge",
            "-p", '{"metadata":{"finalizers":["strimzi.io/topic-operator"]}}')
    kubectl("-n", namespace, "delete", "dataproduct", "orders", "--timeout=60s")
    topic = kubectl_json("-n", namespace, "get", "kafkatopic", "orders-events")
    assert topic["metadata"].get("deletionTimestamp")
    assert topic["metadata"]["annotations"]["strimzi.io/managed"] == "false"
    assert "CleanedUp" in event_reasons(namespace, "orders")
    kubectl("-n", namespace, "patch", "kafkatopic", "orders-events", "--type=merge",
            "-p", '{"metadata":{"finalizers":null}}')
