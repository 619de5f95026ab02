"""The products' monitoring against the cluster's real monitoring: prometheus-operator,
Prometheus and Alertmanager run as pods (e2e/stack/monitoring.sh), and Prometheus picks up
every product's ServiceMonitor and PrometheusRule as on a user's cluster. The Orders
worker pod is scraped with the product's labels, every panel of its dashboard returns
series, its freshness alert fires when events stop, is delivered by Alertmanager to the
receiver its `slo.support` names and resolves when events flow again, and malformed
events fire the rejected-records alert. The controller reads the same series back into
`CompletenessSLOMet` (True, then False with the measurement, Unknown while Prometheus is
scaled to zero). A deleted product's rule group and target leave Prometheus with its
children. The platform runs with every alert's `for` shortened
(`controller.monitoring.alertFor`); the product's freshness SLO is 30 s."""
import http.server
import json
import subprocess
import threading
import time
import urllib.parse
import uuid

import pytest
import yaml

from conftest import REPO, event_reasons, example, kubectl, kubectl_json, require_env, wait_until
from ingest_support import committed_total, event, produce
from test_query_port import port_forward, psql

PLATFORM_NAMESPACE = "meshplane-system"
SUPPORT = "#orders-oncall"
PROMETHEUS = "/api/v1/namespaces/monitoring/services/http:prometheus-operated:web/proxy"
CATALOG = "/api/v1/namespaces/meshplane-system/services/http:meshplane-controller-catalog:http/proxy"
# As the controller pod reaches it, through cluster DNS.
PROMETHEUS_URL = "http://prometheus-operated.monitoring.svc.cluster.local:9090"


def stack_script(name, *args, timeout=900):
    proc = subprocess.run(["bash", f"{REPO}/e2e/stack/{name}", *args], capture_output=True, text=True,
                          timeout=timeout)
    assert proc.returncode == 0, f"{name} {' '.join(args)} failed: {proc.stdout}\n{proc.stderr}"


class Receiver(http.server.ThreadingHTTPServer):
    """An Alertmanager webhook receiver: keeps every notification it is sent, by path."""

    def __init__(self, address):
        self.notifications = []
        self.lock = threading.Lock()
        super().__init__(address, ReceiverHandler)

    def received(self, path):
        with self.lock:
            return [n for p, n in self.notifications if p == path]


