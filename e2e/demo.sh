#!/usr/bin/env bash
# The Meshplane story on the local stack, as users deploy it: the platform is installed
# with `helm install` into a Kubernetes cluster whose node runs pods; the platform team's
# policy goes in, domains apply their products with kubectl, the API server (through the
# webhook pods) masks PII and tags compliance by default, and rejects what breaks the rules
# with the reason; the controller pod provisions every product and starts its ingestion
# worker pod, which turns events into masked Parquet; the catalog answers search, lineage
# and impact questions; an analyst's job is granted access and queries with psql.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$PWD/target/release/meshplane
step() { printf '\n\033[1;34m==> %s\033[0m\n' "$*"; }
show() { printf '\033[2m$ %s\033[0m\n' "$*"; "$@"; }

step "Starting the local platform stack (Kubernetes with a node that runs pods, Kafka, S3)"
bash e2e/stack/up.sh
source .stack/env
source e2e/stack/lib.sh
# A previous demo's processes give way to this one's.
for name in demo-port-forward demo-query-forward demo-ingest-orders demo-controller demo-webhook; do stop "$name"; done

step "Building the meshplane image (the Dockerfile's layout) and importing it into the node"
bash e2e/stack/images.sh meshplane

step "helm install: the controller (with its catalog) and the admission webhook run as pods"
kubectl apply -f - >/dev/null <<'NS'
apiVersion: v1
kind: Namespace
metadata: { name: meshplane-system }
---
apiVersion: v1
kind: Namespace
metadata: { name: orders }
---
apiVersion: v1
kind: Namespace
metadata: { name: payments }
---
apiVersion: v1
kind: Namespace
metadata: { name: customers }
---
apiVersion: v1
kind: Namespace
metadata: { name: finance }
NS
show bash e2e/stack/platform.sh install
show kubectl -n meshplane-system get pods -o wide
finished=0
cleanup() {
  [[ $finished == 1 ]] && return
  echo "the demo failed: see kubectl -n meshplane-system logs deploy/meshplane-controller (and -webhook)" >&2
  stop demo-port-forward
}
trap cleanup EXIT
until kubectl get validatingwebhookconfiguration meshplane >/dev/null 2>&1; do sleep 0.2; done

step "The platform team's policy: examples/policy.yaml (and an Audit policy being previewed)"
show kubectl apply -f examples/policy.yaml -f examples/audit-policy.yaml
enforced() {
  local out
  out=$(kubectl apply --dry-run=server -f examples/rejected/pii-over-retention.yaml 2>&1 || true)
  [[ $out == *"violates governance"* ]]
}
until enforced; do sleep 0.2; done

step "A domain's CI checks its product offline, exactly as the API server will decide"
show "$bin" plan -f examples/orders.yaml -p examples/policy.yaml | sed -n '/^---$/q;p' | grep -vE 'fields\[[0-9]+\]\.classification'

step "Domains apply their products with kubectl"
show kubectl apply -f examples/orders.yaml -f examples/payments.yaml -f examples/customer-profile.yaml \
  -f examples/exchange-rates.yaml -f examples/daily-revenue.yaml
show kubectl get dataproducts --all-namespaces

step "The controller provisions each product: bucket, workload pods, access, monitoring"
# Ready = provisioned and its ingestion workers available.
for ns in orders payments customers; do
  show kubectl -n "$ns" wait --for=condition=Ready --timeout=120s dataproduct --all
