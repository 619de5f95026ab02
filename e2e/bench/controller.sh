#!/usr/bin/env bash
# Benchmark of the controller against the local stack (`make bench-controller`): time from
# create to Ready=True (the watch event that shows it), p50/p99, for one product at a time
# and for 100 created at once. Ready includes the product's ingestion worker pod being
# available on the node (image already imported). Then CPU and memory of every platform
# component, the worker pods included. Topics in direct mode (Kafka admin API), buckets on
# SeaweedFS, no admission webhook; the controller runs on the host, its workers in pods.
set -euo pipefail
cd "$(dirname "$0")/../.."
CONCURRENCY=${CONCURRENCY:-32} SINGLE=${SINGLE:-20} BURST=${BURST:-100} TOTAL=${TOTAL:-120}
source .stack/env
cargo build -q --release -p meshplane
bash e2e/stack/images.sh meshplane
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
if (( remaining > 0 )); then
  echo "== $remaining more, $TOTAL products in all"
  "$bench" "$rest" "$template" "$remaining" 50
fi
pods=$(kubectl get pods -A -l app.kubernetes.io/name=meshplane-ingest --field-selector status.phase=Running -o name | wc -l)
echo "== CPU seconds since start and resident memory of every component ($TOTAL products, $pods worker pods running)"
ticks=$(getconf CLK_TCK)
usage() { # usage NAME PID
  awk -v t="$ticks" -v n="$1" '{printf "  %-24s %7.1f CPU s", n, ($14 + $15) / t}' "/proc/$2/stat"
  awk '/^VmRSS/ {printf "  %6d MiB\n", $2 / 1024}' "/proc/$2/status"
}
usage "controller" "$controller"
for name in etcd kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy containerd kafka seaweedfs; do
  pid=$(cat ".stack/pids/$name.pid" 2>/dev/null || true)
  [[ -n $pid && -d /proc/$pid ]] && usage "$name" "$pid"
done
# Everything in pods (worker pods, CoreDNS, their shims excluded) from the kubepods cgroups.
pods_cpu=$(awk '{printf "%.1f", $1 / 1e9}' /sys/fs/cgroup/cpuacct/kubepods/cpuacct.usage)
pods_mem=$(( $(cat /sys/fs/cgroup/memory/kubepods/memory.usage_in_bytes) / 1048576 ))
printf '  %-24s %7s CPU s  %6d MiB (cgroup usage, page cache included)\n' "all pods" "$pods_cpu" "$pods_mem"
echo "(namespaces $single $burst $rest are left in place; make stack-clean removes everything)"
