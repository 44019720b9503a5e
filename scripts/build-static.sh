#!/bin/sh
# Builds the release binary, as the Dockerfile's build stage does:
#   scripts/build-static.sh OUTPUT        (VERSION=v1.2.3 sets main.version)
# Static (CGO_ENABLED=0: no libc, runs on distroless/static or scratch),
# reproducible paths (-trimpath), no symbol table or DWARF (-s -w; the
# build information `rampart version` and `go version -m` read is kept),
# and the git revision stamped when built from a checkout (-buildvcs=auto).
set -eu
cd "$(dirname "$0")/.."
out=${1:?usage: scripts/build-static.sh OUTPUT}
ldflags="-s -w"
if [ -n "${VERSION:-}" ]; then
	ldflags="$ldflags -X main.version=$VERSION"
fi
export GOFLAGS="${GOFLAGS:--mod=mod}"
CGO_ENABLED=0 exec go build -trimpath -buildvcs=auto -ldflags "$ldflags" -o "$out" ./cmd/rampart