done
# Scheduled pulls and derived products do not run yet, and say so (Stalled, NotYetSupported).
show kubectl -n finance wait --for=condition=Stalled --timeout=120s dataproduct --all
kubectl -n finance get dataproducts -o jsonpath='{range .items[*]}  {.metadata.name}: {.status.conditions[?(@.type=="IngestionReady")].message}{"\n"}{end}'
show kubectl get pods --all-namespaces -l app.kubernetes.io/managed-by=meshplane
show kubectl get dataproducts --all-namespaces
show kubectl -n orders get deployment,configmap,serviceaccount,role,rolebinding,service,servicemonitor,prometheusrule -l meshplane.dev/product=orders
bucket=$(kubectl -n orders get dataproduct orders -o jsonpath='{.status.endpoints.bucket}')
printf '\033[2m$ (S3 API) bucket %s\033[0m\n' "$bucket"
"$(e2e/python.sh)/bin/python" - "$bucket" <<'PY'
import os, sys, boto3
s3 = boto3.client("s3", endpoint_url=os.environ["MESHPLANE_S3_ENDPOINT"])
bucket = sys.argv[1]
sse = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
days = [r["Expiration"]["Days"] for r in s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]]
tags = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=bucket)["TagSet"]}
print(f"  encryption: {sse['ApplyServerSideEncryptionByDefault']['SSEAlgorithm']}, expiration: {days[0]} days")
print("  tags:", ", ".join(f"{k}={v}" for k, v in sorted(tags.items())))
PY

step "Stored Orders product: PII masked by default, classified, encrypted, tagged for GDPR/CCPA"
kubectl -n orders get dataproduct orders -o json | python3 -c '
import json, sys
p = json.load(sys.stdin)
for f in p["spec"]["schema"]["fields"]:
    flag = "PII" if f.get("pii") else "   "
    name, kind, level, masking = f["name"], f["type"], f.get("classification", ""), f.get("masking", "none")
    print(f"  {flag} {name:<18} {kind:<10} {level:<13} masking={masking}")
spec = p["spec"]
print("  classification:", spec["classification"], "| encryption:", spec["encryption"], "| retention:", spec["retention"])
print("  labels:", ", ".join(k for k in p["metadata"].get("labels", {}) if k.startswith("compliance.")))
'

step "Products that break the rules are rejected at kubectl apply, with the fix"
for product in examples/rejected/pii-over-retention.yaml examples/rejected/user-id-naming.yaml; do
  printf '\033[2m$ kubectl apply -f %s\033[0m\n' "$product"
  if kubectl apply -f "$product"; then echo "unexpectedly admitted: $product"; exit 1; fi
done

step "Orders events flow in: the worker pod commits them, masked, into the Iceberg table orders.orders"
show kubectl -n orders get pods -l app.kubernetes.io/component=ingest -o wide
"$(e2e/python.sh)/bin/python" - "$bucket" <<'PY'
import json, os, sys, time
import boto3
from confluent_kafka import Producer
sys.path.insert(0, "e2e/tests")
from ingest_support import catalog
bucket = sys.argv[1]
s3 = boto3.client("s3", endpoint_url=os.environ["MESHPLANE_S3_ENDPOINT"])
producer = Producer({"bootstrap.servers": os.environ["MESHPLANE_KAFKA_BOOTSTRAP"]})
now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
statuses = ["placed", "paid", "shipped", "cancelled"]
for i in range(200):
    producer.produce("orders.events", json.dumps({
        "order_id": f"demo-{i:05d}", "customer_id": f"customer-{i % 40:03d}",
        "customer_email": f"shopper{i}@example.com", "shipping_address": f"{i} Long Street, Springfield",
        "order_total": round(20 + i * 1.5, 2), "currency": "EUR", "status": statuses[i % 4], "event_time": now}).encode())
producer.produce("orders.events", b'{"order_id": "broken", "order_total": "lots"')
assert producer.flush(30) == 0
print("  produced 200 orders events and 1 malformed one to orders.events")
def keys(prefix):
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return [o["Key"] for p in pages for o in p.get("Contents", [])]
deadline = time.time() + 120
table = catalog().load_table("orders.orders")
while table.current_snapshot() is None or not keys("_rejected/"):
    if time.time() > deadline:
        sys.exit("no commit after 120 s: see kubectl -n orders logs deploy/orders-ingest")
    time.sleep(0.5)
    table = table.refresh()
