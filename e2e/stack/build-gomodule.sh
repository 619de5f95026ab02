#!/usr/bin/env bash
# Builds one Go main package from the module proxy through a wrapper module of our own,
# which lets `go` resolve modules whose go.mod carries replace directives.
#   build-gomodule.sh NAME MODULE VERSION PACKAGE [LDFLAGS]
source "$(dirname "$0")/lib.sh"
need go "to build $1"
name=$1 module=$2 version=$3 package=$4 ldflags=${5:-}
out="$BIN_DIR/$name-$version"
[[ -x "$out" ]] && exit 0
work="$CACHE_DIR/build/$name-$version"
mkdir -p "$work"
private_go_caches "$work"
cd "$work"
cat > go.mod <<MOD
module meshplane.dev/stack/$name

go 1.24

require $module $version
MOD
printf '//go:build tools\n\npackage tools\n\nimport _ "%s"\n' "$package" > tools.go
log "building $name $version (cold: minutes)"
{
  go mod tidy -e && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w $ldflags" -o "$out.tmp" "$package"
} >"$LOG_DIR/build-$name.log" 2>&1 || die "building $name failed; see $LOG_DIR/build-$name.log"
mv "$out.tmp" "$out"
