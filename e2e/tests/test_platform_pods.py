"""The platform as users deploy it: `helm install` into the local cluster, whose node runs
pods. The controller and the webhook run in pods; the API server reaches the webhook
through its Service; products' ingestion workers run as pods of the Deployments the
controller creates, read Kafka through the `platform/kafka` Service and write S3 through
`platform/s3`. Faults: worker pods force-deleted mid-stream, a worker image missing on the
node, a webhook pod killed while products are applied, the kubelet restarted, a wrong key
pair in the workers' Secret, the Secret deleted."""
import json
import re
import subprocess
import threading
import time
import uuid

import pytest

from conftest import (REPO, condition, event_reasons, example, kubectl, kubectl_json, refused, require_env, s3_with,
                      secret_data, wait_until)
from ingest_support import catalog, committed_total, create_topic, event, produce, trino_query

PLATFORM_NAMESPACE = "meshplane-system"
HEX64 = re.compile(r"^[0-9a-f]{64}$")


def platform_script(*args, timeout=600):
    proc = subprocess.run(["bash", f"{REPO}/e2e/stack/platform.sh", *args], capture_output=True, text=True,
                          timeout=timeout)
    assert proc.returncode == 0, f"platform.sh {' '.join(args)} failed: {proc.stdout}\n{proc.stderr}"


@pytest.fixture(scope="module")
def platform():
    try:
        platform_script("install")
        kubectl("apply", "-f", f"{REPO}/examples/policy.yaml")
    except BaseException:
        # A release left behind would keep its webhook registered for the tests after this module.
        platform_script("uninstall")
        raise
    yield
    platform_script("uninstall")
    # The webhook's configurations are owned by its ClusterRole: helm uninstall removes
    # them too, so no DataProduct is refused by a webhook that is gone.
    wait_until(lambda: kubectl("get", "validatingwebhookconfiguration", "meshplane", check=False).returncode != 0,
               60, "the webhook configurations to go with the release")


def pods(namespace, selector):
    return kubectl_json("-n", namespace, "get", "pods", "-l", selector)["items"]


