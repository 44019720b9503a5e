#!/usr/bin/env bash
# Measures the server's user-space memory per idle, authenticated,
# subscribed connection:
#   scripts/memory.sh     (CONNS=15000 PROCS=3 PORT=18480 by default; BIN=path skips the build)
# Starts `rampart serve` on 127.0.0.1, reads its RSS (VmRSS), opens CONNS
# connections from PROCS `rampart bench --mode idle` processes spread over
# 127.0.0.2..127.0.0.50 (each connection subscribes to one of 100 channels),
# waits until /metrics reports them all and the RSS is stable, reads the RSS
# again and prints (after - before) / CONNS. Everything it starts is stopped
# on exit. The kernel's socket memory (about 4.5 KiB per idle TCP socket
# here) is not in VmRSS and not counted.
set -euo pipefail
cd "$(dirname "$0")/.."

CONNS=${CONNS:-15000}
PROCS=${PROCS:-3}
PORT=${PORT:-18480}
TARGET_KIB=${TARGET_KIB:-8}
WORK=$(mktemp -d)
BIN=${BIN:-} # a prebuilt rampart binary; empty: build one
PIDS=()
SERVER=

cleanup() {
	for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	if [ -n "$SERVER" ]; then
		kill -TERM "$SERVER" 2>/dev/null || true
		wait "$SERVER" 2>/dev/null || true
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$SERVER/status"; }
cpu_ticks() { awk '{sub(/.*\) /, ""); print $12 + $13}' "/proc/$SERVER/stat"; }
connections() {
	curl -sf "http://127.0.0.1:$PORT/metrics" | awk '$1 == "rampart_connections" {print int($2)}'
}
# wait_for SECONDS COMMAND...: polls COMMAND every 0.5s, at most SECONDS.
wait_for() {
	local n=$(($1 * 2)); shift
	for ((i = 0; i < n; i++)); do "$@" && return 0; sleep 0.5; done
	return 1
}

if [ -z "$BIN" ]; then
	echo "building"
	BIN=$WORK/rampart
	go build -o "$BIN" ./cmd/rampart
fi
export RAMPART_JWT_SECRET
RAMPART_JWT_SECRET=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')

cat >"$WORK/rampart.yaml" <<EOF
listen: "127.0.0.1:$PORT"
origins: { allow_missing: true }
auth: { hmac_secret_env: RAMPART_JWT_SECRET }
limits:
  max_connections: 20000
  max_connections_per_ip: 5000
  max_connections_per_user: 5000
  handshakes_per_ip_per_minute: 1000000
channels:
  - pattern: "bench:*"
    subscribe: ["*"]
    publish: ["*"]
log: { format: json, level: warn }
EOF

GOGC=${GOGC:-} GODEBUG=gctrace=1${GODEBUG_EXTRA:+,$GODEBUG_EXTRA} "$BIN" serve --config "$WORK/rampart.yaml" 2>"$WORK/server.log" &
SERVER=$!
wait_for 20 curl -sf "http://127.0.0.1:$PORT/healthz" -o /dev/null || { cat "$WORK/server.log"; exit 1; }
sleep 2
before=$(rss_kib)
cpu_before=$(cpu_ticks)
echo "server pid $SERVER, RSS before: $before KiB"

per=$((CONNS / PROCS))
start=$(date +%s.%N)
for ((p = 0; p < PROCS; p++)); do
	n=$per
	[ "$p" -eq $((PROCS - 1)) ] && n=$((CONNS - per * (PROCS - 1)))
	"$BIN" bench --mode idle --url "ws://127.0.0.1:$PORT/ws" --conns "$n" --first $((p * per)) \
		--channel bench:idle --channels 100 --users 100 --duration 10m --timeout 12m \
		>"$WORK/bench$p.log" 2>&1 &
	PIDS+=($!)
done

all_connected() { [ "$(connections)" = "$CONNS" ]; }
if ! wait_for 240 all_connected; then
	echo "only $(connections) of $CONNS connections"; cat "$WORK"/bench*.log; exit 1
fi
elapsed=$(echo "$(date +%s.%N) - $start" | bc)
cpu_after=$(cpu_ticks)
echo "$CONNS connections open and subscribed after ${elapsed}s"

# The RSS is stable when two readings 3s apart differ by under 0.5%.
prev=$(rss_kib)
for ((i = 0; i < 20; i++)); do
	sleep 3
	cur=$(rss_kib)
	if [ $(((cur > prev ? cur - prev : prev - cur) * 200)) -lt "$cur" ]; then break; fi
	prev=$cur
done
after=$(rss_kib)
echo "RSS after: $after KiB"
grep '^gc ' "$WORK/server.log" | tail -1 | sed 's/^/last GC: /' || true
# Where the memory is, from the Go runtime's own accounting.
curl -sf "http://127.0.0.1:$PORT/metrics" | awk -v n="$CONNS" '
	/^go_memstats_(heap_inuse|heap_idle|heap_released|stack_inuse|sys|mspan_inuse|other_sys)_bytes / {
		printf "  %-40s %8.1f MiB  %6.2f KiB per connection\n", $1, $2 / 1048576, $2 / 1024 / n
	}' || true
awk -v b="$before" -v a="$after" -v n="$CONNS" -v t="$TARGET_KIB" 'BEGIN {
	k = (a - b) / n
	printf "server memory per idle subscribed connection: %.2f KiB (target %s KiB: %s)\n", k, t, (k <= t ? "met" : "over")
}'
awk -v c="$((cpu_after - cpu_before))" -v n="$CONNS" 'BEGIN {
	printf "server CPU per authenticated connection (handshake, token, subscribe): %.0f us\n", c * 10000 / n
}'
cat "$WORK"/bench*.log
