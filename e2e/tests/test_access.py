"""Consumers ask for access: AccessRequests against the helm-installed platform (controller
and webhook in pods), decided by the example policy's access rules or by a user the
cluster's RBAC allows to `approve` the product, through kubectl and `meshplane access` as
different users (impersonation). A grant is a Secret in the consumer's namespace, readable
by the subject alone, holding read-only S3 keys that SeaweedFS's IAM issued for that one
product's bucket; boto3 checks what the keys can and cannot do, and that they stop working
when the grant is revoked (request deleted or expired). A second Trino of the stack runs
on the access rules the catalog renders from the grants, and Trino's Python client checks
what a subject sees there."""
import datetime
import json
import os
import subprocess
import urllib.request
import uuid

import pytest

from conftest import (MESHPLANE_BIN, REPO, free_port, kubectl, kubectl_json, refused, require_env, s3_with, secret_data,
                      wait_until)
# The helm-installed platform with the example policy, installed once for this module.
from test_platform_pods import orders_product, platform  # noqa: F401 (a fixture)


@pytest.fixture(scope="module")
def catalog_base(platform):
    """The catalog Service, reached from the host as users do: kubectl port-forward."""
    port = free_port()
    forward = subprocess.Popen(["kubectl", "-n", "meshplane-system", "port-forward",
                                "service/meshplane-controller-catalog", f"{port}:80"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"

    def answers():
        try:
            return urllib.request.urlopen(f"{base}/api/search?q=orders", timeout=2).status == 200
        except OSError:
            return False
    wait_until(answers, 60, "the catalog through kubectl port-forward")
    yield base
    forward.terminate()
    forward.wait(timeout=10)


def catalog_page(base, product_namespace):
    with urllib.request.urlopen(f"{base}/api/products/{product_namespace}/orders", timeout=5) as r:
        return json.loads(r.read())


def fresh_namespace(prefix):
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    kubectl("create", "namespace", name)
    return name


def allow_orders_owner_to_approve(namespace):
    """The user `orders-owner` may approve access to `namespace`/orders (the `approve` verb)."""
    kubectl("apply", "-f", "-", input=f"""
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {{name: orders-approver, namespace: {namespace}}}
rules:
  - apiGroups: [meshplane.dev]
    resources: [dataproducts]
    resourceNames: [orders]
    verbs: [get, approve]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: orders-approver, namespace: {namespace}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: orders-approver}}
subjects:
  - {{apiGroup: rbac.authorization.k8s.io, kind: User, name: orders-owner}}
""")


@pytest.fixture
def product_namespace(platform):
    """A namespace with the Orders product, its bucket provisioned, and an owner allowed to
    approve access to it (the `approve` verb on dataproducts/orders)."""
    name = fresh_namespace("orders")
    kubectl("apply", "-f", "-", input=orders_product(name, f"orders-{name}"))
    wait_until(lambda: storage_ready(name), 120, "the Orders product's bucket")
    allow_orders_owner_to_approve(name)
    yield name
    kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture
def consumer_namespace(platform):
    """The consumer's namespace: alice files requests there; the owner and mallory may
    annotate them (mallory has no right to approve the product)."""
    name = fresh_namespace("analytics")
    kubectl("apply", "-f", "-", input=f"""
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {{name: access-requests, namespace: {name}}}
rules:
  - apiGroups: [meshplane.dev]
    resources: [accessrequests]
    verbs: [get, list, create, patch, delete]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: access-requests, namespace: {name}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: access-requests}}
subjects:
  - {{apiGroup: rbac.authorization.k8s.io, kind: User, name: alice}}
  - {{apiGroup: rbac.authorization.k8s.io, kind: User, name: orders-owner}}
  - {{apiGroup: rbac.authorization.k8s.io, kind: User, name: mallory}}
""")
    yield name
    kubectl("delete", "namespace", name, "--wait=false", check=False)


def storage_ready(namespace):
    product = kubectl_json("-n", namespace, "get", "dataproduct", "orders")
    return any(c["type"] == "StorageReady" and c["status"] == "True"
               for c in product.get("status", {}).get("conditions", []))


def meshplane_access(*args, user=None, check=True):
    command = [MESHPLANE_BIN, "access", *args] + (["--as", user] if user else [])
    proc = subprocess.run(command, capture_output=True, text=True, timeout=60)
    if check:
        assert proc.returncode == 0, f"{' '.join(command)}: {proc.stdout}\n{proc.stderr}"
    return proc


def request_status(namespace, name):
    return kubectl_json("-n", namespace, "get", "accessrequest", name).get("status", {})


def phase_is(namespace, name, phase):
    status = request_status(namespace, name)
    return status if status.get("phase") == phase else None


def keys_refused(keys, bucket):
    return refused(lambda: s3_with(keys).list_objects_v2(Bucket=bucket)) is not None


def test_a_request_waits_for_an_approver_who_is_neither_its_filer_nor_unauthorized_and_deletion_revokes(
        product_namespace, consumer_namespace, s3, catalog_base):
    ns = consumer_namespace
    meshplane_access("request", "report-bot-orders", "-n", ns, "--product", f"{product_namespace}/orders",
                     "--subject", "User:report-bot", "--purpose", "weekly revenue report", user="alice")
    request = kubectl_json("-n", ns, "get", "accessrequest", "report-bot-orders")
    assert request["metadata"]["annotations"]["meshplane.dev/requested-by"] == "alice"
    pending = wait_until(lambda: phase_is(ns, "report-bot-orders", "Pending"), 30, "the request to wait")
    assert "policy platform-baseline does not allow User:report-bot" in pending["message"], pending
    approved = next(c for c in pending["conditions"] if c["type"] == "Approved")
    assert (approved["status"], approved["reason"]) == ("Unknown", "AwaitingApproval")
    # The product's owner sees it waiting on the product's catalog page.
    waiting = wait_until(lambda: catalog_page(catalog_base, product_namespace)["pendingRequests"], 30,
                         "the pending request in the catalog")
    assert waiting[0]["request"] == f"{ns}/report-bot-orders" and waiting[0]["subject"] == "User:report-bot"

    # The filer cannot approve; neither can a user without `approve` on the product; nor
    # can anyone forge the decider.
    own = meshplane_access("approve", "report-bot-orders", "-n", ns, user="alice", check=False)
    assert own.returncode != 0 and "alice filed this request and cannot decide it" in own.stderr, own.stderr
    other = meshplane_access("approve", "report-bot-orders", "-n", ns, user="mallory", check=False)
    assert other.returncode != 0 and "mallory may not decide access to DataProduct" in other.stderr, other.stderr
    forged = kubectl("--as", "mallory", "-n", ns, "annotate", "accessrequest", "report-bot-orders",
                     "meshplane.dev/decided-by=orders-owner", check=False)
    assert forged.returncode != 0 and "recorded by Meshplane" in forged.stderr, forged.stderr
    assert phase_is(ns, "report-bot-orders", "Pending")

    meshplane_access("approve", "report-bot-orders", "-n", ns, user="orders-owner")
    granted = wait_until(lambda: phase_is(ns, "report-bot-orders", "Granted"), 30, "the grant")
    assert granted["decidedBy"] == "user/orders-owner", granted
    grant = granted["grant"]
    assert grant["objectStoreAccess"] is True and grant["classification"] == "confidential", grant
    assert "customer_email" in grant["columns"], grant
    # "Who uses it" in the catalog lists the grant.
    grants = wait_until(lambda: catalog_page(catalog_base, product_namespace)["grants"], 30,
                        "the grant in the catalog")
    assert (grants[0]["subject"], grants[0]["decidedBy"], grants[0]["purpose"]) == (
        "User:report-bot", "user/orders-owner", "weekly revenue report"), grants
    assert catalog_page(catalog_base, product_namespace)["pendingRequests"] == []
    listed = meshplane_access("list", "-n", ns).stdout
    assert "report-bot-orders" in listed and "Granted" in listed and "user/orders-owner" in listed, listed

    # The subject, and only the subject, may read the grant's Secret.
    secret = grant["credentialsSecret"]
    can = lambda user, what: kubectl("auth", "can-i", "get", what, "-n", ns, "--as", user,
                                     check=False).stdout.strip()
    assert can("report-bot", f"secret/{secret}") == "yes"
    assert can("report-bot", "secret/meshplane-s3-credentials") == "no"
    # Nor the product's workers' keys (read by the workers' Role only).
    assert kubectl("auth", "can-i", "get", "secret/orders-worker-keys", "-n", product_namespace,
                   "--as", "report-bot", check=False).stdout.strip() == "no"
    assert can("mallory", f"secret/{secret}") == "no"
    keys = secret_data(ns, secret)
    product = kubectl_json("-n", product_namespace, "get", "dataproduct", "orders")
    bucket = product["status"]["endpoints"]["bucket"]
    assert keys["bucket"] == bucket and keys["product"] == f"{product_namespace}/orders"
    assert keys["access-key-id"] == grant["accessKeyId"]
    assert keys["access-key-id"] != require_env("AWS_ACCESS_KEY_ID")

    # Read-only, and this product only.
    s3.put_object(Bucket=bucket, Key="probe/known.txt", Body=b"orders data")
    reader = s3_with(keys)
    wait_until(lambda: refused(lambda: reader.list_objects_v2(Bucket=bucket)) is None, 30,
               "the new keys to be accepted")
    assert reader.get_object(Bucket=bucket, Key="probe/known.txt")["Body"].read() == b"orders data"
    assert refused(lambda: reader.put_object(Bucket=bucket, Key="probe/x.txt", Body=b"x")) is not None
    assert refused(lambda: reader.delete_object(Bucket=bucket, Key="probe/known.txt")) is not None
    other_bucket = f"t-other-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=other_bucket)
    s3.put_object(Bucket=other_bucket, Key="secret.txt", Body=b"not yours")
    assert refused(lambda: reader.get_object(Bucket=other_bucket, Key="secret.txt")) is not None
    assert refused(lambda: reader.list_objects_v2(Bucket=other_bucket)) is not None

    # Deleting the request revokes everything within seconds.
    kubectl("-n", ns, "delete", "accessrequest", "report-bot-orders", "--wait=false")
    wait_until(lambda: keys_refused(keys, bucket), 30, "the revoked keys to be refused")
    wait_until(lambda: kubectl("-n", ns, "get", "secret", secret, check=False).returncode != 0, 30,
               "the grant's Secret to go")
    assert can("report-bot", f"secret/{secret}") == "no"
    wait_until(lambda: catalog_page(catalog_base, product_namespace)["grants"] == [], 30,
               "the revoked grant to leave the catalog")
    s3.delete_object(Bucket=other_bucket, Key="secret.txt")
    s3.delete_bucket(Bucket=other_bucket)


def test_a_service_account_the_policy_allows_is_granted_at_once_and_expiry_revokes(
        product_namespace, consumer_namespace):
    ns = consumer_namespace
    expires = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=40)).strftime(
        "%Y-%m-%dT%H:%M:%SZ")
    meshplane_access("request", "job-orders", "-n", ns, "--product", f"{product_namespace}/orders",
                     "--subject", f"ServiceAccount:{ns}/revenue-job", "--purpose", "daily revenue",
                     "--expires-at", expires, user="alice")
    granted = wait_until(lambda: phase_is(ns, "job-orders", "Granted"), 30, "the policy's grant")
    assert granted["decidedBy"] == "policy/platform-baseline", granted
    secret = granted["grant"]["credentialsSecret"]
    keys = secret_data(ns, secret)
    assert kubectl("auth", "can-i", "get", f"secret/{secret}", "-n", ns,
                   "--as", f"system:serviceaccount:{ns}:revenue-job", check=False).stdout.strip() == "yes"
    wait_until(lambda: not keys_refused(keys, keys["bucket"]), 30, "the keys to be accepted")

    # Rotation: deleting the Secret issues new keys and the old ones stop working.
    kubectl("-n", ns, "delete", "secret", secret)
    rotated = wait_until(lambda: kubectl("-n", ns, "get", "secret", secret, check=False).returncode == 0
                         and secret_data(ns, secret), 60, "the rotated Secret")
    assert rotated["access-key-id"] != keys["access-key-id"]
    wait_until(lambda: keys_refused(keys, keys["bucket"]), 30, "the old keys to be refused")

    expired = wait_until(lambda: phase_is(ns, "job-orders", "Expired"), 90, "the grant to expire")
    assert "expired" in expired["message"] and "grant" not in expired, expired
    wait_until(lambda: keys_refused(rotated, rotated["bucket"]), 30, "the expired keys to be refused")
    assert kubectl("-n", ns, "get", "secret", secret, check=False).returncode != 0
    reasons = {e["reason"] for e in kubectl_json("-n", ns, "get", "events", "--field-selector",
                                                 "involvedObject.name=job-orders")["items"]}
    assert {"Granted", "Expired"} <= reasons, reasons


