"""The catalog against the local stack: the examples applied with kubectl, a controller
serving the catalog from its watch caches, a real ingestion worker reporting freshness,
the HTTP API, the CLI, and the web UI in headless Chromium."""
import base64
import json
import os
import re
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

import pytest

from conftest import (MESHPLANE_BIN, REPO, Controller, bucket_exists, direct_mode_args, example, free_port,
                      kubectl, kubectl_json, wait_until)
from ingest_support import Worker, produce

EXAMPLES = ["orders.yaml", "payments.yaml", "customer-profile.yaml", "exchange-rates.yaml", "daily-revenue.yaml"]


def isolated(name, ns):
    """An example moved into namespace `ns` (its inputs too), its topics prefixed with `ns`
    so that lineage and ingestion do not meet other tests' products."""
    text = example(name, ns)
    text = re.sub(r"namespace: (orders|payments|customers|finance) }", f"namespace: {ns} }}", text)
    return re.sub(r"topic: ([a-z.]+)", rf"topic: {ns}.\1", text)


def http(base, path, method="GET", body=None):
    """(status, parsed JSON) of a catalog request."""
    request = urllib.request.Request(base + path, method=method, data=body)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


@pytest.fixture(scope="module")
def catalog(tmp_path_factory):
    """Namespace with the five example products, and a controller serving the catalog."""
    ns = f"t-{uuid.uuid4().hex[:10]}"
    kubectl("apply", "-f", f"{REPO}/examples/policy.yaml")
    kubectl("create", "namespace", ns)
    for name in EXAMPLES:
        kubectl("apply", "-f", "-", input=isolated(name, ns))
    logs = tmp_path_factory.mktemp("catalog")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    controller = Controller(str(logs / "controller.log"), f"127.0.0.1:{free_port()}",
                            *direct_mode_args(f"catalog-{ns}"), "--catalog-addr", f"127.0.0.1:{port}")

    def listed():
        try:
            return http(base, f"/api/search?namespace={ns}")[1]["total"] == len(EXAMPLES)
        except OSError:
            return False

    try:
        wait_until(listed, 60, "the catalog to list the five example products")
        yield {"ns": ns, "base": base, "logs": logs}
    finally:
        controller.stop()
        kubectl("delete", "namespace", ns, "--wait=false", check=False)


def test_search_finds_the_payments_product_by_payment(catalog):
    status, body = http(catalog["base"], f"/api/search?q=payment&namespace={catalog['ns']}")
    assert status == 200
    top = body["hits"][0]
    assert top["id"] == f"{catalog['ns']}/payment-failed-events"
    assert top["owner"] == "payments-team@example.com"
    assert "pci-dss" in top["complianceTags"]


def test_impact_lists_exactly_the_pii_gdpr_products(catalog):
    ns = catalog["ns"]
    status, body = http(catalog["base"], f"/api/impact?pii=true&compliance=gdpr&namespace={ns}")
    assert status == 200
    assert [p["id"] for p in body["products"]] == [
        f"{ns}/customer-profile", f"{ns}/orders", f"{ns}/payment-failed-events"]
    orders = next(p for p in body["products"] if p["name"] == "orders")
    assert [f["name"] for f in orders["matchedFields"]] == ["customer_email", "shipping_address"]


def test_lineage_runs_from_the_topic_through_orders_to_the_derived_product(catalog):
    ns = catalog["ns"]
    node = urllib.parse.quote(f"topic:{ns}.orders.events")
    status, view = http(catalog["base"], f"/api/lineage?node={node}&depth=5")
    assert status == 200
    ids = [n["id"] for n in view["nodes"]]
    assert ids == [f"topic:{ns}.orders.events", f"product:{ns}/orders", f"product:{ns}/daily-revenue"]
    assert {"from": f"product:{ns}/orders", "to": f"product:{ns}/daily-revenue"} in view["edges"]


