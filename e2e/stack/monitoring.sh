#!/usr/bin/env bash
# The cluster's monitoring, as a platform team runs it: prometheus-operator, one
# Prometheus selecting every ServiceMonitor and PrometheusRule in the cluster, and one
# Alertmanager, all pods in the `monitoring` namespace, from images built here.
#   monitoring.sh build              the binaries (cached by version); promtool too
#   monitoring.sh up [RECEIVER_URL]  images, CRDs, operator, Prometheus and Alertmanager;
#                                    alerts whose `support` label names a team go to
#                                    RECEIVER_URL/<team> (a webhook receiver)
#   monitoring.sh down               removes all of it (the CRDs stay)
source "$(dirname "$0")/lib.sh"

build() {
  # Only the Kubernetes service discovery is compiled in: ServiceMonitors need no other.
  GO_BUILD_TAGS=remove_all_sd,enable_kubernetes_sd "$STACK_DIR/build-gomodule.sh" prometheus \
    github.com/prometheus/prometheus "$PROMETHEUS_VERSION" \
    "github.com/prometheus/prometheus/cmd/prometheus github.com/prometheus/prometheus/cmd/promtool"
  "$STACK_DIR/build-gomodule.sh" alertmanager github.com/prometheus/alertmanager "$ALERTMANAGER_VERSION" \
    github.com/prometheus/alertmanager/cmd/alertmanager
  "$STACK_DIR/build-gomodule.sh" prometheus-operator github.com/prometheus-operator/prometheus-operator \
    "$PROMETHEUS_OPERATOR_VERSION" \
    "github.com/prometheus-operator/prometheus-operator/cmd/operator github.com/prometheus-operator/prometheus-operator/cmd/prometheus-config-reloader"
}

# The prometheus-operator module: its CRDs and ClusterRoles are applied as upstream ships them.
operator_module() {
  local dir
  dir=$(cd "$CACHE_DIR" && go mod download -json "github.com/prometheus-operator/prometheus-operator@$PROMETHEUS_OPERATOR_VERSION" \
    | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
  [[ -d "$dir" ]] || die "could not fetch prometheus-operator $PROMETHEUS_OPERATOR_VERSION from the Go module proxy"
  echo "$dir"
}

up() {
  local routes=${1:-}
  [[ -f $ENV_FILE ]] || die "the stack is not up: run make stack-up"
  source "$STACK_DIR/node-env.sh"
  local kubectl=("$KUBE_BIN/kubectl" --kubeconfig "$KUBECONFIG_FILE")
  build
  "$STACK_DIR/images.sh" monitoring
  local module; module=$(operator_module)
  log "installing prometheus-operator $PROMETHEUS_OPERATOR_VERSION, Prometheus $PROMETHEUS_RELEASE and Alertmanager $ALERTMANAGER_VERSION"
  "${kubectl[@]}" apply --server-side --force-conflicts -f "$module/example/prometheus-operator-crd/" \
    >>"$LOG_DIR/monitoring.log" 2>&1 || die "installing prometheus-operator's CRDs failed; see $LOG_DIR/monitoring.log"
  "${kubectl[@]}" wait --for condition=Established --timeout 60s crd --all >>"$LOG_DIR/monitoring.log" 2>&1 \
    || die "prometheus-operator's CRDs did not become Established; see $LOG_DIR/monitoring.log"
  "${kubectl[@]}" apply --server-side --force-conflicts \
    -f "$module/example/rbac/prometheus-operator/prometheus-operator-cluster-role.yaml" \
    -f "$module/example/rbac/prometheus/prometheus-cluster-role.yaml" >>"$LOG_DIR/monitoring.log" 2>&1 \
    || die "applying prometheus-operator's ClusterRoles failed; see $LOG_DIR/monitoring.log"
  local rendered="$STATE_DIR/monitoring.yaml"
  sed -e "s|@PROMETHEUS_OPERATOR_IMAGE@|$PROMETHEUS_OPERATOR_IMAGE|g" -e "s|@CONFIG_RELOADER_IMAGE@|$CONFIG_RELOADER_IMAGE|g" \
    -e "s|@PROMETHEUS_IMAGE@|$PROMETHEUS_IMAGE|g" -e "s|@PROMETHEUS_RELEASE@|$PROMETHEUS_RELEASE|g" \
    -e "s|@ALERTMANAGER_IMAGE@|$ALERTMANAGER_IMAGE|g" -e "s|@ALERTMANAGER_VERSION@|$ALERTMANAGER_VERSION|g" \
    "$STACK_DIR/monitoring/monitoring.yaml" > "$rendered"
  # Objects in a namespace created by the same apply can be refused until admission sees it.
  wait_for kube-apiserver 60 "${kubectl[@]}" apply --server-side --force-conflicts -f "$rendered"
  if [[ -n $routes ]]; then
    "${kubectl[@]}" -n monitoring create secret generic alertmanager-routes --from-file=alertmanager.yaml="$routes" \
      --dry-run=client -o yaml | "${kubectl[@]}" apply -f - >>"$LOG_DIR/monitoring.log" 2>&1 \
      || die "writing the Alertmanager routes from $routes failed; see $LOG_DIR/monitoring.log"
  fi
  "${kubectl[@]}" -n monitoring rollout status deployment/prometheus-operator --timeout 180s >>"$LOG_DIR/monitoring.log" 2>&1 \
    || die "prometheus-operator did not become available; see kubectl -n monitoring logs deploy/prometheus-operator"
  local set
  for set in prometheus-meshplane alertmanager-meshplane; do
    wait_for kube-apiserver 120 "${kubectl[@]}" -n monitoring get statefulset "$set"
    "${kubectl[@]}" -n monitoring rollout status "statefulset/$set" --timeout 180s >>"$LOG_DIR/monitoring.log" 2>&1 \
      || die "statefulset $set did not become ready; see kubectl -n monitoring describe pods"
  done
  log "monitoring up: Prometheus at kubectl get --raw /api/v1/namespaces/monitoring/services/prometheus-operated:9090/proxy/api/v1/targets"
}

down() {
  [[ -f $ENV_FILE ]] || return 0
  local kubectl=("$KUBE_BIN/kubectl" --kubeconfig "$KUBECONFIG_FILE")
  "${kubectl[@]}" get namespace monitoring >/dev/null 2>&1 || return 0
  log "removing the monitoring namespace"
  # The custom resources first, while the operator still runs to let their StatefulSets go.
  "${kubectl[@]}" -n monitoring delete prometheus,alertmanager --all --wait --timeout 60s >/dev/null 2>&1 || true
  "${kubectl[@]}" delete namespace monitoring --wait --timeout 120s >/dev/null 2>&1 \
    || die "the monitoring namespace was not removed within 120 s"
}

case "${1:-}" in
  build) build ;;
  up) shift; up "$@" ;;
  down) down ;;
  *) die "usage: monitoring.sh build | up [RECEIVER_URL] | down" ;;
esac
