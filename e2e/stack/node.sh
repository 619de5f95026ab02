# The node that runs pods (sourced by up.sh and down.sh, never run): a bridge for pods,
# containerd + runc, kubelet, kube-scheduler and kube-proxy from the pinned Kubernetes
# build, CoreDNS as a pod, and Services through which pods reach the host's Kafka and S3.
# shellcheck source=node-env.sh
source "$STACK_DIR/node-env.sh"

# Debian's container runtime and CNI plugins; installed once (root on this machine).
node_packages() {
  local missing=()
  command -v containerd >/dev/null || missing+=(containerd)
  command -v runc >/dev/null || missing+=(runc)
  [[ -x /usr/lib/cni/bridge ]] || missing+=(containernetworking-plugins)
  command -v iptables >/dev/null || missing+=(iptables)
  command -v conntrack >/dev/null || missing+=(conntrack)
  command -v lua5.1 >/dev/null || missing+=(lua5.1)
  (( ${#missing[@]} == 0 )) && return 0
  log "installing ${missing[*]} from Debian (first time only)"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"; } \
    >>"$LOG_DIR/packages.log" 2>&1 || die "installing ${missing[*]} failed; see $LOG_DIR/packages.log"
}

# The pods' bridge, with the node's address on it. Pod and service addresses are routed
# to the bridge only, and the bridge may not forward to any other interface: pod traffic
# stays on this machine.
node_network() {
  sysctl -qw net.ipv4.ip_forward=1
  sysctl -qw net.bridge.bridge-nf-call-iptables=1 2>/dev/null || true
  ip link show "$NODE_BRIDGE" >/dev/null 2>&1 || ip link add "$NODE_BRIDGE" type bridge
  ip addr replace "$NODE_IP/${POD_CIDR#*/}" dev "$NODE_BRIDGE"
  ip link set "$NODE_BRIDGE" up
  ip route replace "$SERVICE_CIDR" dev "$NODE_BRIDGE"
  iptables -N MESHPLANE-NODE 2>/dev/null || true
  iptables -F MESHPLANE-NODE
  iptables -A MESHPLANE-NODE -i "$NODE_BRIDGE" ! -o "$NODE_BRIDGE" -j DROP
  iptables -A MESHPLANE-NODE -o "$NODE_BRIDGE" ! -i "$NODE_BRIDGE" -j DROP
  iptables -C FORWARD -j MESHPLANE-NODE 2>/dev/null || iptables -I FORWARD 1 -j MESHPLANE-NODE
  mkdir -p "$CNI_CONF_DIR" "$CNI_STATE_DIR"
  cat > "$CNI_CONF_DIR/10-meshplane.conflist" <<JSON
{
  "cniVersion": "0.4.0",
  "name": "meshplane",
  "plugins": [
    {
      "type": "bridge", "bridge": "$NODE_BRIDGE", "isGateway": true, "ipMasq": false, "hairpinMode": true,
      "ipam": {
        "type": "host-local", "dataDir": "$CNI_STATE_DIR",
        "ranges": [[{"subnet": "$POD_CIDR", "gateway": "$NODE_IP", "rangeStart": "${NODE_IP%.*}.10"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    }
  ]
}
JSON
}

up_containerd() {
  ensure containerd || return 0
  log "starting containerd $(containerd --version | awk '{print $3}') with runc (images built here)"
  mkdir -p "$CONTAINERD_DIR"
  # Pods left by a stack that was stopped are gone: their addresses are free again.
  rm -rf "${CNI_STATE_DIR:?}"/*
  cat > "$CONTAINERD_DIR/config.toml" <<TOML
version = 2
root = "$CONTAINERD_DIR/root"
state = "$CONTAINERD_DIR/state"
disabled_plugins = ["io.containerd.internal.v1.opt", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]
[grpc]
  address = "$CONTAINERD_SOCK"
[ttrpc]
  address = "$CONTAINERD_SOCK.ttrpc"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  # This machine withholds CAP_SYS_RESOURCE: no process may lower its OOM score, so
  # the scores kubelet asks for are raised to containerd's own.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "${MESHPLANE_RUNC:-$(command -v runc)}"
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$CNI_CONF_DIR"
TOML
  # The log is appended to: only lines after this start count.
  local from=$(( $(wc -l < "$LOG_DIR/containerd.log" 2>/dev/null || echo 0) + 1 ))
  start containerd containerd --config "$CONTAINERD_DIR/config.toml"
  wait_for containerd 60 ctr --address "$CONTAINERD_SOCK" version
  # The CRI service answers "server is not initialized yet" until it has started its
  # streaming server, a moment after the socket: the kubelet would exit on that.
  cri_started() { tail -n "+$from" "$LOG_DIR/containerd.log" | grep -q 'msg="Start streaming server"'; }
  wait_for containerd 60 cri_started
}

up_kubelet() {
  ensure kubelet "$KUBELET_PORT" "$KUBELET_HEALTHZ_PORT" || return 0
  log "starting kubelet $KUBERNETES_VERSION (node $NODE_NAME at $NODE_IP)"
  mkdir -p "$KUBELET_DIR"
  kubeconfig "$NODE_DIR/kubelet.kubeconfig" node
  # Pods with dnsPolicy Default (CoreDNS itself) get no upstream resolver: names outside
  # the cluster are not resolved, so nothing leaves the machine.
  printf '# the local node resolves cluster names only\nnameserver %s\n' "$CLUSTER_DNS_IP" > "$NODE_DIR/resolv.conf"
  cat > "$NODE_DIR/kubelet.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_IP
port: $KUBELET_PORT
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $KUBELET_HEALTHZ_PORT
authentication:
  anonymous: { enabled: false }
  webhook: { enabled: false }
  x509: { clientCAFile: $PKI_DIR/ca.crt }
authorization: { mode: AlwaysAllow }
containerRuntimeEndpoint: unix://$CONTAINERD_SOCK
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
clusterDomain: cluster.local
clusterDNS: [$CLUSTER_DNS_IP]
resolvConf: $NODE_DIR/resolv.conf
maxPods: 250
serializeImagePulls: false
# Images are imported, never pulled: never collect them.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: { memory.available: 200Mi, nodefs.available: 3%, imagefs.available: 3% }
containerLogMaxSize: 10Mi
# Pods' logs stay with the stack's state, not in /var/log.
podLogsDir: $NODE_DIR/pod-logs
syncFrequency: 10s
fileCheckFrequency: 0s
shutdownGracePeriod: 0s
YAML
  start kubelet "$KUBE_BIN/kubelet" --config "$NODE_DIR/kubelet.yaml" --kubeconfig "$NODE_DIR/kubelet.kubeconfig" \
    --root-dir "$KUBELET_DIR" --cert-dir "$KUBELET_DIR/pki" --node-ip "$NODE_IP" --hostname-override "$NODE_NAME" --v=1
  wait_for kubelet 90 curl -sf "http://127.0.0.1:$KUBELET_HEALTHZ_PORT/healthz"
}

up_scheduler() {
  ensure kube-scheduler "$SCHEDULER_PORT" || return 0
  log "starting kube-scheduler"
  kubeconfig "$NODE_DIR/scheduler.kubeconfig" scheduler
  start kube-scheduler "$KUBE_BIN/kube-scheduler" --kubeconfig "$NODE_DIR/scheduler.kubeconfig" \
    --authentication-kubeconfig "$NODE_DIR/scheduler.kubeconfig" --authorization-kubeconfig "$NODE_DIR/scheduler.kubeconfig" \
    --leader-elect=false --bind-address 127.0.0.1 --secure-port "$SCHEDULER_PORT" --v=1
  wait_for kube-scheduler 60 curl -skf "https://127.0.0.1:$SCHEDULER_PORT/healthz"
}

up_kube_proxy() {
  ensure kube-proxy "$KUBE_PROXY_HEALTHZ_PORT" "$KUBE_PROXY_METRICS_PORT" || return 0
  log "starting kube-proxy (iptables)"
  kubeconfig "$NODE_DIR/proxy.kubeconfig" proxy
  cat > "$NODE_DIR/kube-proxy.yaml" <<YAML
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: { kubeconfig: $NODE_DIR/proxy.kubeconfig }
mode: iptables
clusterCIDR: $POD_CIDR
hostnameOverride: $NODE_NAME
healthzBindAddress: 127.0.0.1:$KUBE_PROXY_HEALTHZ_PORT
metricsBindAddress: 127.0.0.1:$KUBE_PROXY_METRICS_PORT
# NodePorts answer on the node's bridge address only.
nodePortAddresses: [$NODE_IP/32]
# Leave the kernel's conntrack table as it is.
conntrack: { maxPerCore: 0 }
YAML
  start kube-proxy "$KUBE_BIN/kube-proxy" --config "$NODE_DIR/kube-proxy.yaml" --v=1
  wait_for kube-proxy 60 curl -sf "http://127.0.0.1:$KUBE_PROXY_HEALTHZ_PORT/healthz"
}

# The cluster's add-ons and the host's services as cluster Services, then wait for the
# node and DNS.
node_addons() {
  local kubectl=("$KUBE_BIN/kubectl" --kubeconfig "$KUBECONFIG_FILE")
  "$STACK_DIR/images.sh" node
  wait_for kubelet 90 "${kubectl[@]}" wait --for condition=Ready --timeout 5s "node/$NODE_NAME"
  local manifest rendered="$NODE_DIR/addons.yaml"
  for manifest in "$STACK_DIR/manifests/"*.yaml; do
    sed -e "s|@COREDNS_IMAGE@|$COREDNS_IMAGE|g" -e "s|@CLUSTER_DNS_IP@|$CLUSTER_DNS_IP|g" \
      -e "s|@NODE_IP@|$NODE_IP|g" -e "s|@KAFKA_POD_PORT@|$KAFKA_POD_PORT|g" -e "s|@S3_PORT@|$S3_PORT|g" \
      -e "s|@POSTGRES_PORT@|$POSTGRES_PORT|g" -e "s|@TRINO_PORT@|$TRINO_PORT|g" "$manifest"
    echo ---
  done > "$rendered"
  # Objects in a namespace created by the same apply can be refused until the API
  # server's admission sees the namespace: apply again until everything is in.
  wait_for kube-apiserver 60 "${kubectl[@]}" apply --server-side --force-conflicts -f "$rendered"
  "${kubectl[@]}" apply --server-side --force-conflicts -f "$rendered" >>"$LOG_DIR/addons.log" 2>&1 \
    || die "applying the cluster add-ons failed; see $LOG_DIR/addons.log"
  wait_for kubelet 120 "${kubectl[@]}" -n kube-system rollout status deployment/coredns --timeout 5s
}

# Stops what runs in pods: kubelet and containerd do not stop their containers, so the
# containers' processes are killed through their cgroups, then the pods' mounts and
# network namespaces are released.
down_node() {
  for name in kube-proxy kube-scheduler kubelet; do
    if running "$name"; then log "stopping $name"; fi
    stop "$name"
  done
  local procs
  for _ in 1 2 3; do
    procs=$(cat /sys/fs/cgroup/pids/kubepods/cgroup.procs /sys/fs/cgroup/pids/kubepods/*/cgroup.procs \
      /sys/fs/cgroup/pids/kubepods/*/*/cgroup.procs /sys/fs/cgroup/pids/kubepods/*/*/*/cgroup.procs 2>/dev/null | sort -u || true)
    [[ -z $procs ]] && break
    log "stopping the pods' processes"
    # shellcheck disable=SC2086
    kill -KILL $procs 2>/dev/null || true
    sleep 0.5
  done
  pkill -KILL -f "containerd-shim-runc-v2 .*-address $CONTAINERD_SOCK" 2>/dev/null || true
  if running containerd; then log "stopping containerd"; fi
  stop containerd
  local mount
  for mount in $(awk -v dir="$NODE_DIR" '$2 ~ "^"dir {print $2}' /proc/mounts | sort -r); do
    umount -l "$mount" 2>/dev/null || true
  done
  for mount in $(awk '$2 ~ "^/run/netns/cni-" {print $2}' /proc/mounts); do
    umount "$mount" 2>/dev/null && rm -f "$mount"
  done
  rm -rf "${CNI_STATE_DIR:?}"/* 2>/dev/null || true
}
