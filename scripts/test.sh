#!/usr/bin/env bash
# Runs every check and test of the project, as CI does:
#   scripts/test.sh
# Installs what the tests need first (redis-server, chromium, npm packages
# for js/ and for the audit's test peers,
# staticcheck, readelf, systemd-analyze), idempotently. FUZZTIME sets each
# fuzz target's run (default 5s).
set -euo pipefail
cd "$(dirname "$0")/.."

export GOFLAGS=${GOFLAGS:--mod=mod}
FUZZTIME=${FUZZTIME:-5s}
BIN=$PWD/.cache/bin
mkdir -p "$BIN"
export PATH=$BIN:$PATH
failed=0
passed=0
step() { printf '\n== %s\n' "$*"; }
record() { if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAILED: $*"; fi; }

step "dependencies"
bash scripts/services.sh
bash scripts/browser-deps.sh
bash scripts/package-deps.sh
if ! [ -x "$BIN/staticcheck" ]; then
	GOBIN=$BIN go install honnef.co/go/tools/cmd/staticcheck@v0.8.2
fi

step "gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go'))
if [ -n "$unformatted" ]; then
	echo "gofmt would change:"; echo "$unformatted"; failed=$((failed + 1))
else
	passed=$((passed + 1))
fi

step "go vet"
record go vet ./...

step "staticcheck"
record staticcheck ./...

step "go test -race"
record go test -race -count=1 -timeout 15m ./...

step "fault suite (internal/faulttest: two nodes on real Redis and NATS processes, faults under load)"
record go test -tags faults -race -count=1 -timeout 10m ./internal/faulttest/

step "go test -race (patched gws, third_party/gws: its own module)"
# The tests of each change carried against v1.9.1 (third_party/gws/PATCHES.md);
# upstream's own suite binds fixed ports and takes minutes, so it runs when the
# copy is refreshed, not on every change.
gws_patches='^(TestFrameHeader_Parse64|TestReadMessage_(Length64TopBit|Length64TopBitLoopback|ContinuationLimit|MalformedFrames|CompressedLimit|DeflateFrames)|TestWriteDeflated.*|TestCloseReason.*|TestBufferPool_GetLarge|TestReadNMatchesReadFull)$'
record bash -c "cd third_party/gws && go test -race -count=1 -timeout 5m -run '$gws_patches' ./..."


# fuzz runs one target. Go's fuzzing engine sometimes ends a short run with
# its own "context deadline exceeded" on a busy machine, reporting no input
# (no "Failing input written"): that run alone is tried once more. Any
# input that fails is a failure at once.
fuzz() {
	local out
	if out=$(go test -run '^$' -fuzz "^$2\$" -fuzztime "$FUZZTIME" "$1" 2>&1); then
		echo "$out" | tail -2; return 0
	fi
	echo "$out" | tail -20
	if echo "$out" | grep -q 'context deadline exceeded' && ! echo "$out" | grep -q 'Failing input written'; then
		echo "fuzz: the engine timed out without a finding; running $2 once more"
		go test -run '^$' -fuzz "^$2\$" -fuzztime "$FUZZTIME" "$1"
		return
	fi
	return 1
}

step "fuzz ($FUZZTIME each)"
for target in \
	./protocol:FuzzParseCommand \
	./policy:FuzzGlob \
	./config:FuzzParse \
	./auth:FuzzVerify \
	./payload:FuzzProcess \
	./internal/origin:FuzzAllow \
	./internal/hookcall:FuzzDecodeReply \
	./hooks:FuzzVerifySignature \
	.:FuzzWire \
	.:FuzzWireCompressed \
	.:FuzzDecodeControl \
	.:FuzzAPI \
	.:FuzzConsole \
	.:FuzzExtensionOffer \
	./internal/clientip:FuzzClientIP \
	./internal/audit:FuzzServerAnswer \
	./broker/redis:FuzzDecodeEvent; do
	pkg=${target%%:*} name=${target##*:}
	record fuzz "$pkg" "$name"
done

step "packages (static image binary, Dockerfile's required parts, systemd unit verify and exposure score)"
record bash scripts/check-packages.sh

step "JavaScript client"
record npm --prefix js test

step "browser tests (headless Chromium)"
record npm --prefix js run test:browser

echo
echo "checks: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
