#!/usr/bin/env bash
# Shows each component of the local stack as running or stopped, and where its log is.
source "$(dirname "$0")/lib.sh"
status=0
for name in etcd kube-apiserver kube-controller-manager kube-scheduler containerd kubelet kube-proxy kafka seaweedfs postgres kafka-connect trino; do
  if running "$name"; then
    printf '  %-24s running  (pid %s)  %s\n' "$name" "$(pid_of "$name")" "$LOG_DIR/$name.log"
  else
    printf '  %-24s stopped  %s\n' "$name" "$LOG_DIR/$name.log"
    # PostgreSQL and Kafka Connect run only for CDC tests (e2e/stack/cdc-up.sh), Trino
    # only when started (e2e/stack/trino.sh).
    [[ $name == postgres || $name == kafka-connect || $name == trino ]] || status=1
  fi
done
[[ -f "$ENV_FILE" ]] && echo "  env: source $ENV_FILE"
exit $status
