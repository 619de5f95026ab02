#!/usr/bin/env bash
# Benchmark of the controller against the local stack (`make bench-controller`): time from
# create to Ready=True (the watch event that shows it), p50/p99, for one product at a time
# and for 500 created at once; then the controller's resident memory with 1,000 products.
# Topics in direct mode (Kafka admin API), buckets on SeaweedFS, no admission webhook.
set -euo pipefail
cd "$(dirname "$0")/../.."
CONCURRENCY=${CONCURRENCY:-32} SINGLE=${SINGLE:-20} BURST=${BURST:-500} TOTAL=${TOTAL:-1000}
source .stack/env
cargo build -q --release -p meshplane
cargo build -q --release -p meshplane-controller --example ready_bench
bench=target/release/examples/ready_bench
run=$(date +%s)
single=bench-one-$run burst=bench-burst-$run rest=bench-rest-$run
for ns in "$single" "$burst" "$rest"; do kubectl create namespace "$ns" >/dev/null; done
kubectl apply -f examples/policy.yaml >/dev/null
template=$(mktemp --suffix=.yaml)
sed 's/name: orders$/name: p/' examples/orders.yaml >"$template"

log=.stack/logs/bench-controller.log
MESHPLANE_WORKER_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID MESHPLANE_WORKER_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY \
  target/release/meshplane controller --topic-mode direct --kafka-bootstrap "$MESHPLANE_KAFKA_BOOTSTRAP" \
  --topic-replicas 1 --concurrency "$CONCURRENCY" --lease-name "bench-$run" --lease-seconds 6 \
  --metrics-addr 127.0.0.1:18097 >"$log" 2>&1 &
controller=$!
cleanup() {
  kill "$controller" 2>/dev/null || true
  wait "$controller" 2>/dev/null || true
  rm -f "$template"
}
trap cleanup EXIT
until grep -q "controller running" "$log"; do kill -0 "$controller" || { cat "$log"; exit 1; }; sleep 0.2; done

echo "== one product at a time ($SINGLE products, 2 s apart), controller concurrency $CONCURRENCY"
"$bench" "$single" "$template" "$SINGLE" 1 2000
echo "== $BURST products created at once (50 parallel creates)"
"$bench" "$burst" "$template" "$BURST" 50
remaining=$(( TOTAL - SINGLE - BURST ))
echo "== $remaining more, $TOTAL products in all"
"$bench" "$rest" "$template" "$remaining" 50
rss_kib=$(awk '/^VmRSS/ {print $2}' "/proc/$controller/status")
hwm_kib=$(awk '/^VmHWM/ {print $2}' "/proc/$controller/status")
echo "== controller memory with $TOTAL products: RSS $(( rss_kib / 1024 )) MiB (peak $(( hwm_kib / 1024 )) MiB)"
ticks=$(getconf CLK_TCK)
cpu() { awk -v t="$ticks" '{printf "%.1f", ($14 + $15) / t}' "/proc/$1/stat"; }
echo "== CPU seconds used during the run: controller $(cpu "$controller")$(for p in $(pgrep -f kube-apiserver) ; do printf ', kube-apiserver %s' "$(cpu "$p")"; done)$(for p in $(pgrep -f 'kafka.Kafka') ; do printf ', kafka %s' "$(cpu "$p")"; done)$(for p in $(pgrep -f '^[^ ]*etcd') ; do printf ', etcd %s' "$(cpu "$p")"; done)"
echo "(namespaces $single $burst $rest are left in place; make stack-clean removes everything)"
