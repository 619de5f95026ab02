#!/usr/bin/env bash
# The Meshplane story on the local stack: the platform team's policy goes in, domains
# apply their products with kubectl, the API server (through Meshplane's admission
# webhook) masks PII and tags compliance by default, and rejects what breaks the rules
# with the reason. The same decision is available offline for GitOps CI.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$PWD/target/release/meshplane
step() { printf '\n\033[1;34m==> %s\033[0m\n' "$*"; }
show() { printf '\033[2m$ %s\033[0m\n' "$*"; "$@"; }

step "Starting the local platform stack (Kubernetes API, Kafka, S3)"
bash e2e/stack/up.sh
source .stack/env
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

step "Starting the admission webhook (governance enforced by the API server) and the controller"
log=.stack/logs/demo-webhook.log
"$bin" webhook --listen 127.0.0.1:9443 --url https://127.0.0.1:9443 >"$log" 2>&1 &
webhook=$!
MESHPLANE_WORKER_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID MESHPLANE_WORKER_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY \
  "$bin" controller --topic-mode direct --kafka-bootstrap "$MESHPLANE_KAFKA_BOOTSTRAP" --topic-replicas 1 \
  --lease-namespace meshplane-system --metrics-addr 127.0.0.1:18090 >.stack/logs/demo-controller.log 2>&1 &
controller=$!
cleanup() {
  kill "$webhook" "$controller" 2>/dev/null || true
  wait "$webhook" "$controller" 2>/dev/null || true
  kubectl delete mutatingwebhookconfiguration,validatingwebhookconfiguration meshplane --ignore-not-found >/dev/null 2>&1 || true
}
trap cleanup EXIT
until kubectl get validatingwebhookconfiguration meshplane >/dev/null 2>&1; do
  kill -0 "$webhook" 2>/dev/null || { cat "$log"; exit 1; }
  sleep 0.2
done

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

step "The controller provisions each product: bucket, workload, access, monitoring"
for ns in orders payments customers finance; do
  show kubectl -n "$ns" wait --for=condition=Ready --timeout=120s dataproduct --all
done
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

step "Auditor's question: which products hold personal data under GDPR?"
show kubectl get dataproducts --all-namespaces -l compliance.meshplane.dev/gdpr=true

step "Done. The stack keeps running: source .stack/env to explore; make stack-down to stop it."
