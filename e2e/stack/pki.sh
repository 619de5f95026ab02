#!/usr/bin/env bash
# Certificates of the local control plane: a CA, the API server's serving certificate,
# client certificates for the admin (system:masters) and kube-controller-manager, and the
# service-account signing key. Made once per state directory.
source "$(dirname "$0")/lib.sh"
need openssl "to make the control plane's certificates"
cd "$PKI_DIR"
[[ -f .complete ]] && exit 0
{
  openssl genrsa -out ca.key 2048
  openssl req -x509 -new -nodes -key ca.key -subj "/CN=meshplane-local-ca" -days 3650 -out ca.crt
  cat > apiserver.ext <<EXT
subjectAltName=DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,IP:127.0.0.1,IP:10.0.0.1
extendedKeyUsage=serverAuth
EXT
  openssl genrsa -out apiserver.key 2048
  openssl req -new -key apiserver.key -subj "/CN=kube-apiserver" -out apiserver.csr
  openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 -extfile apiserver.ext -out apiserver.crt
  for who in "admin:/O=system:masters/CN=meshplane-admin" "kcm:/CN=system:kube-controller-manager"; do
    name=${who%%:*} subject=${who#*:}
    openssl genrsa -out "$name.key" 2048
    openssl req -new -key "$name.key" -subj "$subject" -out "$name.csr"
    printf 'extendedKeyUsage=clientAuth\n' > client.ext
    openssl x509 -req -in "$name.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 -extfile client.ext -out "$name.crt"
  done
  openssl genrsa -out sa.key 2048
  openssl rsa -in sa.key -pubout -out sa.pub
} >"$LOG_DIR/pki.log" 2>&1 || die "making certificates failed; see $LOG_DIR/pki.log"
touch .complete