def ready(pod):
    return pod["status"].get("phase") == "Running" and any(
        c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions", []))


def worker_pods(namespace):
    return [p for p in pods(namespace, "app.kubernetes.io/component=ingest")
            if not p["metadata"].get("deletionTimestamp")]


def orders_product(namespace, topic, extra=""):
    """The Orders example in `namespace`, reading `topic`, committing every 5 s."""
    text = example("orders.yaml", namespace).replace("topic: orders.events", f"topic: {topic}")
    return text.replace("updateInterval: 5m", "updateInterval: 5s") + extra


def plan_of(namespace):
    data = kubectl_json("-n", namespace, "get", "configmap", "orders-ingest-plan")["data"]
    return json.loads(data["plan.json"])


def table_ids(namespace, name="orders"):
    """The product's rows, read with pyiceberg from the table its status names."""
    table = kubectl_json("-n", namespace, "get", "dataproduct", name)["status"]["table"]
    assert table["catalog"] == "meshplane" and table["location"].startswith("s3://"), table
    # The chart's default names no maintenance engine, and the status says so.
    assert table["maintenance"].startswith("not configured: no maintenance engine"), table
    rows = catalog().load_table(table["identifier"]).scan().to_arrow().to_pylist()
    return [r["order_id"] for r in rows], rows


def wait_for_committed(topic, group, partitions, total, timeout):
    wait_until(lambda: committed_total(topic, group, partitions) >= total, timeout,
               f"the workers to commit {total} events of {topic}")


def test_helm_install_runs_the_controller_the_webhook_and_the_query_port_in_pods(platform):
    platform_pods = pods(PLATFORM_NAMESPACE, "app.kubernetes.io/instance=meshplane")
    components = sorted(p["metadata"]["labels"].get("app.kubernetes.io/component") for p in platform_pods)
    assert components == ["controller", "controller", "query", "webhook", "webhook"], components
    assert all(ready(p) for p in platform_pods), [p["metadata"]["name"] for p in platform_pods if not ready(p)]
    image = platform_pods[0]["spec"]["containers"][0]["image"]
    assert image == require_env("MESHPLANE_IMAGE")
    # The API server calls the webhook through its Service, not a URL on the host.
    webhook = kubectl_json("get", "validatingwebhookconfiguration", "meshplane")["webhooks"][0]["clientConfig"]
    assert webhook["service"] == {"name": "meshplane-webhook", "namespace": PLATFORM_NAMESPACE, "port": 443,
                                  "path": webhook["service"]["path"]}
    assert "url" not in webhook


def test_the_webhook_pods_deny_a_product_over_retention(platform, namespace):
    text = open(f"{REPO}/examples/rejected/pii-over-retention.yaml").read().replace("namespace: orders",
                                                                                      f"namespace: {namespace}")
    proc = kubectl("apply", "-f", "-", input=text, check=False)
    assert proc.returncode != 0
    assert "violates governance" in proc.stderr and "retention" in proc.stderr, proc.stderr


def test_orders_is_ready_with_a_running_worker_pod_and_events_land_masked(platform, namespace, s3):
    topic = f"orders.events.{uuid.uuid4().hex[:8]}"
    kubectl("apply", "-f", "-", input=orders_product(namespace, topic))
    kubectl("-n", namespace, "wait", "--for=condition=Ready", "dataproduct/orders", "--timeout=120s")
    ingestion = condition(namespace, "orders", "IngestionReady")
    assert ingestion["status"] == "True" and ingestion["reason"] == "WorkerAvailable", ingestion
    workers = worker_pods(namespace)
    assert len(workers) == 1 and ready(workers[0])
    # The worker reads Kafka and S3 through the cluster's Services.
    plan = plan_of(namespace)
    assert plan["source"]["kafka"]["bootstrapServers"] == "kafka.platform.svc.cluster.local:9092"
    env = {e["name"]: e.get("value") for e in workers[0]["spec"]["containers"][0]["env"]}
    assert env["MESHPLANE_S3_ENDPOINT"] == "http://s3.platform.svc.cluster.local:8333"
    assert "WorkerAvailable" in event_reasons(namespace, "orders")
    fresh = condition(namespace, "orders", "FreshnessSLOMet")
    assert (fresh["status"], fresh["reason"]) == ("Unknown", "NoEventYet"), fresh

    produce(topic, [event(i) for i in range(2000)])
    wait_for_committed(topic, plan["source"]["kafka"]["consumerGroup"], 6, 2000, 120)
    bucket = kubectl_json("-n", namespace, "get", "dataproduct", "orders")["status"]["endpoints"]["bucket"]
    ids, rows = table_ids(namespace)
    assert sorted(ids) == sorted(f"order-{i:09d}" for i in range(2000))
    assert all(HEX64.match(r["customer_email"]) and HEX64.match(r["shipping_address"]) for r in rows)

    # The events happened on 2026-11-27, far past the 10m freshness SLO: breached, with
    # a Warning Event; one event from now meets it again.
    def freshness_is(status):
        c = condition(namespace, "orders", "FreshnessSLOMet")
        return c if c and c["status"] == status else None

    breached = wait_until(lambda: freshness_is("False"), 90, "FreshnessSLOMet=False after old events")
    assert breached["reason"] == "FreshnessSLOBreached", breached
    assert "older than the 10m freshness SLO" in breached["message"], breached
    assert "FreshnessSLOBreached" in event_reasons(namespace, "orders")
    recent = json.loads(event(2000))
    recent["event_time"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    produce(topic, [json.dumps(recent).encode()])
    met = wait_until(lambda: freshness_is("True"), 90, "FreshnessSLOMet=True after a recent event")
    assert met["reason"] == "WithinSLO" and recent["event_time"] in met["message"], met
    assert "FreshnessSLOMet" in event_reasons(namespace, "orders")


def test_a_changed_plan_rolls_the_workers_and_new_rows_follow_it(platform, namespace, s3):
    topic = f"orders.events.{uuid.uuid4().hex[:8]}"
    kubectl("apply", "-f", "-", input=orders_product(namespace, topic))
    kubectl("-n", namespace, "wait", "--for=condition=Ready", "dataproduct/orders", "--timeout=120s")
    group = plan_of(namespace)["source"]["kafka"]["consumerGroup"]
    before = worker_pods(namespace)[0]
    old_hash = before["metadata"]["annotations"]["meshplane.dev/plan-hash"]
    produce(topic, [event(i) for i in range(1000)])
    wait_for_committed(topic, group, 6, 1000, 120)

    # customer_id becomes masked: the plan changes, so does the pod template's hash.
    product = kubectl_json("-n", namespace, "get", "dataproduct", "orders")
    fields = product["spec"]["schema"]["fields"]
    index = next(i for i, f in enumerate(fields) if f["name"] == "customer_id")
    kubectl("-n", namespace, "patch", "dataproduct", "orders", "--type=json", "-p",
            json.dumps([{"op": "add", "path": f"/spec/schema/fields/{index}/masking", "value": "hash"}]))
    # Events keep coming while the workers roll.
    producer = threading.Thread(target=produce, args=(topic, [event(i) for i in range(1000, 3000)]))
    producer.start()

    def rolled():
        workers = worker_pods(namespace)
        return (len(workers) == 1 and workers[0]["metadata"]["name"] != before["metadata"]["name"]
                and ready(workers[0]) and workers[0]["metadata"]["annotations"]["meshplane.dev/plan-hash"] != old_hash
                and workers[0])
    new = wait_until(rolled, 120, "the worker Deployment to roll to the new plan")
    producer.join()
    produce(topic, [event(i) for i in range(3000, 4000)])
    wait_for_committed(topic, group, 6, 4000, 180)
    bucket = product["status"]["endpoints"]["bucket"]
    ids, rows = table_ids(namespace)
    assert len(ids) == 4000 and set(ids) == {f"order-{i:09d}" for i in range(4000)}, "lost or duplicated events"
    by_id = {r["order_id"]: r for r in rows}
    # Written before the change: clear; written by the new pod after it rolled: masked.
    assert not HEX64.match(by_id["order-000000000"]["customer_id"])
    assert all(HEX64.match(by_id[f"order-{i:09d}"]["customer_id"]) for i in range(3000, 4000)), new["metadata"]["name"]


def test_worker_pods_force_deleted_mid_stream_lose_and_duplicate_nothing(platform, namespace, s3):
    total = 1_000_000
    topic = f"orders.events.{uuid.uuid4().hex[:8]}"
    create_topic(topic, 6)
    kubectl("apply", "-f", "-", input=orders_product(namespace, topic))
    kubectl("-n", namespace, "wait", "--for=condition=Ready", "dataproduct/orders", "--timeout=120s")
    group = plan_of(namespace)["source"]["kafka"]["consumerGroup"]
    producer = threading.Thread(target=produce, args=(topic, (event(i) for i in range(total))))
    producer.start()
    killed = []
    for _ in range(4):
        wait_until(lambda: committed_total(topic, group, 6) > len(killed) * total // 6, 180,
                   "the worker to make progress before the next kill")
        current = wait_until(lambda: [p for p in worker_pods(namespace) if ready(p)], 120, "a ready worker pod")[0]
        kubectl("-n", namespace, "delete", "pod", current["metadata"]["name"], "--grace-period=0", "--force")
        killed.append(current["metadata"]["name"])
    producer.join()
    wait_for_committed(topic, group, 6, total, 600)
    bucket = kubectl_json("-n", namespace, "get", "dataproduct", "orders")["status"]["endpoints"]["bucket"]
    ids, _ = table_ids(namespace)
    assert len(ids) == total, f"{len(ids) - total:+d} rows against {total} events after killing {killed}"
    assert len(set(ids)) == total
    kubectl("-n", namespace, "wait", "--for=condition=Ready", "dataproduct/orders", "--timeout=120s")


def ctr(*args):
    return subprocess.run(["ctr", "--address", require_env("MESHPLANE_CONTAINERD_SOCK"), "-n", "k8s.io", *args],
                          capture_output=True, text=True, timeout=120)


def test_a_worker_image_missing_on_the_node_is_named_on_the_product(platform, namespace):
    topic = f"orders.events.{uuid.uuid4().hex[:8]}"
    kubectl("apply", "-f", "-", input=orders_product(namespace, topic))
    kubectl("-n", namespace, "wait", "--for=condition=Ready", "dataproduct/orders", "--timeout=120s")
    image = require_env("MESHPLANE_IMAGE")
    assert ctr("images", "rm", image).returncode == 0
    try:
        kubectl("-n", namespace, "delete", "pod", "-l", "app.kubernetes.io/component=ingest", "--wait=false")
        missing = wait_until(lambda: (c := condition(namespace, "orders", "IngestionReady"))
                             and c["reason"] == "WorkerImageMissing" and c, 120, "IngestionReady WorkerImageMissing")
        assert missing["status"] == "False" and image in missing["message"], missing
        assert condition(namespace, "orders", "Ready")["status"] == "False"
        wait_until(lambda: "WorkerImageMissing" in event_reasons(namespace, "orders"), 30, "a WorkerImageMissing event")
    finally:
        subprocess.run(["bash", f"{REPO}/e2e/stack/images.sh", "meshplane"], check=True, capture_output=True, timeout=300)
    # Image back: a new pod starts at once (the kubelet's back-off would take minutes).
    kubectl("-n", namespace, "delete", "pod", "-l", "app.kubernetes.io/component=ingest", "--wait=false")
    kubectl("-n", namespace, "wait", "--for=condition=Ready", "dataproduct/orders", "--timeout=120s")


def test_a_killed_webhook_pod_is_answered_for_by_the_other_and_nothing_bypasses_it(platform, namespace):
    outcomes, stop = [], threading.Event()

    def apply_products():
        i = 0
        while not stop.is_set() and i < 400:
            name = f"product-{i}"
            text = orders_product(namespace, f"orders.events.{name}").replace("name: orders", f"name: {name}", 1)
            proc = kubectl("apply", "--dry-run=server", "-o", "json", "-f", "-", input=text, check=False)
            outcomes.append((time.monotonic(), proc.returncode, proc.stdout if proc.returncode == 0 else proc.stderr))
            i += 1

    applier = threading.Thread(target=apply_products)
    applier.start()
    wait_until(lambda: len(outcomes) >= 5, 60, "applies before the kill")
    victim = pods(PLATFORM_NAMESPACE, "app.kubernetes.io/component=webhook")[0]["metadata"]["name"]
    killed_at = time.monotonic()
    kubectl("-n", PLATFORM_NAMESPACE, "delete", "pod", victim, "--grace-period=0", "--force")
    wait_until(lambda: len([o for o in outcomes if o[0] > killed_at + 5]) >= 10, 120, "applies after the kill")
    stop.set()
    applier.join()
    for at, code, out in outcomes:
        if code == 0:
            # Admitted only through the webhook: its default masking is on every PII field.
            fields = {f["name"]: f for f in json.loads(out)["spec"]["schema"]["fields"]}
            assert fields["customer_email"].get("masking") == "hash", "a product was admitted without the webhook"
        else:
            assert "webhook" in out, out
    after = [o for o in outcomes if o[0] > killed_at + 5]
    assert all(code == 0 for _, code, _ in after), [out for _, code, out in after if code]
    failed = [o for o in outcomes if o[1] != 0]
    assert len(failed) <= 3, f"{len(failed)} applies refused around the kill"
    kubectl("-n", PLATFORM_NAMESPACE, "rollout", "status", "deployment/meshplane-webhook", "--timeout=120s")


def test_a_kubelet_restart_keeps_the_workers_and_the_product_ready(platform, namespace, s3):
    topic = f"orders.events.{uuid.uuid4().hex[:8]}"
    kubectl("apply", "-f", "-", input=orders_product(namespace, topic))
    kubectl("-n", namespace, "wait", "--for=condition=Ready", "dataproduct/orders", "--timeout=120s")
    group = plan_of(namespace)["source"]["kafka"]["consumerGroup"]
    worker = worker_pods(namespace)[0]["metadata"]["uid"]
    stack = f"source {REPO}/e2e/stack/lib.sh && stop kubelet"
    subprocess.run(["bash", "-c", stack], check=True, timeout=60)
    # Containers outlive their kubelet: events still flow while it is down.
    produce(topic, [event(i) for i in range(500)])
    wait_for_committed(topic, group, 6, 500, 120)
    subprocess.run(["bash", f"{REPO}/e2e/stack/up.sh"], check=True, capture_output=True, timeout=300)
    kubectl("wait", "--for=condition=Ready", f"node/{require_env('MESHPLANE_NODE_NAME')}", "--timeout=120s")
    kubectl("-n", namespace, "wait", "--for=condition=Ready", "dataproduct/orders", "--timeout=120s")
    assert worker_pods(namespace)[0]["metadata"]["uid"] == worker, "the worker pod was replaced"
    bucket = kubectl_json("-n", namespace, "get", "dataproduct", "orders")["status"]["endpoints"]["bucket"]
    ids, _ = table_ids(namespace)
    assert sorted(ids) == sorted(f"order-{i:09d}" for i in range(500))


# What S3 answers a key outside its policy, and a deleted key.
DENIED = {"AccessDenied", "InvalidAccessKeyId"}


def test_workers_hold_keys_for_their_own_bucket_only_and_a_deleted_secret_rotates_them(platform, namespace, s3):
    topic = f"orders.events.{uuid.uuid4().hex[:8]}"
    kubectl("apply", "-f", "-", input=orders_product(namespace, topic))
    kubectl("-n", namespace, "wait", "--for=condition=Ready", "dataproduct/orders", "--timeout=120s")
    group = plan_of(namespace)["source"]["kafka"]["consumerGroup"]
    status = kubectl_json("-n", namespace, "get", "dataproduct", "orders")["status"]
    bucket, issued = status["endpoints"]["bucket"], status["workerCredentials"]
    assert issued["secret"] == "orders-worker-keys" and issued["user"].startswith("meshplane-worker-"), issued
    # No shared key pair in the namespace: the admin pair is nowhere in it.
    assert kubectl("-n", namespace, "get", "secret", "meshplane-s3-credentials", check=False).returncode != 0
    keys = secret_data(namespace, "orders-worker-keys")
    assert keys["access-key-id"] == issued["accessKeyId"] != require_env("AWS_ACCESS_KEY_ID")
    first = worker_pods(namespace)[0]
    pinned = first["metadata"]["annotations"]["meshplane.dev/secret-versions"]
    assert f"orders-worker-keys={issued['accessKeyId']}" in pinned, pinned
    env = first["spec"]["containers"][0]["env"]
    assert {e["valueFrom"]["secretKeyRef"]["name"] for e in env if e["name"].startswith("AWS_") and "valueFrom" in e} \
        == {"orders-worker-keys"}

    # boto3 with the workers' keys: their own bucket is read and written; another
    # product's bucket is neither read, listed nor written.
    mine = s3_with(keys)
    mine.put_object(Bucket=bucket, Key="_rejected/probe.json", Body=b"{}")
    assert mine.get_object(Bucket=bucket, Key="_rejected/probe.json")["Body"].read() == b"{}"
    mine.delete_object(Bucket=bucket, Key="_rejected/probe.json")
    other = f"meshplane-{namespace}-other-{uuid.uuid4().hex[:6]}"[:63]
    s3.create_bucket(Bucket=other)
    s3.put_object(Bucket=other, Key="data/file.parquet", Body=b"another product's data")
    assert refused(lambda: mine.get_object(Bucket=other, Key="data/file.parquet")) in DENIED
    assert refused(lambda: mine.list_objects_v2(Bucket=other)) in DENIED
    assert refused(lambda: mine.put_object(Bucket=other, Key="data/evil.parquet", Body=b"x")) in DENIED
    assert refused(lambda: mine.delete_object(Bucket=other, Key="data/file.parquet")) in DENIED
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=other)["Contents"]] == ["data/file.parquet"]

    # A wrong key in the Secret and a change of the plan: the Deployment rolls, the new
    # pod's worker exits at start (S3 refuses it), and the rollout keeps the old worker.
    wrong = json.dumps({"stringData": {"secret-access-key": "not-the-secret"}})
    kubectl("-n", namespace, "patch", "secret", "orders-worker-keys", "-p", wrong)
    kubectl("-n", namespace, "patch", "dataproduct", "orders", "--type=merge",
            "-p", json.dumps({"spec": {"output": {"table": {"updateInterval": "6s"}}}}))
    stuck = wait_until(lambda: (c := condition(namespace, "orders", "IngestionReady"))
                       and c["reason"] == "WorkerRolloutStuck" and c, 150,
                       "IngestionReady to say the rollout onto the wrong key is stuck")
    assert stuck["status"] == "True" and "S3 refuses the worker's credentials" in stuck["message"], stuck
    assert condition(namespace, "orders", "Ready")["status"] == "True"
    assert "WorkerRolloutStuck" in event_reasons(namespace, "orders")
    produce(topic, [event(i) for i in range(100)])
    wait_for_committed(topic, group, 6, 100, 120)

    # Without the old worker, the product is not Ready and names the crash loop and its cause.
    kubectl("-n", namespace, "delete", "pod", first["metadata"]["name"], "--wait=false")
    down = wait_until(lambda: (c := condition(namespace, "orders", "Ready")) and c["status"] == "False"
                      and c["reason"] == "WorkerCrashLooping" and c, 150,
                      "Ready=False naming the crash loop of the workers with the wrong key")
    assert "S3 refuses the worker's credentials" in down["message"] and "exited with code 1" in down["message"], down
    produce(topic, [event(i) for i in range(100, 200)])

    # Deleting the Secret rotates the keys: new ones are issued, the old ones stop working,
    # the workers roll onto the new ones by themselves and every event lands once.
    kubectl("-n", namespace, "delete", "secret", "orders-worker-keys")
    rotated = wait_until(lambda: (c := kubectl_json("-n", namespace, "get", "dataproduct", "orders")["status"]
                                  .get("workerCredentials", {})).get("accessKeyId") not in (None, issued["accessKeyId"])
                         and c, 90, "new worker keys after the Secret's deletion")
    assert secret_data(namespace, "orders-worker-keys")["access-key-id"] == rotated["accessKeyId"]
    assert refused(lambda: mine.list_objects_v2(Bucket=bucket)) in DENIED, "the old keys still work"
    kubectl("-n", namespace, "wait", "--for=condition=Ready", "dataproduct/orders", "--timeout=150s", timeout=170)
    wait_for_committed(topic, group, 6, 200, 120)
    ids, _ = table_ids(namespace)
    assert sorted(ids) == sorted(f"order-{i:09d}" for i in range(200))
    # The pods of the stuck rollout go once the new keys' rollout completes.
    wait_until(lambda: condition(namespace, "orders", "IngestionReady")["reason"] == "WorkerAvailable", 90,
               "IngestionReady to say the workers are available after the rotation")
    # The rollout completes: every worker pod left pins the new key id (the stuck
    # rollout's pods are scaled away).
    def pinned_keys():
        return sorted(p["metadata"]["annotations"]["meshplane.dev/secret-versions"] for p in worker_pods(namespace))
    wait_until(lambda: (seen := pinned_keys()) and all(f"orders-worker-keys={rotated['accessKeyId']}" in v for v in seen),
               90, f"every worker pod to pin the new key {rotated['accessKeyId']} (last seen: {pinned_keys()})")
    assert kubectl_json("-n", namespace, "get", "dataproduct", "orders")["status"]["workerCredentials"] == rotated

    # Deleting the product removes the workers' object-store user: the keys stop working.
    fresh = secret_data(namespace, "orders-worker-keys")
    kubectl("-n", namespace, "delete", "dataproduct", "orders", "--timeout=120s")
    assert refused(lambda: s3_with(fresh).list_objects_v2(Bucket=bucket)) in DENIED


