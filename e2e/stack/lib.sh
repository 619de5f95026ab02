# Shared settings for the local stack scripts. Sourced, never run.
set -euo pipefail
STACK_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
source "$STACK_DIR/versions.env"
CACHE_DIR="${MESHPLANE_CACHE:-$HOME/.cache/meshplane}"
BIN_DIR="$CACHE_DIR/bin"
REPO_DIR="$(cd "$STACK_DIR/../.." && pwd)"
# Runtime state (certificates, data, pids, logs) lives beside the checkout; builds are cached.
STATE_DIR="${MESHPLANE_STACK_DIR:-$REPO_DIR/.stack}"
LOG_DIR="$STATE_DIR/logs"
mkdir -p "$BIN_DIR" "$STATE_DIR" "$LOG_DIR"
export GOFLAGS=-mod=mod
export GOTOOLCHAIN=local
# The node's tools (runc, iptables, sysctl, ip) live in the system directories.
export PATH="$PATH:/usr/sbin:/sbin"

log() { printf '\033[1m[stack]\033[0m %s\n' "$*" >&2; }
die() { printf '\033[31m[stack] error:\033[0m %s\n' "$*" >&2; exit 1; }
need() { command -v "$1" >/dev/null 2>&1 || die "$1 is required ($2) but was not found on PATH"; }

# A one-off build's Go module and build caches (gigabytes for Kubernetes) are of no use
# once its binary is cached in $BIN_DIR: keep them under the build directory, delete them
# when the script ends.
private_go_caches() {
  export GOCACHE="$1/.gocache" GOMODCACHE="$1/.gomodcache" GOFLAGS="-mod=mod -modcacherw"
  trap 'rm -rf "$GOCACHE" "$GOMODCACHE"' EXIT
}

# Loopback ports of every component. Override any of them in the environment.
: "${ETCD_PORT:=12379}" "${ETCD_PEER_PORT:=12380}"
: "${APISERVER_PORT:=16443}" "${KCM_PORT:=20257}"
: "${KAFKA_PORT:=19092}" "${KAFKA_CONTROLLER_PORT:=19093}"
: "${POSTGRES_PORT:=15432}" "${CONNECT_PORT:=18083}" "${TRINO_PORT:=18580}"
: "${WEED_MASTER_PORT:=19333}" "${WEED_VOLUME_PORT:=18080}" "${WEED_FILER_PORT:=18888}" "${S3_PORT:=18333}"
S3_ACCESS_KEY=meshplane
S3_SECRET_KEY=meshplane-local-secret

KUBE_BIN="$BIN_DIR/kubernetes-$KUBERNETES_VERSION"
ETCD_BIN="$BIN_DIR/etcd-$ETCD_VERSION"
WEED_BIN="$BIN_DIR/weed-$SEAWEEDFS_VERSION"
PROMTOOL_BIN="$BIN_DIR/promtool-$PROMETHEUS_VERSION"
PROMETHEUS_BIN="$BIN_DIR/prometheus-$PROMETHEUS_VERSION"
ALERTMANAGER_BIN="$BIN_DIR/alertmanager-$ALERTMANAGER_VERSION"
PROMETHEUS_OPERATOR_BIN="$BIN_DIR/operator-$PROMETHEUS_OPERATOR_VERSION"
CONFIG_RELOADER_BIN="$BIN_DIR/prometheus-config-reloader-$PROMETHEUS_OPERATOR_VERSION"
# Bump the -rN suffix when the classpath's pom changes.
KAFKA_HOME="$BIN_DIR/kafka-$KAFKA_VERSION-r3"
DEBEZIUM_HOME="$BIN_DIR/debezium-postgres-$DEBEZIUM_VERSION"
TRINO_HOME="$BIN_DIR/trino-$TRINO_VERSION"
PID_DIR="$STATE_DIR/pids"
PKI_DIR="$STATE_DIR/pki"
ENV_FILE="$STATE_DIR/env"
KUBECONFIG_FILE="$STATE_DIR/admin.kubeconfig"
mkdir -p "$PID_DIR" "$PKI_DIR"

pid_of() { [[ -f "$PID_DIR/$1.pid" ]] && cat "$PID_DIR/$1.pid"; }
running() { local pid; pid=$(pid_of "$1") && [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# start NAME CMD...: runs CMD in its own session (so stopping it stops its children),
# output to $LOG_DIR/NAME.log, pid in $PID_DIR/NAME.pid.
start() {
  local name=$1; shift
  setsid "$@" >>"$LOG_DIR/$name.log" 2>&1 < /dev/null &
  echo $! > "$PID_DIR/$name.pid"
}

# wait_for NAME SECONDS CHECK...: polls CHECK until it succeeds, the process dies, or time runs out.
wait_for() {
  local name=$1 limit=$2; shift 2
  local deadline=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    running "$name" || die "$name exited while starting; see $LOG_DIR/$name.log: $(tail -n 5 "$LOG_DIR/$name.log" 2>/dev/null | tr '\n' ' ')"
    (( SECONDS < deadline )) || die "$name did not become healthy within ${limit}s; see $LOG_DIR/$name.log"
    sleep 0.2
  done
}

# stop NAME: TERM the process group, then KILL what is left after 15 s.
stop() {
  local name=$1 pid
  pid=$(pid_of "$name") || return 0
  if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 75); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL -- "-$pid" 2>/dev/null || true
  fi
  rm -f "$PID_DIR/$name.pid"
}
