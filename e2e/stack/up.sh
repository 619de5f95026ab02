#!/usr/bin/env bash
# Starts the local platform stack: etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, a node that runs pods (containerd, kubelet, kube-proxy, CoreDNS; see
# node.sh), Kafka (KRaft) and SeaweedFS (S3). Builds what is missing first (cached by
# version). Safe to run twice; a half-started stack is cleaned up.
source "$(dirname "$0")/lib.sh"
started_at=$SECONDS

build() {
  local t0=$SECONDS
  "$STACK_DIR/build-kubernetes.sh"
  "$STACK_DIR/build-gomodule.sh" etcd go.etcd.io/etcd/server/v3 "$ETCD_VERSION" go.etcd.io/etcd/server/v3
  "$STACK_DIR/build-gomodule.sh" weed github.com/seaweedfs/seaweedfs "$SEAWEEDFS_VERSION" github.com/seaweedfs/seaweedfs/weed
  "$STACK_DIR/build-kafka.sh"
  "$STACK_DIR/build-gomodule.sh" helm helm.sh/helm/v3 "$HELM_VERSION" helm.sh/helm/v3/cmd/helm
  "$STACK_DIR/build-gomodule.sh" coredns github.com/coredns/coredns "$COREDNS_VERSION" github.com/coredns/coredns
  "$STACK_DIR/monitoring.sh" build
  node_packages
  "$STACK_DIR/pki.sh"
  (( SECONDS - t0 > 5 )) && log "builds finished in $((SECONDS - t0)) s"
  return 0
}

# ensure NAME PORT...: leaves a healthy running component alone; otherwise clears its
# remains and checks its ports are free. Returns 1 when it is already running.
ensure() {
  local name=$1; shift
  if running "$name"; then return 1; fi
  stop "$name"
  local port
  for port in "$@"; do
    port_open "$port" && die "port $port (for $name) is in use by another process; free it or set the port variable (see e2e/stack/lib.sh)"
  done
  : > "$LOG_DIR/$name.log"
  return 0
}

kubeconfig() { # kubeconfig FILE USER
  cat > "$1" <<KC
apiVersion: v1
kind: Config
clusters:
- name: local
  cluster:
    server: https://127.0.0.1:$APISERVER_PORT
    certificate-authority: $PKI_DIR/ca.crt
users:
- name: $2
  user:
    client-certificate: $PKI_DIR/$2.crt
    client-key: $PKI_DIR/$2.key
contexts:
- name: local
  context: { cluster: local, user: $2 }
current-context: local
KC
}

# shellcheck source=node.sh
source "$STACK_DIR/node.sh"

up_etcd() {
  ensure etcd "$ETCD_PORT" "$ETCD_PEER_PORT" || return 0
  log "starting etcd $ETCD_VERSION on 127.0.0.1:$ETCD_PORT"
  start etcd "$ETCD_BIN" --name meshplane --data-dir "$STATE_DIR/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "meshplane=http://127.0.0.1:$ETCD_PEER_PORT" --unsafe-no-fsync=true --log-level warn
  wait_for etcd 60 curl -sf "http://127.0.0.1:$ETCD_PORT/health"
}

up_apiserver() {
  ensure kube-apiserver "$APISERVER_PORT" || return 0
  log "starting kube-apiserver $KUBERNETES_VERSION on 127.0.0.1:$APISERVER_PORT (pods: $NODE_IP)"
  # Listens beyond loopback so that pods reach it through the `kubernetes` Service.
  start kube-apiserver "$KUBE_BIN/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$ETCD_PORT" --bind-address 0.0.0.0 --advertise-address "$NODE_IP" \
    --secure-port "$APISERVER_PORT" --cert-dir "$PKI_DIR" \
    --tls-cert-file "$PKI_DIR/apiserver.crt" --tls-private-key-file "$PKI_DIR/apiserver.key" \
    --client-ca-file "$PKI_DIR/ca.crt" --service-cluster-ip-range 10.0.0.0/24 --allow-privileged=true \
    --authorization-mode Node,RBAC --enable-admission-plugins NodeRestriction \
    --kubelet-client-certificate "$PKI_DIR/apiserver-kubelet.crt" --kubelet-client-key "$PKI_DIR/apiserver-kubelet.key" \
    --kubelet-preferred-address-types InternalIP --service-account-issuer https://kubernetes.default.svc \
    --service-account-key-file "$PKI_DIR/sa.pub" --service-account-signing-key-file "$PKI_DIR/sa.key" \
    --enable-priority-and-fairness=false --v=1
  kubeconfig "$KUBECONFIG_FILE" admin
  wait_for kube-apiserver 120 "$KUBE_BIN/kubectl" --kubeconfig "$KUBECONFIG_FILE" get --raw /readyz
}

