# Settings of the local node (sourced after lib.sh, never run): its addresses, the
# containerd it runs pods with, and the images it is given.
# Pods live on a bridge of this machine; the bridge's address is also where the host's
# services (API server, Kafka, S3) are reached from pods. Nothing is routed elsewhere.
NODE_NAME=meshplane-node
NODE_BRIDGE=meshplane0
: "${NODE_IP:=10.244.0.1}"
: "${POD_CIDR:=10.244.0.0/24}"
: "${SERVICE_CIDR:=10.0.0.0/24}"
: "${CLUSTER_DNS_IP:=10.0.0.10}"
: "${KAFKA_POD_PORT:=19094}"
: "${KUBELET_PORT:=10250}" "${KUBELET_HEALTHZ_PORT:=10248}" "${SCHEDULER_PORT:=10259}"
: "${KUBE_PROXY_HEALTHZ_PORT:=10256}" "${KUBE_PROXY_METRICS_PORT:=10249}"
NODE_DIR="$STATE_DIR/node"
CONTAINERD_DIR="$NODE_DIR/containerd"
CONTAINERD_SOCK="$CONTAINERD_DIR/containerd.sock"
KUBELET_DIR="$NODE_DIR/kubelet"
CNI_CONF_DIR="$NODE_DIR/cni/net.d"
CNI_STATE_DIR="$NODE_DIR/cni/ipam"
PAUSE_TAG=3.10-meshplane1
PAUSE_IMAGE="meshplane.local/pause:$PAUSE_TAG"
COREDNS_IMAGE="meshplane.local/coredns:$COREDNS_VERSION"
PROMETHEUS_IMAGE="meshplane.local/prometheus:$PROMETHEUS_RELEASE"
ALERTMANAGER_IMAGE="meshplane.local/alertmanager:$ALERTMANAGER_VERSION"
PROMETHEUS_OPERATOR_IMAGE="meshplane.local/prometheus-operator:$PROMETHEUS_OPERATOR_VERSION"
CONFIG_RELOADER_IMAGE="meshplane.local/prometheus-config-reloader:$PROMETHEUS_OPERATOR_VERSION"
: "${MESHPLANE_IMAGE:=meshplane.local/meshplane:dev}"
