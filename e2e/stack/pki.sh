#!/usr/bin/env bash
# Certificates of the local control plane: a CA, the API server's serving certificate,
# client certificates for the admin (system:masters) and kube-controller-manager, and the
# service-account signing key; then the node's: the kubelet, kube-scheduler and
# kube-proxy clients, the API server's client for kubelets, and the API server's serving
# certificate valid on the node's bridge address too. Each is made once per state directory.
source "$(dirname "$0")/lib.sh"
source "$STACK_DIR/node-env.sh"
need openssl "to make the control plane's certificates"
cd "$PKI_DIR"

# client NAME SUBJECT: a client certificate signed by the local CA.
client() {
  [[ -s $1.crt ]] && return 0
  openssl genrsa -out "$1.key" 2048
  openssl req -new -key "$1.key" -subj "$2" -out "$1.csr"
  printf 'extendedKeyUsage=clientAuth\n' > client.ext
  openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 -extfile client.ext -out "$1.crt"
}

# The API server's serving certificate, reissued when a state directory made before the
# node existed lacks the bridge address.
serving() {
  openssl x509 -in apiserver.crt -noout -text 2>/dev/null | grep -q "IP Address:$NODE_IP" && return 0
  cat > apiserver.ext <<EXT
subjectAltName=DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,IP:127.0.0.1,IP:10.0.0.1,IP:$NODE_IP
extendedKeyUsage=serverAuth
EXT
  [[ -s apiserver.key ]] || openssl genrsa -out apiserver.key 2048
  openssl req -new -key apiserver.key -subj "/CN=kube-apiserver" -out apiserver.csr
  openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 -extfile apiserver.ext -out apiserver.crt
}

node_certificates() {
  serving
  client node "/O=system:nodes/CN=system:node:$NODE_NAME"
  client scheduler "/CN=system:kube-scheduler"
  client proxy "/CN=system:kube-proxy"
  client apiserver-kubelet "/O=system:masters/CN=kube-apiserver-kubelet-client"
}

if [[ -f .complete ]]; then
  node_certificates >"$LOG_DIR/pki-node.log" 2>&1 || die "making the node's certificates failed; see $LOG_DIR/pki-node.log"
  exit 0
fi
{
  openssl genrsa -out ca.key 2048
  openssl req -x509 -new -nodes -key ca.key -subj "/CN=meshplane-local-ca" -days 3650 -out ca.crt
  client admin "/O=system:masters/CN=meshplane-admin"
  client kcm "/CN=system:kube-controller-manager"
  openssl genrsa -out sa.key 2048
  openssl rsa -in sa.key -pubout -out sa.pub
  node_certificates
} >"$LOG_DIR/pki.log" 2>&1 || die "making certificates failed; see $LOG_DIR/pki.log"
touch .complete