up_controller_manager() {
  ensure kube-controller-manager "$KCM_PORT" || return 0
  log "starting kube-controller-manager (garbage collector, deployments, namespaces, node lifecycle)"
  kubeconfig "$STATE_DIR/kcm.kubeconfig" kcm
  start kube-controller-manager "$KUBE_BIN/kube-controller-manager" \
    --kubeconfig "$STATE_DIR/kcm.kubeconfig" --authentication-kubeconfig "$STATE_DIR/kcm.kubeconfig" \
    --authorization-kubeconfig "$STATE_DIR/kcm.kubeconfig" --leader-elect=false \
    --use-service-account-credentials=true \
    --bind-address 127.0.0.1 --secure-port "$KCM_PORT" \
    --service-account-private-key-file "$PKI_DIR/sa.key" --root-ca-file "$PKI_DIR/ca.crt" \
    --controllers '*,-nodeipam,-cloud-node-lifecycle,-service-lb-controller,-node-route-controller' \
    --v=1
  wait_for kube-controller-manager 60 curl -skf "https://127.0.0.1:$KCM_PORT/healthz"
}

up_kafka() {
  ensure kafka "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT" || return 0
  log "starting Apache Kafka $KAFKA_VERSION (KRaft) on 127.0.0.1:$KAFKA_PORT and $NODE_IP:$KAFKA_POD_PORT"
  local dir="$STATE_DIR/kafka"
  mkdir -p "$dir"
  cat > "$dir/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CLUSTER://$NODE_IP:$KAFKA_POD_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CLUSTER://$NODE_IP:$KAFKA_POD_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CLUSTER:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$dir/data
num.partitions=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
PROPS
  cat > "$dir/log4j2.properties" <<'L4J'
rootLogger.level=WARN
rootLogger.appenderRef.stdout.ref=STDOUT
appender.stdout.type=Console
appender.stdout.name=STDOUT
appender.stdout.layout.type=PatternLayout
appender.stdout.layout.pattern=[%d] %p %m (%c)%n
logger.kafka.name=kafka.server.KafkaServer
logger.kafka.level=INFO
L4J
  local java_opts=(-Xms256m -Xmx1g -Dlog4j2.configurationFile="$dir/log4j2.properties" -cp "$KAFKA_HOME/libs/*")
  if [[ ! -f "$dir/data/meta.properties" ]]; then
    java "${java_opts[@]}" kafka.tools.StorageTool format --standalone \
      -t "$(java "${java_opts[@]}" kafka.tools.StorageTool random-uuid)" -c "$dir/server.properties" \
      >>"$LOG_DIR/kafka.log" 2>&1 || die "formatting Kafka storage failed; see $LOG_DIR/kafka.log"
  fi
  start kafka java "${java_opts[@]}" kafka.Kafka "$dir/server.properties"
  wait_for kafka 120 port_open "$KAFKA_PORT"
}

