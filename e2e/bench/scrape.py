"""Scrape cost of the products' workers (`make bench-scrape`), against the local cluster's
own monitoring (e2e/stack/monitoring.sh: prometheus-operator, Prometheus, Alertmanager).

Creates N streaming products (the Orders example, one topic each) with a controller on
the host whose workers run as pods, produces a few events to every topic so that every
worker has committed (its histograms and per-partition series exist), waits until
Prometheus scrapes all N workers through their ServiceMonitors, and reports:

- series per product: Prometheus's `scrape_samples_scraped` of each worker target
  (min / median / max; the goal is < 100);
- bytes per scrape: the size of a worker's `/metrics` answer, fetched through the API
  server's pod proxy for 5 workers (uncompressed: what a worker renders per scrape).

Prints what the run depended on first (e2e/bench/conditions.py).
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
from ingest_support import RELEASE_BIN, event, produce  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
import conditions  # noqa: E402

REPO = conditions.REPO
PROMETHEUS = "/api/v1/namespaces/monitoring/services/http:prometheus-operated:web/proxy"


def kubectl(*args, input=None):
    proc = subprocess.run(["kubectl", *args], capture_output=True, text=True, input=input, timeout=900)
    if proc.returncode != 0:
        raise SystemExit(f"kubectl {' '.join(args)} failed: {proc.stderr}")
    return proc.stdout


def query(expr):
    out = kubectl("get", "--raw", f"{PROMETHEUS}/api/v1/query?{urllib.parse.urlencode({'query': expr})}")
    return json.loads(out)["data"]["result"]


def wait(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out after {timeout} s waiting for {what}")
        time.sleep(1)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--products", type=int, default=100)
    args = parser.parse_args()
    n = args.products
    conditions.describe(RELEASE_BIN, [f"products: {n}, one worker pod each"])
    subprocess.run(["bash", f"{REPO}/e2e/stack/monitoring.sh", "up"], check=True, timeout=3600)
    run = int(time.time())
    namespace = f"bench-scrape-{run}"
    kubectl("create", "namespace", namespace)
    kubectl("apply", "-f", f"{REPO}/examples/policy.yaml")
    log = open(f"{REPO}/.stack/logs/bench-scrape.log", "w")
    env = {**os.environ, "MESHPLANE_WORKER_ACCESS_KEY_ID": os.environ["AWS_ACCESS_KEY_ID"],
           "MESHPLANE_WORKER_SECRET_ACCESS_KEY": os.environ["AWS_SECRET_ACCESS_KEY"]}
    controller = subprocess.Popen(
        [RELEASE_BIN, "controller", "--topic-mode", "direct", "--kafka-bootstrap", os.environ["MESHPLANE_KAFKA_BOOTSTRAP"],
         "--topic-replicas", "1", "--concurrency", "32", "--lease-name", f"bench-scrape-{run}", "--lease-seconds", "6",
         "--metrics-addr", "127.0.0.1:18098"], stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        template = open(f"{REPO}/examples/orders.yaml").read()
        template = re.sub(r"(?m)^  namespace: .*$", f"  namespace: {namespace}", template)
        template = template.replace("updateInterval: 5m", "updateInterval: 5s")
        topics = [f"bench.scrape.{run}.{i:03d}" for i in range(n)]
        manifests = [template.replace("name: orders\n", f"name: p-{i:03d}\n", 1)
                     .replace("topic: orders.events", f"topic: {topic}") for i, topic in enumerate(topics)]
        kubectl("apply", "-f", "-", input="\n---\n".join(manifests))
        kubectl("-n", namespace, "wait", "--for=condition=Ready", "dataproduct", "--all", "--timeout=900s")
        for topic in topics:
            produce(topic, [event(i) for i in range(20)])
        selector = f'namespace="{namespace}"'
        wait(lambda: len(query(f'up{{{selector}}} == 1')) >= n, 600, f"Prometheus to scrape {n} workers")
        # Committed and scraped since: every worker reports its newest committed event.
        wait(lambda: len(query(f'meshplane_ingest_newest_committed_event_timestamp_seconds{{{selector}}} > 0')) >= n,
             600, f"all {n} workers to have committed and been scraped")
        samples = sorted(float(r["value"][1]) for r in query(f"scrape_samples_scraped{{{selector}}}"))
        per_product = sorted(float(r["value"][1]) for r in
                             query(f"sum by (product) (scrape_samples_scraped{{{selector}}})"))
        pods = json.loads(kubectl("-n", namespace, "get", "pods", "-l", "app.kubernetes.io/component=ingest",
                                  "-o", "json"))["items"][:5]
        sizes, lines = [], []
        for pod in pods:
            body = kubectl("get", "--raw",
                           f"/api/v1/namespaces/{namespace}/pods/{pod['metadata']['name']}:9464/proxy/metrics")
            sizes.append(len(body.encode()))
            lines.append(sum(1 for line in body.splitlines() if line and not line.startswith("#")))
        print(f"targets scraped: {len(samples)}")
        print(f"series per worker target (scrape_samples_scraped): min {samples[0]:.0f}, "
              f"median {statistics.median(samples):.0f}, max {samples[-1]:.0f}")
        print(f"series per product: min {per_product[0]:.0f}, median {statistics.median(per_product):.0f}, "
              f"max {per_product[-1]:.0f} (goal < 100)")
        print(f"bytes per scrape (uncompressed /metrics of {len(sizes)} workers): min {min(sizes)}, max {max(sizes)}; "
              f"samples in them: {min(lines)}..{max(lines)}")
    finally:
        controller.terminate()
        controller.wait(30)
        subprocess.run(["kubectl", "delete", "namespace", namespace, "--wait=false"], capture_output=True)


if __name__ == "__main__":
    main()