def test_the_maintenance_job_compacts_the_table_from_a_pod(platform, namespace, s3, trino, tmp_path):
    """The product's maintenance CronJob, as the controller renders it with a Trino URL,
    run once in the cluster (`kubectl create job --from`): it reaches Trino through the
    Service platform/trino and compacts the table the workers wrote; no row is lost."""
    topic = f"orders.events.{uuid.uuid4().hex[:8]}"
    product = orders_product(namespace, topic)
    kubectl("apply", "-f", "-", input=product)
    kubectl("-n", namespace, "wait", "--for=condition=Ready", "dataproduct/orders", "--timeout=120s")
    plan = plan_of(namespace)
    group = plan["source"]["kafka"]["consumerGroup"]
    for batch in range(3):  # three commits: several small files per hour partition
        produce(topic, [event(i) for i in range(batch * 500, (batch + 1) * 500)])
        wait_for_committed(topic, group, 6, (batch + 1) * 500, 120)

    settings = tmp_path / "settings.yaml"
    settings.write_text(json.dumps({"image": require_env("MESHPLANE_IMAGE"), "imagePullPolicy": "Never",
                                    "maintenanceTrinoUrl": "http://trino.platform.svc.cluster.local:8080"}))
    rendered = subprocess.run([f"{REPO}/target/release/meshplane", "plan", "-f", "-", "-p", f"{REPO}/examples/policy.yaml",
                               "--settings", str(settings), "-o", "json"], input=product, capture_output=True,
                              text=True, check=True).stdout
    cron_job = next(o for o in json.loads(rendered)[0]["desired"]["objects"]
                    if o["kind"] == "CronJob" and o["metadata"]["name"] == "orders-maintenance")
    # Rendered offline: no product uid to own it, and without the product's labels, or
    # the controller (configured without Trino) would prune it as no longer desired.
    cron_job["metadata"] = {"name": "orders-maintenance", "namespace": namespace}
    kubectl("apply", "-f", "-", input=json.dumps(cron_job))
    kubectl("-n", namespace, "create", "job", "--from=cronjob/orders-maintenance", "orders-maintenance-now")
    kubectl("-n", namespace, "wait", "--for=condition=Complete", "job/orders-maintenance-now", "--timeout=300s",
            timeout=320)
    log = kubectl("-n", namespace, "logs", "job/orders-maintenance-now").stdout
    table = kubectl_json("-n", namespace, "get", "dataproduct", "orders")["status"]["table"]
    assert f"compact-files {table['identifier']}: done" in log, log
    schema, name = table["identifier"].split(".")
    operations = {row[0] for row in trino_query(f'SELECT operation FROM meshplane.{schema}."{name}$snapshots"')}
    assert "replace" in operations, operations
    ids, _ = table_ids(namespace)
    assert sorted(ids) == sorted(f"order-{i:09d}" for i in range(1500))
