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

main() {
	use_go
	local bin pid status=0
	bin="${BENCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/agentbench}/bin"
	if [[ "${1:-}" == -install-only ]]; then
		quietly install_centrifugo "$bin"
		say "$bin/centrifugo"
		return
	fi
	BENCH_TMP="$(mktemp -d)"
	trap 'rm -rf "$BENCH_TMP"' EXIT
	centrifugo_installed "$bin/centrifugo" || say "installing Centrifugo $CENTRIFUGO_VERSION into $bin (minutes the first time) …"
	quietly install_centrifugo "$bin" &
	pid=$!
	go build -o "$BENCH_TMP/agentbench" ./cmd/agentbench
	wait "$pid" || die "installing Centrifugo $CENTRIFUGO_VERSION failed"
	"$BENCH_TMP/agentbench" compare -peers centrifugo -centrifugo "$bin/centrifugo" "$@" || status=$?
	return "$status"
}

main "$@"
