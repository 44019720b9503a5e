#!/usr/bin/env bash
# Measures every row of the comparison in docs/performance.md, each run
# against a fresh server, and writes one JSON line a run (rampart bench's
# report) to a results file:
#   scripts/perf.sh                         # the current tree, built here
#   scripts/perf.sh old=/path/a new=/path/b # two server binaries, alternating
# Each argument is a server binary, LABEL=PATH or PATH (labelled by its
# file name). With two or more, each row runs them in turn, in the given
# order on odd runs and in reverse on even runs, so that they share the
# session's conditions: compare them as ratios. The load generator is
# always the bench of this tree (BENCH=path to use a prebuilt one).
#
# Settings (environment), at the sizes of docs/performance.md by default:
#   ROWS="idle fanout ramp handshake"  which rows to run
#   RUNS=3                 runs of each row per binary
#   OUT=tmp/perf/results.jsonl   the results (emptied first); the bench's and
#                          the servers' logs beside it (.log, .server.log)
#   CHART=tmp/perf/perf-ramp.svg  the ramp chart (docs/perf-ramp.svg to record one)
#   PORT=18491             the server's port on 127.0.0.1
#   CONNS=15000 IDLE_PROCS=3 IDLE_HOLD=30s            row 1 and 2
#   SUBS=10000 FANOUT_PROCS=2 SIZE=100                rows 3 and 4
#   RAMP_START=4 RAMP_STEP=2 RAMP_MAX=40 STEP=10s P99_LIMIT=1s   row 3
#   RATE=10 FANOUT_DURATION=30s                       row 4
#   LOOPS=64 HANDSHAKES=200000 HANDSHAKE_DURATION=20s HANDSHAKE_PROCS=2   row 5
#   RUN_MINUTES=30         the most one bench run may take
#   FLOOR=1                row 5 also measures scripts/handshake-floor in its
#                          three modes: "floor" (the least a Go server can do
#                          per handshake), "floor-http" (net/http in front)
#                          and "floor-token" (net/http and golang-jwt's HS256)
# Every bench run has its own --timeout and is also cut by `timeout`;
# every process started here is stopped on exit. Exit 1 if a run failed.
set -euo pipefail
cd "$(dirname "$0")/.."

export GOFLAGS=${GOFLAGS:--mod=mod}
ROWS=${ROWS:-idle fanout ramp handshake}
RUNS=${RUNS:-3}
OUT=${OUT:-tmp/perf/results.jsonl}
CHART=${CHART:-tmp/perf/perf-ramp.svg}
PORT=${PORT:-18491}
CONNS=${CONNS:-15000} IDLE_PROCS=${IDLE_PROCS:-3} IDLE_HOLD=${IDLE_HOLD:-30s}
SUBS=${SUBS:-10000} FANOUT_PROCS=${FANOUT_PROCS:-2} SIZE=${SIZE:-100}
RAMP_START=${RAMP_START:-4} RAMP_STEP=${RAMP_STEP:-2} RAMP_MAX=${RAMP_MAX:-40} STEP=${STEP:-10s} P99_LIMIT=${P99_LIMIT:-1s}
RATE=${RATE:-10} FANOUT_DURATION=${FANOUT_DURATION:-30s}
LOOPS=${LOOPS:-64} HANDSHAKES=${HANDSHAKES:-200000} HANDSHAKE_DURATION=${HANDSHAKE_DURATION:-20s} HANDSHAKE_PROCS=${HANDSHAKE_PROCS:-2}
RUN_MINUTES=${RUN_MINUTES:-30}
BENCH=${BENCH:-}
FLOOR=${FLOOR:-0}

WORK=$(mktemp -d)
SERVER= BENCH_PID=
cleanup() {
	if [ -n "$BENCH_PID" ]; then
		kill -TERM "$BENCH_PID" 2>/dev/null || true
		wait "$BENCH_PID" 2>/dev/null || true
	fi
	stop_server
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" | tee -a "$LOG" >&2; }

# wait_for SECONDS COMMAND...: polls COMMAND every 0.2s, at most SECONDS.
wait_for() {
	local n=$(($1 * 5)); shift
	for ((i = 0; i < n; i++)); do "$@" && return 0; sleep 0.2; done
	return 1
}
healthy() { curl -sf "http://127.0.0.1:$PORT/healthz" -o /dev/null; }
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; }
port_open() { ! port_free; }

