#!/bin/sh
# Runs test files with Node's test runner against one rampart binary:
# RAMPART_BIN when set, else ./cmd/rampart built once into test-results/.
set -e
cd "$(dirname "$0")/.."
if [ -z "$RAMPART_BIN" ]; then
  mkdir -p test-results
  (cd .. && go build -o js/test-results/rampart ./cmd/rampart)
  RAMPART_BIN="$PWD/test-results/rampart"
  export RAMPART_BIN
fi
exec node --experimental-websocket --test --test-concurrency=1 "$@"