snapshot = table.current_snapshot()
print(f"  table meshplane.orders.orders at {table.location()}, snapshot {snapshot.snapshot_id}:"
      f" {snapshot.summary.additional_properties.get('meshplane.kafka.offsets')}")
rows = table.scan(limit=4).to_arrow().to_pylist()
for row in rows:
    print(f"  {row['order_id']}  {row['status']:<9} {row['order_total']:>7}  email={row['customer_email'][:20]}…  address={row['shipping_address'][:20]}…")
dead = s3.get_object(Bucket=bucket, Key=sorted(keys("_rejected/"))[0])["Body"].read().decode().splitlines()[0]
print("  dead letter:", json.loads(dead)["reason"])
PY

step "Auditor's question: which products hold personal data under GDPR and keep it over 30 days?"
show kubectl get dataproducts --all-namespaces -l compliance.meshplane.dev/gdpr=true
# The catalog Service, reached from the host as users do: kubectl port-forward.
start demo-port-forward kubectl -n meshplane-system port-forward service/meshplane-controller-catalog 8090:80
until curl -sf http://127.0.0.1:8090/ >/dev/null; do
  running demo-port-forward || { tail -5 .stack/logs/demo-port-forward.log; exit 1; }
  sleep 0.2
done
export MESHPLANE_CATALOG_URL=http://127.0.0.1:8090
show "$bin" impact --pii --compliance gdpr --retention-over 30d

step "An analyst searches the catalog for payment data"
show "$bin" catalog search payment
until [[ $("$bin" catalog show orders/orders -o json 2>/dev/null) == *'"lastEventTime"'* ]]; do
  sleep 0.5
done
show "$bin" catalog show orders/orders
show "$bin" catalog lineage topic:orders.events

step "An analyst's job asks for access to Orders and queries it with psql through the query port"
kubectl create namespace analytics --dry-run=client -o yaml | kubectl apply -f - >/dev/null
kubectl -n analytics create serviceaccount revenue-job --dry-run=client -o yaml | kubectl apply -f - >/dev/null
kubectl -n analytics delete accessrequest revenue-orders --ignore-not-found --wait >/dev/null
# The policy's access rules allow ServiceAccounts up to confidential data: granted at once.
show "$bin" access request revenue-orders -n analytics --product orders/orders \
  --subject ServiceAccount:analytics/revenue-job --purpose "daily revenue report"
until [[ $(kubectl -n analytics get accessrequest revenue-orders -o jsonpath='{.status.phase}') == Granted ]]; do
  sleep 0.5
done
show kubectl -n analytics get accessrequest revenue-orders
start demo-query-forward kubectl -n meshplane-system port-forward service/meshplane-query 15499:5432
until (exec 3<>/dev/tcp/127.0.0.1/15499) 2>/dev/null; do
  running demo-query-forward || { tail -5 .stack/logs/demo-query-forward.log; exit 1; }
  sleep 0.2
done
# The password is the ServiceAccount's token; the PII columns hold masked values.
PGPASSWORD=$(kubectl -n analytics create token revenue-job)
export PGPASSWORD
pg="host=127.0.0.1 port=15499 user=revenue-job dbname=meshplane sslmode=disable"
show psql "$pg" -X -c "SELECT status, count(*) AS orders, sum(order_total) AS total FROM orders.orders GROUP BY status ORDER BY status"
show psql "$pg" -X -c "SELECT order_id, left(customer_email, 16) AS customer_email_masked FROM orders.orders ORDER BY order_id LIMIT 3"
show psql "$pg" -X -c "DELETE FROM orders.orders" || true
show psql "$pg" -X -c "SELECT count(*) FROM payments.payment_failed_events" || true
unset PGPASSWORD

finished=1
step "Done. The catalog is at http://127.0.0.1:8090/ (search, product pages, lineage, compliance, impact)."
echo "The stack and the platform's pods keep running: source .stack/env to explore (kubectl get pods -A);"
echo "make stack-down stops everything."
