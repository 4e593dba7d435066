#!/usr/bin/env bash
# Runs agentbench's compare with the Centrifugo peer baseline: installs
# Centrifugo at a pinned version into a cache directory (a tool of the
# benchmark, never in go.mod), builds the tool, and runs
# `agentbench compare -peers centrifugo` with the arguments given. The first
# install compiles Centrifugo for some minutes; it runs in the background
# while the tool builds, and is skipped once that version is in the cache.
#
# Usage:
#   ./scripts/bench.sh                        every mode, the Centrifugo ones too
#   ./scripts/bench.sh -rounds 3 -modes ws-fanout-whole/centrifugo,ws-idle/centrifugo
#   ./scripts/bench.sh -redis -modes ws-rtt/centrifugo+redis
#                                             -redis (first) starts a throwaway
#                                             redis-server on a free loopback port
#                                             for the run and passes it as
#                                             -redis-url: the gateway and Centrifugo
#                                             on Redis share it (mode/centrifugo+redis)
#   ./scripts/bench.sh -install-only          install Centrifugo and print its path
#   BENCH_CACHE=DIR ./scripts/bench.sh        keep the binary in DIR/bin
#                                             (default ~/.cache/agentbench)

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CENTRIFUGO_MODULE=github.com/centrifugal/centrifugo/v6
# Keep equal to bench.CentrifugoVersion, which the tool checks in the binary.
CENTRIFUGO_VERSION=v6.9.1

# centrifugo_installed reports whether the binary at $1 is the pinned
# version, from the module version Go records in it.
centrifugo_installed() {
	[[ -x "$1" ]] &&
		go version -m "$1" | awk '$1 == "mod" { print $2 "@" $3 }' | grep -qxF "$CENTRIFUGO_MODULE@$CENTRIFUGO_VERSION"
}

# install_centrifugo installs the pinned Centrifugo into directory $1 unless
# it is there already. It runs outside the repository, so that nothing of
# it touches go.mod or go.sum.
install_centrifugo() {
	centrifugo_installed "$1/centrifugo" && return 0
	mkdir -p "$1"
	(cd / && GOBIN="$1" go install "$CENTRIFUGO_MODULE@$CENTRIFUGO_VERSION")
}

# start_redis starts redis-server, without persistence, on a free loopback
# port with its files in directory $1, waits until it answers, and prints
# its URL. REDIS_PID is its process id.
start_redis() {
	local port
	command -v redis-server >/dev/null || die "-redis needs redis-server (scripts/setup.sh installs it)"
	port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
	redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$1" >"$1/redis.log" 2>&1 &
	REDIS_PID=$!
	for _ in $(seq 100); do
		redis-cli -p "$port" ping >/dev/null 2>&1 && break
		sleep 0.05
	done
	redis-cli -p "$port" ping >/dev/null 2>&1 || die "redis-server did not start: $(cat "$1/redis.log")"
	printf 'redis://127.0.0.1:%s' "$port"
}

REDIS_PID=""

cleanup() {
	if [[ -n "$REDIS_PID" ]]; then
		kill "$REDIS_PID" 2>/dev/null || true
		wait "$REDIS_PID" 2>/dev/null || true
	fi
	rm -rf "$BENCH_TMP"
}

main() {
	use_go
	local bin pid url status=0
	bin="${BENCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/agentbench}/bin"
	if [[ "${1:-}" == -install-only ]]; then
		quietly install_centrifugo "$bin"
		say "$bin/centrifugo"
		return
	fi
	BENCH_TMP="$(mktemp -d)"
	trap cleanup EXIT
	local args=()
	if [[ "${1:-}" == -redis ]]; then
		shift
		mkdir -p "$BENCH_TMP/redis"
		# Not in $(…): REDIS_PID must be set in this shell.
		start_redis "$BENCH_TMP/redis" >"$BENCH_TMP/redis.url"
		url="$(cat "$BENCH_TMP/redis.url")"
		args=(-redis-url "$url")
	fi
	centrifugo_installed "$bin/centrifugo" || say "installing Centrifugo $CENTRIFUGO_VERSION into $bin (minutes the first time) …"
	quietly install_centrifugo "$bin" &
	pid=$!
	go build -o "$BENCH_TMP/agentbench" ./cmd/agentbench
	wait "$pid" || die "installing Centrifugo $CENTRIFUGO_VERSION failed"
	"$BENCH_TMP/agentbench" compare -peers centrifugo -centrifugo "$bin/centrifugo" "${args[@]}" "$@" || status=$?
	return "$status"
}

main "$@"
