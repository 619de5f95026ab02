#!/usr/bin/env bash
# Builds Go main packages from the module proxy through a wrapper module of our own,
# which lets `go` resolve modules whose go.mod carries replace directives.
#   build-gomodule.sh NAME MODULE VERSION PACKAGES [LDFLAGS]
# One package is installed as $BIN_DIR/NAME-VERSION; several (space-separated, built in
# one `go build`, so shared packages compile once) each as $BIN_DIR/<last element>-VERSION.
# GO_BUILD_TAGS, when set, is passed to `go build -tags`.
source "$(dirname "$0")/lib.sh"
need go "to build $1"
name=$1 module=$2 version=$3 ldflags=${5:-}
read -r -a packages <<<"$4"
outputs=()
if (( ${#packages[@]} == 1 )); then
  outputs=("$BIN_DIR/$name-$version")
else
  for package in "${packages[@]}"; do outputs+=("$BIN_DIR/${package##*/}-$version"); done
fi
missing=0
for out in "${outputs[@]}"; do [[ -x "$out" ]] || missing=1; done
(( missing )) || exit 0
work="$CACHE_DIR/build/$name-$version"
mkdir -p "$work"
private_go_caches "$work"
cd "$work"
cat > go.mod <<MOD
module meshplane.dev/stack/$name

go 1.24

require $module $version
MOD
{
  printf '//go:build tools\n\npackage tools\n\nimport (\n'
  printf '\t_ "%s"\n' "${packages[@]}"
  printf ')\n'
} > tools.go
log "building $name $version (cold: minutes)"
# One package goes to a file; several to a directory, named by their last path element.
target="${outputs[0]}.tmp"
(( ${#packages[@]} == 1 )) || { target="$work/out.tmp/"; rm -rf "$target"; mkdir -p "$target"; }
{
  go mod tidy -e && CGO_ENABLED=0 go build -trimpath -tags "${GO_BUILD_TAGS:-}" -ldflags "-s -w $ldflags" \
    -o "$target" "${packages[@]}"
} >"$LOG_DIR/build-$name.log" 2>&1 || die "building $name failed; see $LOG_DIR/build-$name.log"
if (( ${#packages[@]} == 1 )); then
  mv "$target" "${outputs[0]}"
else
  for i in "${!packages[@]}"; do mv "$target/${packages[$i]##*/}" "${outputs[$i]}"; done
  rm -rf "$target"
fi
