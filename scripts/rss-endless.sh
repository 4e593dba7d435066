#!/usr/bin/env bash
# rss-endless.sh measures the server's memory through an endless reply: an
# upstream of our own (cmd/rss-endless) streams one-character deltas as fast
# as the gateway reads them, and the tool prints the server's RSS before,
# at its peak and after the run. See docs/benchmarks.md ("An endless reply").
#
# Usage: scripts/rss-endless.sh [-src DIR] [-redis] [rss-endless flags...]
#   -src DIR   build cmd/server from DIR (a checkout or git worktree) instead
#              of this one, to measure another commit with the same tool
#   -redis     also start a redis-server on a free loopback port and run the
#              gateway on it (REDIS_URL); the run's keys are sampled there
# Other flags go to rss-endless (-stream 12s, -after 10s, -env NAME=value,...).
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
use_go

src="$REPO_ROOT"
with_redis=0
args=()
while (($# > 0)); do
	case "$1" in
	-src) src="$(cd "$2" && pwd)"; shift 2 ;;
	-redis) with_redis=1; shift ;;
	*) args+=("$1"); shift ;;
	esac
done

work="$(mktemp -d)"
redis_pid=""
cleanup() {
	if [[ -n "$redis_pid" ]]; then kill "$redis_pid" 2>/dev/null || true; wait "$redis_pid" 2>/dev/null || true; fi
	rm -rf "$work"
}
trap cleanup EXIT

(cd "$src" && go build -o "$work/server" ./cmd/server)
go build -o "$work/rss-endless" ./cmd/rss-endless
say "server built from $src at $(git -C "$src" rev-parse --short HEAD)"

if ((with_redis)); then
	port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
	redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$work" >"$work/redis.log" 2>&1 &
	redis_pid=$!
	for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.05; done
	args+=(-redis-url "redis://127.0.0.1:$port")
fi

"$work/rss-endless" -server "$work/server" "${args[@]}"
