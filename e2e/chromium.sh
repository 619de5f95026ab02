#!/usr/bin/env bash
# Prints the path of a headless-capable Chromium, installing Debian's package on first use
# (the browser tests drive it with Playwright; Playwright's own browser download is not used).
set -euo pipefail
for candidate in "${MESHPLANE_CHROMIUM:-}" /usr/bin/chromium /usr/bin/chromium-browser; do
  if [[ -n "$candidate" && -x "$candidate" ]]; then
    echo "$candidate"
    exit 0
  fi
done
command -v apt-get >/dev/null || { echo "error: Chromium is missing and apt-get is not available; set MESHPLANE_CHROMIUM" >&2; exit 1; }
sudo=""
[[ $(id -u) == 0 ]] || sudo="sudo"
echo "installing Debian's chromium (first run only)" >&2
{ $sudo apt-get install -y --no-install-recommends chromium || { $sudo apt-get update && $sudo apt-get install -y --no-install-recommends chromium; }; } >&2 \
  || { echo "error: installing chromium with apt-get failed" >&2; exit 1; }
echo /usr/bin/chromium