# start_server BIN: a fresh server on PORT, settled (for the idle row's
# memory baseline); its pid in SERVER. BIN "floor", "floor-http" or
# "floor-token": the floor server in that mode.
start_server() {
	wait_for 30 port_free || { log "port $PORT still in use"; return 1; }
	if [[ $1 == floor* ]]; then
		local mode=${1#floor-}
		[ "$mode" = floor ] && mode=raw
		"$WORK/handshake-floor" -listen "127.0.0.1:$PORT" -mode "$mode" 2>>"$SERVER_LOG" &
		SERVER=$!
		wait_for 30 port_open || { log "the floor server did not start"; stop_server; return 1; }
		return 0
	fi
	"$1" serve --config "$WORK/bench.yaml" 2>>"$SERVER_LOG" &
	SERVER=$!
	if ! wait_for 30 healthy; then
		log "the server did not start:"; tail -20 "$SERVER_LOG" >&2; stop_server; return 1
	fi
	sleep 2
}

# stop_server: SIGTERM (the server closes its connections and exits), then
# SIGKILL after 20s.
stop_server() {
	[ -n "$SERVER" ] || return 0
	kill -TERM "$SERVER" 2>/dev/null || true
	for ((i = 0; i < 100; i++)); do kill -0 "$SERVER" 2>/dev/null || break; sleep 0.2; done
	kill -KILL "$SERVER" 2>/dev/null || true
	wait "$SERVER" 2>/dev/null || true
	SERVER=
}

# row_args ROW: the bench's flags for one row of the comparison.
row_args() {
	case $1 in
	idle) echo --mode idle --conns "$CONNS" --procs "$IDLE_PROCS" --channel bench:idle --channel-per-conn --duration "$IDLE_HOLD" ;;
	fanout) echo --mode fanout --subscribers "$SUBS" --procs "$FANOUT_PROCS" --rate "$RATE" --size "$SIZE" --duration "$FANOUT_DURATION" ;;
	ramp) echo --mode ramp --subscribers "$SUBS" --procs "$FANOUT_PROCS" --size "$SIZE" --rate "$RAMP_START" \
		--rate-step "$RAMP_STEP" --rate-max "$RAMP_MAX" --duration "$STEP" --p99-limit "$P99_LIMIT" ;;
	handshake) echo --mode handshake --loops "$LOOPS" --handshakes "$HANDSHAKES" --procs "$HANDSHAKE_PROCS" --duration "$HANDSHAKE_DURATION" ;;
	*) echo "unknown row $1 (want idle, fanout, ramp or handshake)" >&2; return 1 ;;
	esac
}

# measure LABEL BIN ROW: one run of ROW against a fresh server BIN.
measure() {
	local label=$1 bin=$2 row=$3 args
	args=$(row_args "$row")
	start_server "$bin" || return 1
	log "$row: $label (server pid $SERVER)"
	# In the background, so that a signal to this script is handled at once;
	# --foreground: a signal goes to the bench alone, which ends its children.
	# shellcheck disable=SC2086 # args are words
	timeout --foreground --kill-after=10s "$((RUN_MINUTES + 1))m" "$BENCH" bench $args --url "ws://127.0.0.1:$PORT/ws" \
		--server-pid "$SERVER" --label "$label" --timeout "${RUN_MINUTES}m" >>"$OUT" 2>>"$LOG" &
	BENCH_PID=$!
	if wait "$BENCH_PID"; then
		BENCH_PID=
		tail -1 "$OUT" | cut -c1-300 >&2
		stop_server
	else
		BENCH_PID=
		log "$row: $label FAILED (see $LOG)"
		stop_server
		return 1
	fi
}

mkdir -p "$(dirname "$OUT")" "$(dirname "$CHART")"
LOG=${OUT%.jsonl}.log SERVER_LOG=${OUT%.jsonl}.server.log
: >"$OUT"
: >"$LOG"
: >"$SERVER_LOG"

if [ -z "$BENCH" ]; then
	BENCH=$WORK/rampart
	go build -o "$BENCH" ./cmd/rampart
fi
if [ "$FLOOR" = 1 ]; then
	go build -o "$WORK/handshake-floor" ./scripts/handshake-floor
fi
labels=() bins=()
if [ $# -eq 0 ]; then set -- "current=$BENCH"; fi
for arg in "$@"; do
	label=${arg%%=*} bin=${arg#*=}
	[ "$label" = "$arg" ] && label=$(basename "$arg")
	[ -x "$bin" ] || { echo "not an executable: $bin" >&2; exit 2; }
	labels+=("$label") bins+=("$(realpath "$bin")")
done
for row in $ROWS; do row_args "$row" >/dev/null || exit 2; done

export RAMPART_JWT_SECRET
RAMPART_JWT_SECRET=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
cat >"$WORK/bench.yaml" <<EOF
listen: "127.0.0.1:$PORT"
origins: { allow_missing: true }
auth: { hmac_secret_env: RAMPART_JWT_SECRET }
limits:
  max_connections: 20000
  max_connections_per_ip: 5000
  max_connections_per_user: 5000
  handshakes_per_ip_per_minute: 1000000
  messages_per_minute: 1000000
  burst: 10000
channels:
  - pattern: "bench:*"
    subscribe: ["*"]
    publish: ["*"]
log: { format: json, level: warn }
EOF

log "rows: $ROWS; runs: $RUNS; binaries: ${labels[*]}; results: $OUT"
failed=0
for ((run = 1; run <= RUNS; run++)); do
	order=$(seq 0 $((${#bins[@]} - 1)))
	if ((run % 2 == 0)); then order=$(echo "$order" | tac); fi
	for row in $ROWS; do
		for i in $order; do
			measure "${labels[$i]}" "${bins[$i]}" "$row" || failed=$((failed + 1))
		done
		if [ "$row" = handshake ] && [ "$FLOOR" = 1 ]; then
			for floor in floor floor-http floor-token; do
				measure "$floor" "$floor" handshake || failed=$((failed + 1))
			done
		fi
	done
done

go run ./scripts/perf-chart -o "$CHART" "$OUT" | tee -a "$LOG"
log "done: $(wc -l <"$OUT") results in $OUT, $failed failed; chart in $CHART"
[ "$failed" -eq 0 ]
