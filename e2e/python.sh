#!/usr/bin/env bash
# Prints the path of a Python virtualenv with e2e/requirements.txt installed, making it
# on first use (cached by the requirements' hash, so a warm run takes no time).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cache="${MESHPLANE_CACHE:-$HOME/.cache/meshplane}"
hash=$(sha256sum "$here/requirements.txt" | cut -c1-12)
venv="$cache/venv-$hash"
if [[ ! -f "$venv/.complete" ]]; then
  rm -rf "$venv"
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt" >&2 \
    || { echo "error: installing e2e/requirements.txt into $venv failed" >&2; exit 1; }
  touch "$venv/.complete"
fi
echo "$venv"