def test_a_request_for_an_unknown_product_is_denied_naming_it(consumer_namespace):
    ns = consumer_namespace
    kubectl("apply", "-f", "-", input=f"""
apiVersion: meshplane.dev/v1alpha1
kind: AccessRequest
metadata: {{name: nothing, namespace: {ns}}}
spec:
  product: {{name: no-such-product, namespace: nowhere}}
  subject: {{kind: User, name: report-bot}}
  purpose: curiosity
""")
    denied = wait_until(lambda: phase_is(ns, "nothing", "Denied"), 30, "the denial")
    assert denied["message"] == "DataProduct nowhere/no-such-product does not exist", denied
    ready = next(c for c in denied["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "ProductNotFound")
    # A request cannot be edited into another one.
    changed = kubectl("-n", ns, "patch", "accessrequest", "nothing", "--type", "merge",
                      "-p", json.dumps({"spec": {"purpose": "other"}}), check=False)
    assert changed.returncode != 0 and "cannot change once filed" in changed.stderr, changed.stderr


@pytest.fixture(scope="module")
def governed_trino(catalog_base):
    """A Trino coordinator whose access control is the catalog's rules (refreshed every
    second), as a platform team would run it for consumers."""
    script = f"{REPO}/e2e/stack/trino.sh"
    subprocess.run(["bash", script, "governed", f"{catalog_base}/api/access/trino-rules"], check=True,
                   timeout=900)
    port = int(os.environ.get("TRINO_GOVERNED_PORT", "18581"))
    # A coordinator that has started may not have registered itself as a worker yet
    # (NO_NODES_AVAILABLE): wait until it runs a statement.
    wait_until(lambda: trino_as(port, "meshplane", "SELECT 1")[0] == [[1]], 120,
               "the governed Trino to run statements")
    yield port
    subprocess.run(["bash", script, "stop-governed"], check=False, timeout=120)


def trino_as(port, user, sql):
    """(rows, None) or (None, Trino's error message) for `sql` run as `user`."""
    import trino

    connection = trino.dbapi.connect(host="127.0.0.1", port=port, user=user, catalog="meshplane")
    try:
        cursor = connection.cursor()
        cursor.execute(sql)
        return cursor.fetchall(), None
    except trino.exceptions.TrinoQueryError as e:
        return None, e.message
    finally:
        connection.close()


def test_trino_shows_a_subject_only_its_granted_product_and_columns_until_the_request_goes(
        product_namespace, consumer_namespace, governed_trino):
    ns = consumer_namespace
    user = f"system:serviceaccount:{ns}:bi-tool"
    identifier = wait_until(lambda: kubectl_json("-n", product_namespace, "get", "dataproduct", "orders")
                            .get("status", {}).get("table", {}).get("identifier"), 120, "the product's table")
    schema, table = identifier.split(".", 1)
    count = f"SELECT count(*) FROM meshplane.{schema}.{table}"
    # The platform's own user reads it (maintenance); the subject, without a grant, nothing.
    rows, error = trino_as(governed_trino, "meshplane", count)
    assert error is None and rows[0][0] >= 0, error
    rows, error = trino_as(governed_trino, user, count)
    assert rows is None and "Access Denied" in error, (rows, error)
    schemas, _ = trino_as(governed_trino, user, "SHOW SCHEMAS FROM meshplane")
    assert [schema] not in schemas, schemas

    # At a lower classification than the product's: no policy rule covers it, the owner
    # approves, and the PII columns stay out of the grant.
    meshplane_access("request", "bi-tool", "-n", ns, "--product", f"{product_namespace}/orders",
                     "--subject", f"ServiceAccount:{ns}/bi-tool", "--purpose", "dashboards of order volume",
                     "--classification", "internal", user="alice")
    wait_until(lambda: phase_is(ns, "bi-tool", "Pending"), 30, "the request to wait for the owner")
    meshplane_access("approve", "bi-tool", "-n", ns, user="orders-owner")
    granted = wait_until(lambda: phase_is(ns, "bi-tool", "Granted"), 30, "the owner's grant")
    assert "customer_email" not in granted["grant"]["columns"], granted
    wait_until(lambda: trino_as(governed_trino, user, count)[1] is None, 30,
               "Trino to let the subject count the granted table")
    described, error = trino_as(governed_trino, user, f"DESCRIBE meshplane.{schema}.{table}")
    columns = [row[0] for row in described]
    assert set(columns) == set(granted["grant"]["columns"]), (columns, granted["grant"]["columns"])
    rows, error = trino_as(governed_trino, user, f"SELECT customer_email FROM meshplane.{schema}.{table}")
    # A denied column, asked for by name, denies the statement.
    assert rows is None and "Access Denied" in error, (rows, error)
    schemas, _ = trino_as(governed_trino, user, "SHOW SCHEMAS FROM meshplane")
    assert [schema] in schemas, schemas

    kubectl("-n", ns, "delete", "accessrequest", "bi-tool", "--wait=true", "--timeout=60s")
    wait_until(lambda: "Access Denied" in (trino_as(governed_trino, user, count)[1] or ""), 30,
               "Trino to deny the subject once the request is deleted")
