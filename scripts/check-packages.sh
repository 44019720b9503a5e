#!/usr/bin/env bash
# Checks what can be checked of the packages without a container runtime
# or a running systemd:
#   - the image's binary: built by scripts/build-static.sh, the script the
#     Dockerfile's build stage runs, it is static (no ELF interpreter, no
#     dynamic section), built with CGO_ENABLED=0 and -trimpath, and runs;
#   - the Dockerfile has its required parts: a final stage that runs as a
#     user other than root, EXPOSE 8080, a HEALTHCHECK, the entry point,
#     the shared build script, and no ADD of a remote URL. That is a reading
#     of the file, not a build: the image itself is not built here;
#   - deploy/rampart.service: systemd-analyze verify says nothing about it,
#     it states the settings listed below, and its exposure score
#     (systemd-analyze security) stays at or under THRESHOLD tenths
#     (13 = 1.3; the unit scores 1.2). Whether rampart runs under the unit's
#     sandbox needs a running systemd, and is not checked here.
# scripts/package-deps.sh installs readelf and systemd-analyze.
set -euo pipefail
cd "$(dirname "$0")/.."
THRESHOLD=${THRESHOLD:-13}
failed=0
fail() { echo "check-packages: $*" >&2; failed=1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
bin=$work/rampart

echo "-- binary (scripts/build-static.sh)"
scripts/build-static.sh "$bin"
readelf -l "$bin" | grep -q 'INTERP' && fail "the binary asks for an ELF interpreter (dynamically linked)"
readelf -d "$bin" | grep -q 'There is no dynamic section' || fail "the binary has a dynamic section"
info=$(go version -m "$bin")
grep -q 'CGO_ENABLED=0' <<<"$info" || fail "not built with CGO_ENABLED=0"
grep -q -- '-trimpath=true' <<<"$info" || fail "not built with -trimpath"
"$bin" version || fail "rampart version failed"

echo "-- Dockerfile"
# Instructions on one line each (continuations joined), then the final
# stage: from the last FROM to the end.
joined=$(sed -e ':a' -e '/\\$/{N;s/\\\n[[:space:]]*/ /;ba' -e '}' Dockerfile)
final=$(awk '/^FROM /{buf=""} {buf=buf $0 "\n"} END{printf "%s", buf}' <<<"$joined")
user=$(awk '/^USER /{u=$2} END{print u}' <<<"$final")
case "${user%%:*}" in
'') fail "the final stage sets no USER" ;;
root | 0) fail "the final stage runs as root ($user)" ;;
esac
grep -qE '^EXPOSE 8080$' <<<"$final" || fail "no EXPOSE 8080"
grep -qE '^HEALTHCHECK .*CMD' <<<"$final" || fail "no HEALTHCHECK with a command"
grep -qE '^ENTRYPOINT \["/usr/local/bin/rampart"\]' <<<"$final" || fail "ENTRYPOINT is not rampart"
grep -qE '^CMD \["serve", "--config", "/etc/rampart/rampart.yaml"\]' <<<"$final" || fail "CMD is not serve --config /etc/rampart/rampart.yaml"
grep -qE '^RUN .*scripts/build-static\.sh' <<<"$joined" || fail "the build stage does not run scripts/build-static.sh"
grep -qiE '^ADD .*(https?|ftp|git)(://|@)' <<<"$joined" && fail "ADD of a remote URL"
grep -qE '^\.git' .dockerignore && fail ".dockerignore leaves out .git: the binary would carry no revision"

echo "-- deploy/rampart.service"
# verify checks that ExecStart's program exists: point it at the binary
# just built. It exits 0 on unknown keys and bad values, so any output fails.
sed "s|/usr/local/bin/rampart|$bin|" deploy/rampart.service >"$work/rampart.service"
out=$(systemd-analyze verify --man=no "$work/rampart.service" 2>&1) || fail "systemd-analyze verify failed"
[ -z "$out" ] || fail "systemd-analyze verify: $out"
# Stated outright, though DynamicUser= or SystemCallFilter= imply a weaker
# or equal form that the score counts alike.
for line in DynamicUser=yes NoNewPrivileges=yes ProtectSystem=strict ProtectHome=yes PrivateTmp=yes \
	CapabilityBoundingSet= AmbientCapabilities=; do
	grep -qx "$line" deploy/rampart.service || fail "deploy/rampart.service has no line $line"
done
systemd-analyze security --offline=yes --threshold="$THRESHOLD" deploy/rampart.service | tail -1 ||
	fail "the unit's exposure is over $THRESHOLD tenths: systemd-analyze security --offline=yes deploy/rampart.service"

[ "$failed" -eq 0 ] && echo "check-packages: ok"
exit "$failed"
