#!/usr/bin/env bash
# Benchmark of the admission webhook against the local stack (`make bench-admission`):
#  1. latency at a fixed request rate from a separate load process (open loop), for the
#     validating and the mutating endpoint, with the examples' policies in force;
#  2. what the webhooks add to a `kubectl create` round trip (median of N runs with and
#     without the webhook configurations registered).
set -euo pipefail
cd "$(dirname "$0")/../.."
RATE=${RATE:-500} SECONDS_PER_RUN=${SECONDS_PER_RUN:-20} ROUNDS=${ROUNDS:-30}
ADDR=127.0.0.1:9443
source .stack/env
fixtures=operator/admission/tests/fixtures
bin=target/release/meshplane
load=target/release/examples/admission_load
cargo build -q --release -p meshplane
cargo build -q --release -p meshplane-admission --example admission_load

kubectl apply -f - >/dev/null <<NS
apiVersion: v1
kind: Namespace
metadata: { name: meshplane-system }
---
apiVersion: v1
kind: Namespace
metadata: { name: bench-admission }
NS
log=.stack/logs/bench-webhook.log
"$bin" webhook --listen "$ADDR" --url "https://$ADDR" --namespace meshplane-system >"$log" 2>&1 &
webhook=$!
cleanup() {
  kill "$webhook" 2>/dev/null || true
  wait "$webhook" 2>/dev/null || true
  kubectl delete mutatingwebhookconfiguration,validatingwebhookconfiguration meshplane --ignore-not-found >/dev/null
  kubectl delete namespace bench-admission --wait=false >/dev/null 2>&1 || true
}
trap cleanup EXIT
kubectl apply -f examples/policy.yaml >/dev/null 2>&1 || true
enforced() {
  local out
  out=$(kubectl apply --dry-run=server -f <(sed 's/namespace: orders/namespace: bench-admission/' examples/rejected/pii-over-retention.yaml) 2>&1 || true)
  [[ $out == *"violates governance"* ]]
}
until enforced; do
  kill -0 "$webhook" || { cat "$log"; exit 1; }
  sleep 0.2
  kubectl apply -f examples/policy.yaml >/dev/null 2>&1 || true
done

echo "== webhook latency, $RATE requests/s for ${SECONDS_PER_RUN}s (open loop; the Orders product under the platform policy)"
for endpoint in validate mutate; do
  printf '%-9s ' "$endpoint:"
  "$load" "https://$ADDR/$endpoint/dataproducts" "$fixtures/create-orders.json" "$RATE" "$SECONDS_PER_RUN"
done

product=$(sed 's/namespace: orders/namespace: bench-admission/' examples/orders.yaml)
median_create_ms() {
  local times=()
  for _ in $(seq 1 "$ROUNDS"); do
    local t0 t1
    t0=$(date +%s%N)
    kubectl create -f - <<<"$product" >/dev/null
    t1=$(date +%s%N)
    kubectl -n bench-admission delete dataproduct orders --wait=true >/dev/null
    times+=($(( (t1 - t0) / 1000 )))
  done
  printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {printf "%.1f", a[int((NR+1)/2)]/1000}'
}
with=$(median_create_ms)
kubectl delete mutatingwebhookconfiguration,validatingwebhookconfiguration meshplane >/dev/null
without=$(median_create_ms)
echo "== kubectl create round trip (median of $ROUNDS): with webhooks ${with} ms, without ${without} ms, added $(awk "BEGIN {printf \"%.1f\", $with - $without}") ms"