def test_bad_questions_get_400_and_unknown_products_404(catalog):
    base = catalog["base"]
    status, body = http(base, "/api/search?colour=red")
    assert status == 400 and "unknown parameter `colour`" in body["error"]
    status, body = http(base, "/api/search?pii=perhaps")
    assert status == 400 and "`perhaps` is not true or false" in body["error"]
    status, body = http(base, "/api/search?q=" + "x" * 1000)
    assert status == 400 and "at most 256" in body["error"]
    status, body = http(base, f"/api/products/{catalog['ns']}/no-such-product")
    assert status == 404 and "no DataProduct" in body["error"]
    status, body = http(base, "/api/impact/policy", method="POST", body=b"kind: GovernancePolicy\nspec: [")
    assert status == 400 and "request body" in body["error"]


def test_a_proposed_policy_shows_the_products_it_would_reject(catalog):
    policy = open(f"{REPO}/operator/catalog/tests/fixtures/pii-30-days.yaml", "rb").read()
    status, body = http(catalog["base"], "/api/impact/policy", method="POST", body=policy)
    assert status == 200
    mine = [r["id"] for r in body["rejected"] if r["namespace"] == catalog["ns"]]
    assert mine == [f"{catalog['ns']}/{n}" for n in ("customer-profile", "orders", "payment-failed-events")]


def test_the_contract_exports_as_odcs_and_lineage_as_openlineage(catalog):
    ns = catalog["ns"]
    status, contract = http(catalog["base"], f"/api/products/{ns}/orders/contract")
    assert status == 200
    assert (contract["apiVersion"], contract["kind"]) == ("v3.1.0", "DataContract")
    email = next(p for p in contract["schema"][0]["properties"] if p["name"] == "customer_email")
    assert email["transformDescription"] == "masked: hash"
    status, events = http(catalog["base"], f"/api/lineage/openlineage?product={ns}/daily-revenue")
    assert status == 200
    assert [i["name"] for i in events[0]["inputs"]] != []
    assert events[0]["job"]["facets"]["jobType"]["jobType"] == "TRANSFORMATION"


def test_the_cli_prints_readable_tables(catalog):
    env = dict(os.environ, MESHPLANE_CATALOG_URL=catalog["base"])
    out = subprocess.run([MESHPLANE_BIN, "catalog", "search", "payment", "--domain", "payments"],
                         capture_output=True, text=True, env=env, check=True).stdout
    assert out.splitlines()[0].split() == ["PRODUCT", "DOMAIN", "OWNER", "CLASSIFICATION", "PII", "COMPLIANCE", "SOURCE"]
    assert f"{catalog['ns']}/payment-failed-events" in out
    out = subprocess.run([MESHPLANE_BIN, "impact", "--pii", "--compliance", "gdpr", "--retention-over", "180d"],
                         capture_output=True, text=True, env=env, check=True).stdout
    assert f"{catalog['ns']}/customer-profile" in out and f"{catalog['ns']}/orders " not in out
    bad = subprocess.run([MESHPLANE_BIN, "impact", "--classification", "secret"], capture_output=True, text=True, env=env)
    assert bad.returncode == 2 and "`secret` is not a classification" in bad.stderr


