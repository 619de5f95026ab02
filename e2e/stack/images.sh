#!/usr/bin/env bash
# Builds the images the node runs and imports them into its containerd (namespace
# k8s.io), without a Docker daemon or a registry:
#   images.sh node        the pause (sandbox) image and CoreDNS (cached by version)
#   images.sh meshplane   the platform's own image from target/release/meshplane
#   images.sh monitoring  Prometheus, Alertmanager, prometheus-operator and its config
#                         reloader, from the binaries monitoring.sh builds
# Each image is one reproducible layer made by oci_image.py; the meshplane image has the
# layout of the repository's Dockerfile (/usr/local/bin/meshplane, user 65532).
source "$(dirname "$0")/lib.sh"
source "$STACK_DIR/node-env.sh"
need python3 "to assemble images"
IMAGE_DIR="$CACHE_DIR/images"
mkdir -p "$IMAGE_DIR"

ctr_() { ctr --address "$CONTAINERD_SOCK" --namespace k8s.io "$@"; }

# import TAR REF: loads the archive unless containerd already has REF with its layer.
import_image() {
  local tar=$1 ref=$2
  ctr_ images import --no-unpack=false "$tar" >>"$LOG_DIR/images.log" 2>&1 \
    || die "importing $ref into containerd failed; see $LOG_DIR/images.log"
  local listed; listed=$(ctr_ images ls -q)
  grep -qx "$ref" <<<"$listed" || die "containerd does not list $ref after importing $tar"
}

# rootfs_with_libs DIR BINARY...: copies each binary's shared libraries (from ldd) into DIR.
copy_libs() {
  local dir=$1; shift
  local lib
  for lib in $(ldd "$@" 2>/dev/null | grep -oE '/[^ ]+\.so[^ ]*' | sort -u); do
    mkdir -p "$dir$(dirname "$lib")"
    cp -L "$lib" "$dir$lib"
  done
}

base_files() { # base_files DIR: users, groups, CA certificates, /tmp
  local dir=$1
  mkdir -p "$dir/etc/ssl/certs" "$dir/tmp"
  chmod 1777 "$dir/tmp"
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n' > "$dir/etc/passwd"
  printf 'root:x:0:\nnonroot:x:65532:\nnobody:x:65534:\n' > "$dir/etc/group"
  cp /etc/ssl/certs/ca-certificates.crt "$dir/etc/ssl/certs/" 2>/dev/null || true
}

node_images() {
  local tar="$IMAGE_DIR/pause-$PAUSE_TAG.tar"
  if [[ ! -s $tar ]]; then
    need gcc "to build the pause image"
    local root; root=$(mktemp -d)
    gcc -static -O2 -o "$root/pause" "$STACK_DIR/images/pause.c" 2>>"$LOG_DIR/images.log" \
      || die "building pause failed; see $LOG_DIR/images.log"
    python3 "$STACK_DIR/oci_image.py" --rootfs "$root" --ref "$PAUSE_IMAGE" --out "$tar" \
      --entrypoint '["/pause"]' --user 65535:65535 2>>"$LOG_DIR/images.log"
    rm -rf "$root"
  fi
  import_image "$tar" "$PAUSE_IMAGE"
  tar="$IMAGE_DIR/coredns-$COREDNS_VERSION.tar"
  if [[ ! -s $tar ]]; then
    local root; root=$(mktemp -d)
    base_files "$root"
    cp "$BIN_DIR/coredns-$COREDNS_VERSION" "$root/coredns"
    python3 "$STACK_DIR/oci_image.py" --rootfs "$root" --ref "$COREDNS_IMAGE" --out "$tar" \
      --entrypoint '["/coredns"]' --cmd '["-conf", "/etc/coredns/Corefile"]' --user 65532:65532 \
      2>>"$LOG_DIR/images.log"
    rm -rf "$root"
  fi
  import_image "$tar" "$COREDNS_IMAGE"
}

meshplane_image() {
  local bin="$REPO_DIR/target/release/meshplane"
  [[ -x $bin ]] || die "$bin is missing: run 'make build' first"
  local version revision
  version=$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$REPO_DIR/charts/meshplane/Chart.yaml")
  revision=$(git -C "$REPO_DIR" rev-parse HEAD 2>/dev/null || echo unknown)
  git -C "$REPO_DIR" diff --quiet HEAD 2>/dev/null || revision="$revision-dirty"
  local root; root=$(mktemp -d)
  base_files "$root"
  mkdir -p "$root/usr/local/bin"
  cp "$bin" "$root/usr/local/bin/meshplane"
  copy_libs "$root" "$bin"
  local tar="$IMAGE_DIR/meshplane.tar"
  python3 "$STACK_DIR/oci_image.py" --rootfs "$root" --ref "$MESHPLANE_IMAGE" --out "$tar" \
    --entrypoint '["/usr/local/bin/meshplane"]' --user 65532:65532 \
    --label "org.opencontainers.image.title=meshplane" \
    --label "org.opencontainers.image.description=Meshplane, a self-serve data mesh platform for Kubernetes" \
    --label "org.opencontainers.image.licenses=Apache-2.0" \
    --label "org.opencontainers.image.version=$version" \
    --label "org.opencontainers.image.revision=$revision" 2>>"$LOG_DIR/images.log"
  rm -rf "$root"
  import_image "$tar" "$MESHPLANE_IMAGE"
  log "image $MESHPLANE_IMAGE (revision $revision) imported into the node"
}

# binary_image BINARY REF NAME: an image of one static binary at /bin/NAME (its entrypoint),
# as the upstream images lay it out, cached by the binary's version in REF.
binary_image() {
  local bin=$1 ref=$2 name=$3
  [[ -x $bin ]] || die "$bin is missing: run 'e2e/stack/monitoring.sh build' first"
  local tar="$IMAGE_DIR/${ref##*/}.tar"
  tar=${tar/:/-}
  if [[ ! -s $tar ]]; then
    local root; root=$(mktemp -d)
    base_files "$root"
    mkdir -p "$root/bin"
    cp "$bin" "$root/bin/$name"
    python3 "$STACK_DIR/oci_image.py" --rootfs "$root" --ref "$ref" --out "$tar" \
      --entrypoint "[\"/bin/$name\"]" --user 65534:65534 2>>"$LOG_DIR/images.log"
    rm -rf "$root"
  fi
  import_image "$tar" "$ref"
}

monitoring_images() {
  binary_image "$PROMETHEUS_BIN" "$PROMETHEUS_IMAGE" prometheus
  binary_image "$ALERTMANAGER_BIN" "$ALERTMANAGER_IMAGE" alertmanager
  binary_image "$PROMETHEUS_OPERATOR_BIN" "$PROMETHEUS_OPERATOR_IMAGE" operator
  binary_image "$CONFIG_RELOADER_BIN" "$CONFIG_RELOADER_IMAGE" prometheus-config-reloader
}

case "${1:-}" in
  node) node_images ;;
  meshplane) meshplane_image ;;
  monitoring) monitoring_images ;;
  *) die "usage: images.sh node|meshplane|monitoring" ;;
esac