up_seaweedfs() {
  ensure seaweedfs "$S3_PORT" "$WEED_MASTER_PORT" "$WEED_VOLUME_PORT" "$WEED_FILER_PORT" || return 0
  log "starting SeaweedFS (S3 on port $S3_PORT of 127.0.0.1 and $NODE_IP)"
  local dir="$STATE_DIR/seaweedfs"
  mkdir -p "$dir/data"
  cat > "$dir/s3.json" <<JSON
{"identities": [{"name": "meshplane", "credentials": [{"accessKey": "$S3_ACCESS_KEY", "secretKey": "$S3_SECRET_KEY"}],
  "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}
JSON
  # The IAM API on the S3 port is writable (-s3.iam.readOnly=false): the controller issues
  # each access grant its own read-only user there.
  # SSE-S3 needs a key-encryption key; keep it with the data so restarts can decrypt.
  [[ -s "$dir/sse_kek" ]] || openssl rand -hex 32 > "$dir/sse_kek"
  [[ -s "$dir/kek_passphrase" ]] || openssl rand -hex 32 > "$dir/kek_passphrase"
  # Every bucket is a collection; grow it one volume at a time, not seven, so hundreds of
  # test buckets fit (volumes are sparse files: a high cap costs no disk).
  WEED_MASTER_VOLUME_GROWTH_COPY_1=1 WEED_S3_SSE_KEK=$(cat "$dir/sse_kek") WEED_S3_SSE_KEK_PASSPHRASE=$(cat "$dir/kek_passphrase") \
  start seaweedfs "$WEED_BIN" server -ip 127.0.0.1 -ip.bind 0.0.0.0 -dir "$dir/data" \
    -master.port "$WEED_MASTER_PORT" -master.telemetry=false -master.volumeSizeLimitMB 64 \
    -volume.port "$WEED_VOLUME_PORT" -volume.max 1000 \
    -filer -filer.port "$WEED_FILER_PORT" \
    -s3 -s3.port "$S3_PORT" -s3.config "$dir/s3.json" -s3.port.iceberg 0 -s3.port.lance 0 \
    -s3.iam.readOnly=false
  wait_for seaweedfs 90 curl -s -o /dev/null -w '%{http_code}' --fail-with-body "http://127.0.0.1:$S3_PORT/healthz"
}

write_env() {
  cat > "$ENV_FILE" <<ENV
# Written by e2e/stack/up.sh: source it to talk to the local stack.
export KUBECONFIG=$KUBECONFIG_FILE
export PATH=$KUBE_BIN:\$PATH
# Kafka and S3 at the node's address: the same for host processes and for pods (whose
# plans a controller on the host writes). In pods, platform/kafka and platform/s3 too.
export MESHPLANE_KAFKA_BOOTSTRAP=$NODE_IP:$KAFKA_POD_PORT
export MESHPLANE_S3_ENDPOINT=http://$NODE_IP:$S3_PORT
export MESHPLANE_KAFKA_LOOPBACK=127.0.0.1:$KAFKA_PORT
# The Iceberg catalog: the SQL catalog tables in PostgreSQL's database \`iceberg\`, named
# \`meshplane\` as every engine (Trino, pyiceberg, Spark) must name it too.
export MESHPLANE_ICEBERG_URI=postgresql://meshplane:meshplane@$NODE_IP:$POSTGRES_PORT/iceberg
export MESHPLANE_ICEBERG_NAME=meshplane
export MESHPLANE_ICEBERG_WAREHOUSE=s3://meshplane-warehouse
export MESHPLANE_NODE_IP=$NODE_IP
export MESHPLANE_NODE_NAME=$NODE_NAME
# The platform's image as \`make image\` imports it; workers of a controller run on the
# host use it too, never pulled, with requests small enough for many on two cores.
export MESHPLANE_IMAGE=$MESHPLANE_IMAGE
export MESHPLANE_IMAGE_PULL_POLICY=Never
export MESHPLANE_WORKER_CPU_REQUEST=10m
export MESHPLANE_WORKER_MEMORY_REQUEST=32Mi
export MESHPLANE_CONTAINERD_SOCK=$CONTAINERD_SOCK
export AWS_ACCESS_KEY_ID=$S3_ACCESS_KEY
export AWS_SECRET_ACCESS_KEY=$S3_SECRET_KEY
export AWS_REGION=us-east-1
export MESHPLANE_STACK_DIR=$STATE_DIR
export MESHPLANE_KAFKA_HOME=$KAFKA_HOME
export MESHPLANE_HELM=$BIN_DIR/helm-$HELM_VERSION
export MESHPLANE_PROMTOOL=$PROMTOOL_BIN
ENV
}

install_crds() {
  local kubectl=("$KUBE_BIN/kubectl" --kubeconfig "$KUBECONFIG_FILE")
  "$STACK_DIR/third-party-crds.sh"
  "${kubectl[@]}" apply --server-side --force-conflicts -f "$REPO_DIR/crds/" -f "$STATE_DIR/third-party-crds/" \
    >>"$LOG_DIR/crds.log" 2>&1 || die "installing CRDs failed; see $LOG_DIR/crds.log"
  "${kubectl[@]}" wait --for condition=Established --timeout 60s crd --all >>"$LOG_DIR/crds.log" 2>&1 \
    || die "CRDs did not become Established; see $LOG_DIR/crds.log"
}

build
started_ok=0
# A half-started stack is worse than none: stop everything if any step fails.
# (MESHPLANE_STACK_KEEP_FAILED=1 leaves it for a look.)
trap '[[ $started_ok == 1 || -n ${MESHPLANE_STACK_KEEP_FAILED:-} ]] || { log "start-up failed: stopping what was started"; "$STACK_DIR/down.sh" >/dev/null 2>&1 || true; }' EXIT
boot_at=$SECONDS
node_network
up_etcd
up_apiserver
up_controller_manager
up_scheduler
up_kafka
up_seaweedfs
"$STACK_DIR/postgres.sh" || die "PostgreSQL (the Iceberg catalog's database) did not start"
up_containerd
up_kubelet
up_kube_proxy
write_env
install_crds
node_addons
started_ok=1
log "stack up in $((SECONDS - boot_at)) s (total $((SECONDS - started_at)) s); logs in $LOG_DIR"
log "use it with: source $ENV_FILE"