class ReceiverHandler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with self.server.lock:
            self.server.notifications.append((self.path, json.loads(body)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def receiver():
    server = Receiver((require_env("MESHPLANE_NODE_IP"), 0))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()


@pytest.fixture(scope="module")
def monitoring(receiver, tmp_path_factory):
    """The cluster's monitoring and the platform, both installed for this module only."""
    host, port = receiver.server_address
    team = SUPPORT.lstrip("#")
    routes = tmp_path_factory.mktemp("alertmanager") / "alertmanager.yaml"
    # A platform team's routes: by the `support` label every SLO alert carries.
    routes.write_text(yaml.safe_dump({
        "route": {"receiver": "unrouted", "group_by": ["alertname", "product"], "group_wait": "1s",
                  "group_interval": "5s", "repeat_interval": "1h",
                  "routes": [{"matchers": [f'support="{SUPPORT}"'], "receiver": team}]},
        "receivers": [{"name": "unrouted"},
                      {"name": team, "webhook_configs": [{"url": f"http://{host}:{port}/{team}",
                                                          "send_resolved": True}]}],
    }))
    try:
        stack_script("monitoring.sh", "up", str(routes))
        stack_script("platform.sh", "install", "--set", "controller.monitoring.alertFor=10s",
                     "--set", f"controller.monitoring.prometheusUrl={PROMETHEUS_URL}",
                     "--set", "query.serviceMonitor.enabled=true", timeout=600)
        kubectl("apply", "-f", f"{REPO}/examples/policy.yaml")
    except BaseException:
        teardown()
        raise
    yield f"/{team}"
    teardown()


def teardown():
    stack_script("platform.sh", "uninstall", timeout=600)
    stack_script("monitoring.sh", "down", timeout=600)


def prometheus(path, **params):
    """GET on Prometheus's HTTP API through the API server's service proxy."""
    query = urllib.parse.urlencode(params)
    out = kubectl("get", "--raw", f"{PROMETHEUS}/api/v1/{path}" + (f"?{query}" if query else "")).stdout
    body = json.loads(out)
    assert body["status"] == "success", body
    return body["data"]


def series(expr):
    return prometheus("query", query=expr)["result"]


def alerts(name, product, state):
    return [a for a in prometheus("alerts")["alerts"]
            if a["labels"].get("alertname") == name and a["labels"].get("product") == product
            and a["state"] == state]


def notified(receiver, path, name, product, status):
    """Notifications the receiver got for the alert with `status` (firing or resolved)."""
    return [a for n in receiver.received(path) for a in n["alerts"]
            if a["labels"].get("alertname") == name and a["labels"].get("product") == product
            and a["status"] == status]


def slo_condition(orders, type_, status, timeout):
    """Waits for condition `type_` to have `status`; names the last one seen if it does not."""
    seen = {}

    def check():
        product = kubectl_json("-n", orders["namespace"], "get", "dataproduct", "orders")
        found = [c for c in product.get("status", {}).get("conditions", []) if c["type"] == type_]
        seen["last"] = found[0] if found else None
        return found[0] if found and found[0]["status"] == status else None

    try:
        return wait_until(check, timeout, f"{type_}={status}")
    except AssertionError as e:
        raise AssertionError(f"{e}; last seen: {seen.get('last')}") from None


def now_event(i):
    e = json.loads(event(i))
    e["event_time"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return json.dumps(e).encode()


@pytest.fixture(scope="module")
def orders(monitoring):
    """The Orders example in its own namespace, freshness SLO 30 s, committing every 5 s."""
    namespace = f"t-{uuid.uuid4().hex[:10]}"
    kubectl("create", "namespace", namespace)
    topic = f"orders.events.{uuid.uuid4().hex[:8]}"
    text = example("orders.yaml", namespace).replace("topic: orders.events", f"topic: {topic}")
    text = text.replace("updateInterval: 5m", "updateInterval: 5s").replace("freshness: 10m", "freshness: 30s")
    # With a stream output port, whose latency the dashboard shows too.
    text = text.replace("      updateInterval: 5s\n", f"      updateInterval: 5s\n    stream:\n      topic: {topic}.masked\n")
    assert "freshness: 30s" in text and f'support: "{SUPPORT}"' in text and ".masked" in text
    kubectl("apply", "-f", "-", input=text)
    kubectl("-n", namespace, "wait", "--for=condition=Ready", "dataproduct/orders", "--timeout=180s")
    group = kubectl_json("-n", namespace, "get", "configmap", "orders-ingest-plan")["data"]["plan.json"]
    group = json.loads(group)["source"]["kafka"]["consumerGroup"]
    yield {"namespace": namespace, "topic": topic, "group": group, "product": f"{namespace}/orders"}
    kubectl("delete", "namespace", namespace, "--wait=false", check=False)


def test_prometheus_scrapes_the_worker_pod_and_every_dashboard_panel_has_data(orders):
    product = orders["product"]
    # The ServiceMonitor's relabeling puts the product and its domain on `up` and on
    # every series of the worker. (Scraped before the events come: counters' increases
    # are measured from the first scrape on.)
    up = wait_until(lambda: series(f'up{{product="{product}"}} == 1'), 180,
                    f"Prometheus to scrape the worker of {product}")
    assert up[0]["metric"]["domain"] == "orders" and up[0]["metric"]["namespace"] == orders["namespace"], up
    produce(orders["topic"], [now_event(i) for i in range(2000)])
    wait_until(lambda: committed_total(orders["topic"], orders["group"], 6) >= 2000, 180,
               "the worker pod to commit 2000 events")
    board = kubectl_json("-n", orders["namespace"], "get", "configmap", "orders-dashboard")["data"]
    panels = json.loads(next(iter(board.values())))["panels"]
    exprs = [(p["title"], t["expr"]) for p in panels for t in p.get("targets", [])]
    assert len(exprs) >= 7, exprs
    assert any(title.startswith("Stream output latency") for title, _ in exprs), exprs
    # Rates and quantiles need two scrapes after the commits: wait for each. The query
    # latency panel has data once the product is queried (the next test).
    for title, expr in exprs:
        if "meshplane_query_" in expr:
            continue
        wait_until(lambda: series(expr), 120, f"panel {title!r} ({expr}) to return series")
    # The controller reads the same series back: every record passed.
    met = slo_condition(orders, "CompletenessSLOMet", "True", 240)
    assert met["reason"] == "WithinSLO" and "100.00 %" in met["message"], met


def test_queries_through_the_port_give_the_query_latency_panel_data_in_prometheus(orders):
    namespace, product = orders["namespace"], orders["product"]
    board = kubectl_json("-n", namespace, "get", "configmap", "orders-dashboard")["data"]
    panels = json.loads(next(iter(board.values())))["panels"]
    latency = [p for p in panels if p["title"].startswith("Query latency")]
    assert len(latency) == 1 and "2s" in latency[0]["title"], [p["title"] for p in panels]
    rule = kubectl_json("-n", namespace, "get", "prometheusrule", "orders-slo")
    assert any(r.get("alert") == "DataProductQueryLatencySLOBreached"
               for g in rule["spec"]["groups"] for r in g["rules"]), rule["spec"]
    # A ServiceAccount of the product's namespace is granted by the policy (up to
    # confidential) and queries through the port, as a dashboard would.
    kubectl("-n", namespace, "create", "serviceaccount", "dashboards")
    kubectl("apply", "-f", "-", input=f"""
apiVersion: meshplane.dev/v1alpha1
kind: AccessRequest
metadata: {{name: dashboards, namespace: {namespace}}}
spec:
  product: {{name: orders}}
  subject: {{kind: ServiceAccount, name: dashboards}}
  purpose: the team's dashboards
""")
    wait_until(lambda: kubectl_json("-n", namespace, "get", "accessrequest", "dashboards")
               .get("status", {}).get("phase") == "Granted", 60, "the dashboards' grant")
    table = kubectl_json("-n", namespace, "get", "dataproduct", "orders")["status"]["table"]["identifier"]
    password = kubectl("-n", namespace, "create", "token", "dashboards").stdout.strip()
    count = f"SELECT count(*) FROM {table}"
    pg, forward = port_forward(5432)
    try:
        wait_until(lambda: psql(pg, password, count)[0] == 0, 60, "a count through the query port")
        # Prometheus scrapes the port's ServiceMonitor: the product's series appear. A
        # rate counts increases between scrapes, so the next queries come after that.
        wait_until(lambda: series(f'meshplane_query_duration_seconds_count{{product="{product}"}}'), 120,
                   "Prometheus to scrape the query port's series of the product")
        for _ in range(5):
            assert psql(pg, password, count)[0] == 0
    finally:
        forward.terminate()
        forward.wait(timeout=10)
    exprs = [(p["title"], t["expr"]) for p in panels for t in p.get("targets", []) if "meshplane_query_" in t["expr"]]
    assert exprs, [p["title"] for p in panels]
    for title, expr in exprs:
        wait_until(lambda: (found := series(expr)) and found[0]["value"][1] not in ("NaN", ""), 120,
                   f"panel {title!r} ({expr}) to return a number")
    counted = series(f'sum(meshplane_query_statements_total{{product="{product}",outcome="ok"}})')
    assert counted and float(counted[0]["value"][1]) >= 6, counted


def test_the_freshness_alert_fires_reaches_the_support_receiver_and_resolves(orders, monitoring, receiver):
    product = orders["product"]
    name = "DataProductFreshnessSLOBreached"
    produce(orders["topic"], [now_event(10_000 + i) for i in range(10)])
    # No more events: 30 s after the newest, held 10 s, the alert fires.
    firing = wait_until(lambda: alerts(name, product, "firing"), 240, f"{name} to fire in Prometheus")
    assert firing[0]["labels"]["support"] == SUPPORT and firing[0]["labels"]["slo"] == "freshness", firing
    delivered = wait_until(lambda: notified(receiver, monitoring, name, product, "firing"), 120,
                           f"Alertmanager to deliver {name} to the {SUPPORT} receiver")
    assert delivered[0]["labels"]["namespace"] == orders["namespace"], delivered
    # Events flow again: the newest committed event is recent, the alert resolves.
    stop = threading.Event()

    def keep_producing():
        i = 20_000
        while not stop.is_set():
            produce(orders["topic"], [now_event(i)])
            i += 1
            stop.wait(2)

    producer = threading.Thread(target=keep_producing, daemon=True)
    producer.start()
    try:
        wait_until(lambda: notified(receiver, monitoring, name, product, "resolved"), 240,
                   f"Alertmanager to send {name} resolved")
        assert not alerts(name, product, "firing")
        slo_condition(orders, "FreshnessSLOMet", "True", 60)
    finally:
        stop.set()
        producer.join(30)
    # The product keeps the breach and the recovery in its SLO history, the catalog shows
    # it, and the grant holder of the previous test sees the state in its own request.
    history = kubectl_json("-n", orders["namespace"], "get", "dataproduct", "orders")["status"]["sloHistory"]
    freshness = [(t["status"], t["reason"]) for t in history if t["slo"] == "freshness"]
    breach = freshness.index(("False", "FreshnessSLOBreached"))
    assert ("True", "WithinSLO") in freshness[breach + 1:], history
    page = json.loads(kubectl("get", "--raw", f"{CATALOG}/api/products/{product}").stdout)
    assert [t["reason"] for t in page["sloHistory"]] == [t["reason"] for t in history], page["sloHistory"]

    def granted_view():
        request = kubectl_json("-n", orders["namespace"], "get", "accessrequest", "dashboards")
        levels = {level["slo"]: level for level in request["status"].get("serviceLevels", [])}
        return levels if levels.get("freshness", {}).get("status") == "True" else None
    levels = wait_until(granted_view, 60, "the grant holder's request to show freshness met")
    assert levels["freshness"]["target"] == "30s" and levels["freshness"]["reason"] == "WithinSLO", levels
    assert levels["completeness"]["target"] == "99.5", levels


def test_malformed_events_fire_the_rejected_records_alert(orders, monitoring, receiver):
    product = orders["product"]
    name = "DataProductRejectingRecords"
    # About 8 % of the last 15 minutes' records rejected, against a completeness SLO of 99.5 %.
    produce(orders["topic"], [now_event(30_000 + i) for i in range(100)] + [b"{not json"] * 200)
    firing = wait_until(lambda: alerts(name, product, "firing"), 240, f"{name} to fire in Prometheus")
    assert firing[0]["labels"]["slo"] == "completeness", firing
    wait_until(lambda: notified(receiver, monitoring, name, product, "firing"), 120,
               f"Alertmanager to deliver {name} to the {SUPPORT} receiver")
    # The controller measures the same: breached, with the measurement in the status and
    # a Warning Event.
    breached = slo_condition(orders, "CompletenessSLOMet", "False", 240)
    assert breached["reason"] == "CompletenessSLOBreached", breached
    measured = kubectl_json("-n", orders["namespace"], "get", "dataproduct", "orders")["status"]
    measured = measured["measuredCompleteness"]
    assert measured["rejected"] >= 150 and measured["percent"] < 99.5 and measured["window"] == "1h", measured
    assert "CompletenessSLOBreached" in event_reasons(orders["namespace"], "orders")


def test_without_prometheus_completeness_is_unknown_and_nothing_blocks(orders):
    kubectl("-n", "monitoring", "patch", "prometheus", "meshplane", "--type", "merge",
            "-p", '{"spec":{"replicas":0}}')
    try:
        unknown = slo_condition(orders, "CompletenessSLOMet", "Unknown", 240)
        assert unknown["reason"] == "PrometheusUnavailable", unknown
        # The product stays Ready and keeps its last measurement.
        product = kubectl_json("-n", orders["namespace"], "get", "dataproduct", "orders")
        ready = [c for c in product["status"]["conditions"] if c["type"] == "Ready"][0]
        assert ready["status"] == "True", ready
        assert product["status"]["measuredCompleteness"]["records"] > 0, product["status"]
    finally:
        kubectl("-n", "monitoring", "patch", "prometheus", "meshplane", "--type", "merge",
                "-p", '{"spec":{"replicas":1}}')
        kubectl("-n", "monitoring", "rollout", "status", "statefulset/prometheus-meshplane", "--timeout=180s",
                timeout=200)


def test_a_deleted_products_alerts_and_targets_leave_prometheus(orders):
    product = orders["product"]
    group = f"meshplane.{product.replace('/', '.')}"

    def rule_groups():
        return {g["name"] for g in prometheus("rules")["groups"]}

    def product_targets():
        return [t for t in prometheus("targets", state="active")["activeTargets"]
                if t["labels"].get("product") == product]

    # Present first (Prometheus may just have come back from the previous test).
    wait_until(lambda: group in rule_groups(), 180, f"Prometheus to load the rule group {group}")
    wait_until(product_targets, 180, f"Prometheus to scrape the worker of {product}")
    kubectl("-n", orders["namespace"], "delete", "dataproduct", "orders", "--wait=true", "--timeout=120s", timeout=150)
    wait_until(lambda: group not in rule_groups(), 180, f"the rule group {group} to leave Prometheus")
    wait_until(lambda: not product_targets(), 180, f"the worker target of {product} to leave Prometheus")
