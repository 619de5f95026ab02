#!/usr/bin/env bash
# Installs the platform into the local cluster with helm, as a platform team would:
#   platform.sh install [HELM FLAGS...]   helm upgrade --install, waits for the pods
#   platform.sh uninstall                 helm uninstall, waits until the pods are gone
# The chart is configured for the local stack: the image imported by `images.sh
# meshplane`, Kafka and S3 through the platform namespace's Services, topics through the
# Kafka admin API (no Strimzi here), one replica per topic.
source "$(dirname "$0")/lib.sh"
source "$STACK_DIR/node-env.sh"
[[ -f $ENV_FILE ]] || die "the stack is not up: run make stack-up"
source "$ENV_FILE"
PLATFORM_NAMESPACE=${MESHPLANE_PLATFORM_NAMESPACE:-meshplane-system}
kubectl=("$KUBE_BIN/kubectl" --kubeconfig "$KUBECONFIG_FILE")
helm=("$MESHPLANE_HELM" --kubeconfig "$KUBECONFIG_FILE")

install() {
  "${kubectl[@]}" create namespace "$PLATFORM_NAMESPACE" --dry-run=client -o yaml | "${kubectl[@]}" apply -f - >/dev/null
  # The S3 key pair the platform team gives the chart (here: the local SeaweedFS's).
  "${kubectl[@]}" -n "$PLATFORM_NAMESPACE" create secret generic meshplane-s3 \
    --from-literal=access-key-id="$AWS_ACCESS_KEY_ID" --from-literal=secret-access-key="$AWS_SECRET_ACCESS_KEY" \
    --dry-run=client -o yaml | "${kubectl[@]}" apply -f - >/dev/null
  # The Iceberg catalog's database, as pods reach it (the platform/postgres Service).
  "${kubectl[@]}" -n "$PLATFORM_NAMESPACE" create secret generic meshplane-catalog \
    --from-literal=uri="postgresql://meshplane:meshplane@postgres.platform.svc.cluster.local:5432/iceberg" \
    --dry-run=client -o yaml | "${kubectl[@]}" apply -f - >/dev/null
  local before=0
  "${helm[@]}" status meshplane --namespace "$PLATFORM_NAMESPACE" >/dev/null 2>&1 && before=1
  "${helm[@]}" upgrade --install meshplane "$REPO_DIR/charts/meshplane" --namespace "$PLATFORM_NAMESPACE" \
    --set image.repository="${MESHPLANE_IMAGE%:*}" --set image.tag="${MESHPLANE_IMAGE##*:}" --set image.pullPolicy=Never \
    --set controller.kafka.topicMode=direct --set controller.kafka.topicReplicas=1 \
    --set controller.kafka.bootstrapServers=kafka.platform.svc.cluster.local:9092 \
    --set controller.s3.endpoint=http://s3.platform.svc.cluster.local:8333 \
    --set controller.s3.iamEndpoint=http://s3.platform.svc.cluster.local:8333 \
    --set controller.workerResources.requests.cpu="$MESHPLANE_WORKER_CPU_REQUEST" \
    --set controller.workerResources.requests.memory="$MESHPLANE_WORKER_MEMORY_REQUEST" \
    --wait --timeout 5m "$@" || die "helm install failed"
  if [[ $before == 1 ]]; then
    # The image tag is reused: pods of an earlier install still run the image as it was.
    "${kubectl[@]}" -n "$PLATFORM_NAMESPACE" rollout restart deployment/meshplane-controller deployment/meshplane-webhook deployment/meshplane-query >/dev/null
    "${kubectl[@]}" -n "$PLATFORM_NAMESPACE" rollout status deployment/meshplane-webhook --timeout 3m >/dev/null
    "${kubectl[@]}" -n "$PLATFORM_NAMESPACE" rollout status deployment/meshplane-controller --timeout 3m >/dev/null
    "${kubectl[@]}" -n "$PLATFORM_NAMESPACE" rollout status deployment/meshplane-query --timeout 3m >/dev/null
  fi
  wait_for kube-apiserver 60 "${kubectl[@]}" get validatingwebhookconfiguration meshplane
  # Ready pods are not yet a reachable Service: the EndpointSlice and kube-proxy's rules
  # follow a moment later, and after a rollout the API server may still hold connections
  # to the replaced pods. Wait until the API server calls both webhooks several times in
  # a row (an allowed or a denied dry run proves it answered).
  local passes=0 deadline=$((SECONDS + 120))
  until (( passes >= 3 )); do
    if webhooks_answer; then passes=$((passes + 1)); else passes=0; fi
    (( SECONDS < deadline )) || die "the API server could not call the webhook through its Service within 120 s"
    sleep 0.5
  done
}

# webhooks_answer: server-side dry runs of a GovernancePolicy and of a DataProduct reached
# the validating and the mutating webhook.
webhooks_answer() {
  local out
  out=$("${kubectl[@]}" create --dry-run=server -o name -f - 2>&1 <<'YAML'
apiVersion: meshplane.dev/v1alpha1
kind: GovernancePolicy
metadata:
  name: meshplane-webhook-reachability-probe
spec: {}
YAML
  ) || [[ $out == *"denied the request"* ]] || return 1
  # (In `default`: the webhooks leave the platform's own namespace alone.)
  out=$("${kubectl[@]}" -n default create --dry-run=server -o name -f - 2>&1 <<'YAML'
apiVersion: meshplane.dev/v1alpha1
kind: DataProduct
metadata:
  name: webhook-reachability-probe
spec: {}
YAML
  )
  [[ $out == *"denied the request"* ]]
}

uninstall() {
  "${helm[@]}" status meshplane --namespace "$PLATFORM_NAMESPACE" >/dev/null 2>&1 || return 0
  log "uninstalling the platform release from $PLATFORM_NAMESPACE"
  "${helm[@]}" uninstall meshplane --namespace "$PLATFORM_NAMESPACE" --wait --timeout 3m >/dev/null \
    || die "helm uninstall failed"
  # The webhook's configurations are owned by its ClusterRole: gone with the release.
  "${kubectl[@]}" wait --for=delete validatingwebhookconfiguration/meshplane mutatingwebhookconfiguration/meshplane \
    --timeout 60s >/dev/null 2>&1 || true
}

case "${1:-}" in
  install) shift; install "$@" ;;
  uninstall) uninstall ;;
  *) die "usage: platform.sh install [helm flags...] | uninstall" ;;
esac