def test_freshness_is_measured_from_a_running_worker(catalog, s3):
    """The controller provisions orders; a worker runs its real plan, commits events and
    reports the newest event time into the status; the catalog shows it against the SLO."""
    ns, base = catalog["ns"], catalog["base"]
    plan_map = wait_until(lambda: kubectl("-n", ns, "get", "configmap", "orders-ingest-plan", "-o", "json", check=False)
                          .stdout or None, 60, "the orders plan ConfigMap")
    plan = json.loads(json.loads(plan_map)["data"]["plan.json"])
    wait_until(lambda: kubectl("-n", ns, "get", "secret", "meshplane-masking-key", check=False).returncode == 0,
               60, "the masking key Secret")
    secret = kubectl_json("-n", ns, "get", "secret", "meshplane-masking-key")
    key = base64.b64decode(secret["data"]["key"]).decode()
    wait_until(lambda: bucket_exists(s3, plan["bucket"]), 60, "the orders bucket")
    plan_path = catalog["logs"] / "orders-plan.json"
    plan_path.write_text(json.dumps(plan))
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    produce(plan["source"]["kafka"]["topic"], [json.dumps({
        "order_id": f"o-{i}", "customer_id": f"c-{i}", "customer_email": f"u{i}@example.com",
        "shipping_address": f"{i} Long Street", "order_total": 10.5, "currency": "EUR", "status": "paid",
        "event_time": now}).encode() for i in range(20)])
    worker = Worker(plan_path, str(catalog["logs"] / "worker.log"), f"127.0.0.1:{free_port()}",
                    "--flush-seconds", "2", "--idle-seconds", "1", "--status-seconds", "1", masking_key=key)
    try:
        def measured():
            page = http(base, f"/api/products/{ns}/orders")[1]
            return page["freshness"] if page["freshness"].get("lastEventTime") else None
        freshness = wait_until(measured, 90, "the catalog to show the measured freshness of orders")
        assert freshness["slo"] == "10m"
        assert freshness["state"] == "met", freshness
        assert freshness["lastEventTime"].startswith(now[:16])
    finally:
        assert worker.stop() == 0


def test_the_ui_searches_shows_masking_and_lineage_and_escapes_everything(catalog, tmp_path):
    """Headless Chromium (Debian's) driven by Playwright: search, open the product page, see
    the masked fields and the lineage graph; a product whose metadata carries markup shows
    it as text. Saves a screenshot artefact."""
    from playwright.sync_api import sync_playwright

    ns, base = catalog["ns"], catalog["base"]
    with open(f"{REPO}/operator/meshplane/tests/fixtures/hostile-product.json") as f:
        hostile = json.load(f)
    hostile["metadata"]["namespace"] = ns
    kubectl("apply", "-f", "-", input=json.dumps(hostile))
    wait_until(lambda: http(base, f"/api/products/{ns}/hostile")[0] == 200, 30, "the hostile product in the catalog")
    chromium = subprocess.run([f"{REPO}/e2e/chromium.sh"], capture_output=True, text=True, check=True).stdout.strip()
    artefacts = os.environ.get("MESHPLANE_ARTEFACTS", f"{REPO}/target/e2e-artefacts")
    os.makedirs(artefacts, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        page = browser.new_page(viewport={"width": 1280, "height": 1100})
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{base}/#/?namespace={ns}")
        page.fill("input[name=q]", "payment")
        page.click("button[type=submit]")
        page.wait_for_selector(f"a[href='#/product/{ns}/payment-failed-events']")
        page.goto(f"{base}/#/?q=orders&namespace={ns}")
        page.click(f"a[href='#/product/{ns}/orders']")
        page.wait_for_selector("svg.lineage")
        masked = page.eval_on_selector_all("strong.masking", "els => els.map(e => e.textContent)")
        assert masked == ["hash", "hash"], masked
        nodes = page.eval_on_selector_all("svg.lineage g.node", "els => els.map(e => e.getAttribute('data-id'))")
        assert f"topic:{ns}.orders.events" in nodes and f"product:{ns}/daily-revenue" in nodes, nodes
        assert page.locator("svg.lineage path[data-from]").count() >= 2
        text = page.text_content("main")
        assert "[object" not in text and "gdpr" in text and f"{ns}/daily-revenue" in text, text[:400]
        page.screenshot(path=f"{artefacts}/catalog-orders.png", full_page=True)

        page.goto(f"{base}/#/product/{ns}/hostile")
        page.wait_for_selector("#description")
        assert page.text_content("#description") == hostile["spec"]["description"]
        assert page.evaluate("window.__pwned") is None
        assert page.locator("main img, main script, main b").count() == 0
        page.goto(f"{base}/#/?q=hostile&namespace={ns}")
        page.wait_for_selector("#result-count")
        assert page.evaluate("window.__pwned") is None
        assert errors == [], errors
        browser.close()
    assert os.path.getsize(f"{artefacts}/catalog-orders.png") > 10_000
