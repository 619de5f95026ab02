"""Smoke test of the local platform stack through the clients users use: kubectl, a
Kafka client (librdkafka via confluent-kafka) and an S3 client (boto3)."""
import glob
import json
import uuid

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from conftest import REPO, kubectl, kubectl_json, wait_until


def test_api_server_is_ready():
    assert kubectl("get", "--raw", "/readyz").stdout.strip() == "ok"
    version = kubectl_json("version")["serverVersion"]
    assert version["gitVersion"].startswith("v1.")


def test_meshplane_and_third_party_crds_are_established():
    for crd in [
        "dataproducts.meshplane.dev",
        "governancepolicies.meshplane.dev",
        "kafkatopics.kafka.strimzi.io",
        "kafkaconnectors.kafka.strimzi.io",
        "servicemonitors.monitoring.coreos.com",
        "prometheusrules.monitoring.coreos.com",
    ]:
        conditions = kubectl_json("get", "crd", crd)["status"]["conditions"]
        established = [c for c in conditions if c["type"] == "Established"]
        assert established and established[0]["status"] == "True", crd


def test_the_garbage_collector_deletes_owned_objects(namespace):
    kubectl("-n", namespace, "create", "configmap", "owner")
    uid = kubectl_json("-n", namespace, "get", "configmap", "owner")["metadata"]["uid"]
    child = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "child",
            "namespace": namespace,
            "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": uid}],
        },
    }
    kubectl("apply", "-f", "-", input=json.dumps(child))
    kubectl("-n", namespace, "delete", "configmap", "owner")
    wait_until(
        lambda: kubectl("-n", namespace, "get", "configmap", "child", check=False).returncode != 0,
        60,
        "the garbage collector to delete the owned ConfigMap",
    )


def test_deployments_get_replicasets_from_the_controller_manager(namespace):
    kubectl("-n", namespace, "create", "deployment", "web", "--image=registry.invalid/web:1")
    wait_until(
        lambda: kubectl_json("-n", namespace, "get", "replicasets")["items"],
        60,
        "a ReplicaSet for the Deployment",
    )


def test_a_produced_message_is_consumed_back(kafka_bootstrap):
    topic = f"smoke-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])[topic].result(timeout=30)
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "enable.idempotence": True})
    producer.produce(topic, key=b"k", value=b'{"order_id": "o-1"}')
    assert producer.flush(30) == 0
    consumer = Consumer({
        "bootstrap.servers": kafka_bootstrap,
        "group.id": f"smoke-{topic}",
        "auto.offset.reset": "earliest",
    })
    consumer.subscribe([topic])
    try:
        message = wait_until(lambda: consumer.poll(1.0), 60, "the message to be consumed")
        assert message.error() is None, message.error()
        assert (message.key(), message.value()) == (b"k", b'{"order_id": "o-1"}')
    finally:
        consumer.close()
        admin.delete_topics([topic])


def test_a_bucket_keeps_sse_s3_and_a_90_day_expiration(s3):
    bucket = f"smoke-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_encryption(
        Bucket=bucket,
        ServerSideEncryptionConfiguration={"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]},
    )
    s3.put_bucket_lifecycle_configuration(
        Bucket=bucket,
        LifecycleConfiguration={"Rules": [{"ID": "retention", "Status": "Enabled", "Filter": {"Prefix": ""}, "Expiration": {"Days": 90}}]},
    )
    encryption = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert encryption["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    rules = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert [(r["Status"], r["Expiration"]["Days"]) for r in rules] == [("Enabled", 90)]
    s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    assert s3.head_object(Bucket=bucket, Key="k").get("ServerSideEncryption") == "AES256"
    s3.delete_object(Bucket=bucket, Key="k")
    s3.delete_bucket(Bucket=bucket)


EXAMPLE_NAMESPACES = ["orders", "payments", "customers", "finance"]


def ensure_namespaces(names):
    manifest = "\n---\n".join(f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {n}" for n in names)
    kubectl("apply", "-f", "-", input=manifest)


def test_the_api_server_accepts_every_example_in_the_generated_schema():
    ensure_namespaces(EXAMPLE_NAMESPACES)
    for path in sorted(glob.glob(f"{REPO}/examples/*.yaml")) + sorted(glob.glob(f"{REPO}/examples/rejected/*.yaml")):
        out = kubectl("apply", "--dry-run=server", "-f", path).stdout
        assert "(server dry run)" in out, path


def test_the_api_server_itself_rejects_two_sources():
    ensure_namespaces(["orders"])
    with open(f"{REPO}/examples/orders.yaml") as f:
        product = f.read().replace(
            "      format: json\n",
            "      format: json\n    batch:\n      url: http://example.invalid\n      schedule: '0 * * * *'\n",
        )
    proc = kubectl("apply", "--dry-run=server", "-f", "-", input=product, check=False)
    assert proc.returncode != 0
    assert "set exactly one of kafka, cdc, batch, products" in proc.stderr


def test_kubectl_explain_shows_the_field_docs():
    out = kubectl("explain", "dataproduct.spec.retention").stdout
    assert "How long data is kept before it expires" in out
    out = kubectl("explain", "governancepolicy.spec.retention.maxPii").stdout
    assert "Longest retention for a product with any personal-data field" in out
