#!/usr/bin/env bash
# Stops every component of the local stack and checks that no process is left behind.
# Data stays in the state directory; `make stack-clean` removes it.
source "$(dirname "$0")/lib.sh"
# shellcheck source=node.sh
source "$STACK_DIR/node.sh"
if running demo-webhook; then
  # The demo's webhook configurations would refuse every DataProduct once it is gone.
  kubectl --kubeconfig "$KUBECONFIG_FILE" delete mutatingwebhookconfiguration,validatingwebhookconfiguration meshplane \
    --ignore-not-found >/dev/null 2>&1 || true
fi
for name in demo-port-forward demo-ingest-orders demo-controller demo-webhook; do
  if running "$name"; then log "stopping $name"; fi
  stop "$name"
done
down_node
for name in trino-governed trino kafka-connect postgres seaweedfs kafka kube-controller-manager kube-apiserver etcd; do
  if running "$name"; then log "stopping $name"; fi
  stop "$name"
done
left=$(pgrep -f "$STATE_DIR" || true)
if [[ -n "$left" ]]; then
  die "processes still running from $STATE_DIR: $left"
fi
log "stack down"
