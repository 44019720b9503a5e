#!/usr/bin/env bash
# Installs and starts the engines the broker tests run against.
#
#   scripts/services.sh                  install redis-server if missing
#   scripts/services.sh redis PORT       also start a throwaway redis-server
#                                        on 127.0.0.1:PORT (no persistence)
#   scripts/services.sh stop-redis PORT  stop the one started on PORT
#
# Idempotent: running it again changes nothing that is already in place.
# The Go tests start their own redis-server and embed NATS; CI only needs
# the binary on PATH. NATS needs nothing installed.
set -euo pipefail

need_root() {
	if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

install_redis() {
	if command -v redis-server >/dev/null 2>&1; then
		return 0
	fi
	echo "services.sh: installing redis-server from Debian" >&2
	need_root apt-get update
	need_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends redis-server
	# The package starts a system-wide instance on 6379; the tests do not need it.
	if command -v systemctl >/dev/null 2>&1; then
		need_root systemctl disable --now redis-server >/dev/null 2>&1 || true
	fi
}

check_port() {
	case "${1:-}" in
	'' | *[!0-9]*) echo "services.sh: a port number is needed" >&2; exit 2 ;;
	esac
}

start_redis() {
	check_port "${1:-}"
	local port=$1 dir=${TMPDIR:-/tmp}/rampart-redis-$1
	if redis-cli -h 127.0.0.1 -p "$port" ping >/dev/null 2>&1; then
		echo "services.sh: redis already answers on 127.0.0.1:$port" >&2
		return 0
	fi
	mkdir -p "$dir"
	redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no \
		--daemonize yes --dir "$dir" --pidfile "$dir/redis.pid" --logfile "$dir/redis.log"
	for _ in $(seq 50); do
		if redis-cli -h 127.0.0.1 -p "$port" ping >/dev/null 2>&1; then
			echo "services.sh: redis on 127.0.0.1:$port (pid $(cat "$dir/redis.pid"))" >&2
			return 0
		fi
		sleep 0.1
	done
	echo "services.sh: redis did not start; see $dir/redis.log" >&2
	exit 1
}

stop_redis() {
	check_port "${1:-}"
	local pidfile=${TMPDIR:-/tmp}/rampart-redis-$1/redis.pid
	if [ -f "$pidfile" ]; then
		kill "$(cat "$pidfile")" 2>/dev/null || true
		rm -f "$pidfile"
	fi
}

install_redis
case "${1:-}" in
'') ;;
redis) start_redis "${2:-}" ;;
stop-redis) stop_redis "${2:-}" ;;
*) echo "usage: $0 [redis PORT | stop-redis PORT]" >&2; exit 2 ;;
esac
