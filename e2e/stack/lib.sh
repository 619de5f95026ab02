# Shared settings for the local stack scripts. Sourced, never run.
set -euo pipefail
STACK_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
source "$STACK_DIR/versions.env"
CACHE_DIR="${MESHPLANE_CACHE:-$HOME/.cache/meshplane}"
BIN_DIR="$CACHE_DIR/bin"
STATE_DIR="${MESHPLANE_STACK_DIR:-$CACHE_DIR/stack}"
LOG_DIR="$STATE_DIR/logs"
mkdir -p "$BIN_DIR" "$STATE_DIR" "$LOG_DIR"
export GOFLAGS=-mod=mod
export GOTOOLCHAIN=local

log() { printf '\033[1m[stack]\033[0m %s\n' "$*" >&2; }
die() { printf '\033[31m[stack] error:\033[0m %s\n' "$*" >&2; exit 1; }
need() { command -v "$1" >/dev/null 2>&1 || die "$1 is required ($2) but was not found on PATH"; }
