#!/usr/bin/env bash
# Builds the control plane (kube-apiserver, kube-controller-manager, kubectl) and the
# node (kubelet, kube-scheduler, kube-proxy) from the Go module proxy; only missing
# binaries are built.
# k8s.io/kubernetes pins its staging modules at v0.0.0 with replace directives, so a
# wrapper module of our own requires it and replaces each staging module with v0.X.Y.
source "$(dirname "$0")/lib.sh"
need go "to build Kubernetes"
v="$KUBERNETES_VERSION"
out="$BIN_DIR/kubernetes-$v"
commands=(kube-apiserver kube-controller-manager kubectl kube-scheduler kubelet kube-proxy)
missing=()
for cmd in "${commands[@]}"; do [[ -x "$out/$cmd" ]] || missing+=("$cmd"); done
(( ${#missing[@]} == 0 )) && exit 0
staging_v="v0.${v#v1.}"
work="$CACHE_DIR/build/kubernetes-$v"
mkdir -p "$work" "$out"
private_go_caches "$work"
cd "$work"
modfile=$(go mod download -json "k8s.io/kubernetes@$v" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
[[ -f "$modfile" ]] || die "could not download k8s.io/kubernetes@$v from the Go module proxy"
goversion=$(sed -n 's/^go \([0-9.]*\).*/\1/p' "$modfile")
{
  echo "module meshplane.dev/stack/kubernetes"
  echo
  echo "go $goversion"
  echo
  echo "require k8s.io/kubernetes $v"
  echo
  grep -E '^[[:space:]]*k8s.io/[a-z0-9-]+ v0\.0\.0$' "$modfile" | sort -u | while read -r mod _; do
    echo "replace $mod => $mod $staging_v"
  done
} > go.mod
cat > tools.go <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kubectl"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubelet"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
)
GO
log "resolving k8s.io/kubernetes $v modules (first time only)"
go mod tidy -e >"$LOG_DIR/build-kubernetes.log" 2>&1 || true
go get "k8s.io/kubernetes@$v" >>"$LOG_DIR/build-kubernetes.log" 2>&1 \
  || die "resolving Kubernetes modules failed; see $LOG_DIR/build-kubernetes.log"
major=$(echo "$v" | sed -E 's/^v([0-9]+)\..*/\1/')
minor=$(echo "$v" | sed -E 's/^v[0-9]+\.([0-9]+)\..*/\1/')
ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$v -X k8s.io/component-base/version.gitMajor=$major -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean"
for cmd in "${missing[@]}"; do
  log "building $cmd $v (cold: many minutes)"
  CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$out/$cmd.tmp" "k8s.io/kubernetes/cmd/$cmd" \
    >>"$LOG_DIR/build-kubernetes.log" 2>&1 || die "building $cmd failed; see $LOG_DIR/build-kubernetes.log"
  mv "$out/$cmd.tmp" "$out/$cmd"
done
