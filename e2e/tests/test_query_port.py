"""Consumers query: `psql` through `kubectl port-forward` to the helm-installed platform's
query port (a pod), authenticated with ServiceAccount tokens from `kubectl create token`.
Without a grant a ServiceAccount sees no product and is denied by name; once its request is
granted (by the owner, or by the policy at a lower classification) it reads the Orders
table with PII masked and only the granted columns; writes are refused; a bad token is
refused while the port keeps serving; deleting the request denies the next statement; every
statement is audit-logged and timed per product. psycopg 3 checks the extended protocol
(prepared statements, bound parameters, binary results)."""
import re
import subprocess
import urllib.request
import uuid

import pytest

from conftest import free_port, kubectl, kubectl_json, wait_until
from ingest_support import event, produce
from test_access import (allow_orders_owner_to_approve, consumer_namespace, fresh_namespace,  # noqa: F401
                         meshplane_access, phase_is, product_namespace)
from test_platform_pods import orders_product, platform  # noqa: F401 (a fixture)

HEX64 = re.compile(r"^[0-9a-f]{64}$")
PLATFORM_NAMESPACE = "meshplane-system"


def port_forward(port):
    local = free_port()
    process = subprocess.Popen(["kubectl", "-n", PLATFORM_NAMESPACE, "port-forward", "service/meshplane-query",
                                f"{local}:{port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return local, process


@pytest.fixture(scope="module")
def query_port(platform):
    """(postgres port, metrics port) on the host, forwarded to the query Service."""
    kubectl("-n", PLATFORM_NAMESPACE, "rollout", "status", "deployment/meshplane-query", "--timeout=120s")
    pg, pg_forward = port_forward(5432)
    metrics, metrics_forward = port_forward(8080)

    def answers():
        try:
            return urllib.request.urlopen(f"http://127.0.0.1:{metrics}/readyz", timeout=2).status == 200
        except OSError:
            return False
    wait_until(answers, 60, "the query port's readiness through kubectl port-forward")
    yield pg, metrics
    for forward in (pg_forward, metrics_forward):
        forward.terminate()
        forward.wait(timeout=10)


def token(namespace, service_account):
    return kubectl("-n", namespace, "create", "token", service_account).stdout.strip()


def psql(port, password, sql):
    """psql's unaligned, tuples-only output; (exit status, stdout lines, stderr)."""
    proc = subprocess.run(
        ["psql", f"host=127.0.0.1 port={port} user=reader dbname=meshplane sslmode=disable connect_timeout=10",
         "-X", "-A", "-t", "-F", "|", "-v", "ON_ERROR_STOP=1", "-c", sql],
        capture_output=True, text=True, timeout=60, env={"PGPASSWORD": password, "PATH": "/usr/bin:/bin"})
    return proc.returncode, [line for line in proc.stdout.splitlines() if line], proc.stderr


def query_rows(port, password, sql):
    status, rows, err = psql(port, password, sql)
    # psql warns (and still exits 0) when a command tag is malformed: none may be.
    assert status == 0 and not err.strip(), f"{sql}: {err}"
    return rows


def products_listed(port, password):
    return query_rows(port, password, "SELECT table_schema || '.' || table_name FROM information_schema.tables "
                                      "WHERE table_schema NOT IN ('information_schema') ORDER BY 1")


@pytest.fixture
def orders_with_events(product_namespace):
    """The Orders product with 300 events committed; its table identifier."""
    ns = product_namespace
    kubectl("-n", ns, "wait", "--for=condition=Ready", "dataproduct/orders", "--timeout=120s")
    produce(f"orders-{ns}", [event(i) for i in range(300)])
    table = kubectl_json("-n", ns, "get", "dataproduct", "orders")["status"]["table"]
    return table["identifier"]


def test_a_service_account_without_a_grant_sees_nothing_then_queries_once_the_owner_approves(
        query_port, orders_with_events, product_namespace, consumer_namespace):
    pg, metrics = query_port
    ns, table = consumer_namespace, orders_with_events
    kubectl("-n", ns, "create", "serviceaccount", "reader")
    password = token(ns, "reader")

    # No grant: no product listed, and a query on Orders is denied naming the product.
    assert products_listed(pg, password) == []
    status, _, err = psql(pg, password, f"SELECT count(*) FROM {table}")
    assert status != 0 and f"permission denied for product {product_namespace}/orders" in err, err
    assert "AccessRequest" in err, err

    # Everyone in the namespace (the group its ServiceAccount tokens carry): no policy rule
    # allows that group, so the request waits for the owner.
    meshplane_access("request", "analytics-orders", "-n", ns, "--product", f"{product_namespace}/orders",
                     "--subject", f"Group:system:serviceaccounts:{ns}", "--purpose", "revenue dashboards",
                     user="alice")
    wait_until(lambda: phase_is(ns, "analytics-orders", "Pending"), 30, "the request to wait for the owner")
    assert products_listed(pg, password) == []
    meshplane_access("approve", "analytics-orders", "-n", ns, user="orders-owner")
    wait_until(lambda: phase_is(ns, "analytics-orders", "Granted"), 30, "the grant")

    # Within seconds the same token reads the table; the PII columns hold masked values.
    wait_until(lambda: products_listed(pg, password) == [table], 30, "the product to be listed for the subject")
    wait_until(lambda: query_rows(pg, password, f"SELECT count(*) FROM {table}") == ["300"], 120,
               "the 300 events through the query port")
    emails = query_rows(pg, password, f"SELECT customer_email FROM {table} ORDER BY order_id LIMIT 5")
    assert len(emails) == 5 and all(HEX64.match(e) for e in emails), emails
    aggregate = query_rows(pg, password, f"SELECT status, count(*) FROM {table} GROUP BY status ORDER BY status")
    assert aggregate == ["cancelled|75", "paid|75", "placed|75", "shipped|75"], aggregate
    point = query_rows(pg, password, f"SELECT order_id, currency FROM {table} WHERE order_id = 'order-000000042'")
    assert point == ["order-000000042|EUR"], point

    # The extended protocol, as drivers and BI tools speak it: psycopg 3 with server-side
    # prepared statements, bound parameters and binary results.
    import psycopg
    with psycopg.connect(host="127.0.0.1", port=pg, user="reader", dbname="meshplane", password=password,
                         sslmode="disable", autocommit=True, connect_timeout=10) as conn:
        lookup = f"SELECT order_id, order_total, event_time FROM {table} WHERE order_id = %s"
        for _ in range(3):
            found = conn.execute(lookup, ["order-000000042"], prepare=True, binary=True).fetchall()
        assert len(found) == 1 and found[0][0] == "order-000000042", found
        assert isinstance(found[0][1], float) and found[0][2].tzinfo is not None, found
        paid = conn.execute(f"SELECT count(*) FROM {table} WHERE status = %s", ["paid"]).fetchone()
        assert paid == (75,), paid
        # A bound value is a value: it cannot widen the statement.
        widened = conn.execute(f"SELECT count(*) FROM {table} WHERE order_id = %s", ["x' OR '1'='1"]).fetchone()
        assert widened == (0,), widened
        with pytest.raises(psycopg.Error) as refused:
            conn.execute(f"DELETE FROM {table} WHERE order_id = %s", ["order-000000042"])
        assert refused.value.sqlstate == "25006", refused.value

    # Read-only: writes and DDL are refused by name, and the table is unchanged.
    for statement, kind in [(f"DELETE FROM {table}", "DELETE"), (f"DROP TABLE {table}", "DROP TABLE"),
                            (f"INSERT INTO {table} (order_id) VALUES ('x')", "INSERT")]:
        status, _, err = psql(pg, password, statement)
        assert status != 0 and f"read-only: {kind} statements are refused" in err, (statement, err)
    assert query_rows(pg, password, f"SELECT count(*) FROM {table}") == ["300"]

    # A bad token is refused with the reason; the port keeps serving the good one.
    status, _, err = psql(pg, "not-a-token", "SELECT 1")
    assert status != 0 and "authentication failed" in err, err
    # (psql itself refuses to connect without a password.)
    status, _, err = psql(pg, "", "SELECT 1")
    assert status != 0 and "password" in err, err
    assert query_rows(pg, password, "SELECT 1") == ["1"]

    # Each statement is timed for its product, and audited.
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics}/metrics", timeout=5) as r:
        exposition = r.read().decode()
    counted = re.search(r'meshplane_query_duration_seconds_count\{product="%s/orders"\} (\d+)'
                        % re.escape(product_namespace), exposition)
    assert counted and int(counted.group(1)) >= 4, exposition[-3000:]
    assert re.search(r"meshplane_query_auth_failures_total [1-9]", exposition), exposition[-3000:]
    logs = kubectl("-n", PLATFORM_NAMESPACE, "logs", "deployment/meshplane-query", "--tail=400").stdout
    audited = [line for line in logs.splitlines()
               if "meshplane::audit" in line and f"{product_namespace}/orders" in line and "customer_email" in line]
    assert audited and f"ServiceAccount:{ns}/reader" in audited[-1], logs[-3000:]

    # Deleting the request: the next statement is denied.
    kubectl("-n", ns, "delete", "accessrequest", "analytics-orders", "--wait=false")
    wait_until(lambda: psql(pg, password, f"SELECT count(*) FROM {table}")[0] != 0, 30,
               "the revoked grant to deny the next statement")
    status, _, err = psql(pg, password, f"SELECT count(*) FROM {table}")
    assert f"permission denied for product {product_namespace}/orders" in err, err


@pytest.fixture
def classified_orders(platform):
    """Orders with its non-personal fields classified `internal` (the PII ones stay at the
    product's `confidential`); its table identifier."""
    name = fresh_namespace("classified")
    text = orders_product(name, f"orders-{name}")
    for field in ["order_id", "customer_id", "order_total", "currency", "status", "event_time"]:
        text = text.replace(f"{{ name: {field}, ", f"{{ name: {field}, classification: internal, ")
    kubectl("apply", "-f", "-", input=text)
    allow_orders_owner_to_approve(name)
    kubectl("-n", name, "wait", "--for=condition=Ready", "dataproduct/orders", "--timeout=120s")
    yield name, kubectl_json("-n", name, "get", "dataproduct", "orders")["status"]["table"]["identifier"]
    kubectl("delete", "namespace", name, "--wait=false", check=False)


def test_a_lower_classification_hides_the_columns_above_it(query_port, classified_orders, consumer_namespace):
    pg, _ = query_port
    ns = consumer_namespace
    product_namespace, table = classified_orders
    kubectl("-n", ns, "create", "serviceaccount", "analyst")
    password = token(ns, "analyst")
    meshplane_access("request", "analyst-orders", "-n", ns, "--product", f"{product_namespace}/orders",
                     "--subject", f"ServiceAccount:{ns}/analyst", "--purpose", "order volumes",
                     "--classification", "internal", user="alice")
    # No policy rule covers internal data: the owner decides.
    wait_until(lambda: phase_is(ns, "analyst-orders", "Pending"), 30, "the request to wait for the owner")
    meshplane_access("approve", "analyst-orders", "-n", ns, user="orders-owner")
    granted = wait_until(lambda: phase_is(ns, "analyst-orders", "Granted"), 30, "the grant")
    columns = granted["grant"]["columns"]
    assert "customer_email" not in columns and "order_id" in columns, columns

    wait_until(lambda: products_listed(pg, password) == [table], 30, "the product to be listed")
    schema, name = table.split(".")
    visible = query_rows(pg, password, "SELECT column_name FROM information_schema.columns "
                                       f"WHERE table_schema = '{schema}' AND table_name = '{name}' ORDER BY 1")
    assert sorted(visible) == sorted(columns), visible
    header = subprocess.run(
        ["psql", f"host=127.0.0.1 port={pg} user=analyst dbname=meshplane sslmode=disable", "-X", "-A",
         "-c", f"SELECT * FROM {table} LIMIT 1"],
        capture_output=True, text=True, timeout=60, env={"PGPASSWORD": password, "PATH": "/usr/bin:/bin"})
    assert header.returncode == 0, header.stderr
    assert "customer_email" not in header.stdout.splitlines()[0] and "order_id" in header.stdout, header.stdout
    status, _, err = psql(pg, password, f"SELECT customer_email FROM {table}")
    assert status != 0 and "customer_email" in err, err
    kubectl("-n", ns, "delete", "accessrequest", "analyst-orders", "--wait=false")


def test_a_garbage_startup_packet_leaves_the_port_serving(query_port, consumer_namespace):
    import socket
    pg, _ = query_port
    for payload in [b"\x00\x00\x00\x08\x04\xd2\x16\x2f", b"GET / HTTP/1.1\r\n\r\n", b"\xff" * 64,
                    b"\x00\x00\x00\x04", uuid.uuid4().bytes * 10]:
        with socket.create_connection(("127.0.0.1", pg), timeout=10) as s:
            s.sendall(payload)
            s.settimeout(10)
            try:
                s.recv(1024)
            except (socket.timeout, ConnectionResetError):
                pass
    kubectl("-n", consumer_namespace, "create", "serviceaccount", "prober")
    assert query_rows(pg, token(consumer_namespace, "prober"), "SELECT 1") == ["1"]
