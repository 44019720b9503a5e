#!/usr/bin/env bash
# Installs what the JavaScript and browser tests need, and nothing twice:
#   - Debian's chromium at /usr/bin/chromium (apt-get, only when missing);
#   - js/node_modules from js/package-lock.json, and the audit's test peers
#     (ws, socket.io) from internal/audit/testdata/peers/package-lock.json
#     (npm ci, only when missing or older than the lock file).
# Browsers are never downloaded through playwright: the tests use
# playwright-core with executablePath /usr/bin/chromium.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
js="$root/js"

if [ ! -x /usr/bin/chromium ]; then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  echo "browser-deps: installing chromium with apt-get"
  $sudo apt-get update
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends chromium
else
  echo "browser-deps: chromium present: $(/usr/bin/chromium --version 2>/dev/null || echo /usr/bin/chromium)"
fi

# npm ci writes node_modules/.package-lock.json; when it is missing or older
# than package-lock.json (or package.json), the install is stale.
stamp="$js/node_modules/.package-lock.json"
if [ ! -f "$stamp" ] || [ "$js/package-lock.json" -nt "$stamp" ] || [ "$js/package.json" -nt "$stamp" ]; then
  echo "browser-deps: npm ci in js/"
  (cd "$js" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund)
else
  echo "browser-deps: js/node_modules is up to date"
fi

# The servers `rampart audit` is proven against in its tests.
peers="$root/internal/audit/testdata/peers"
stamp="$peers/node_modules/.package-lock.json"
if [ ! -f "$stamp" ] || [ "$peers/package-lock.json" -nt "$stamp" ] || [ "$peers/package.json" -nt "$stamp" ]; then
  echo "browser-deps: npm ci in internal/audit/testdata/peers/"
  (cd "$peers" && npm ci --no-audit --no-fund)
else
  echo "browser-deps: the audit peers' node_modules is up to date"
fi
