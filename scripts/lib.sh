# shellcheck shell=bash
# Helpers shared by scripts/setup.sh and scripts/test.sh. Source it; it
# changes the working directory to the repository root and sets strict mode.

set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"

# Nothing in these scripts may wait for a person: apt, npm and git all run
# without a terminal in CI.
export DEBIAN_FRONTEND=noninteractive
export GIT_TERMINAL_PROMPT=0

# say reports progress on stdout; log reports problems on stderr.
say() { printf '%s\n' "$*"; }
log() { printf '%s\n' "$*" >&2; }

die() {
	log "error: $*"
	exit 1
}

# now prints the wall clock in seconds with microseconds.
now() { printf '%s' "${EPOCHREALTIME/,/.}"; }

# since prints the seconds elapsed since a time taken with now.
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1fs", b - a }'; }

# quietly runs a command with its output captured, and prints the output only
# when the command fails, so that a successful run says nothing.
quietly() {
	local out status=0
	out="$(mktemp)"
	"$@" >"$out" 2>&1 </dev/null || status=$?
	if ((status != 0)); then
		cat "$out" >&2
		log "error: '$*' exited with status $status"
	fi
	rm -f "$out"
	return "$status"
}

# as_root runs a command as root: directly when we are root, else with sudo.
as_root() {
	if ((EUID == 0)); then
		"$@"
	elif command -v sudo >/dev/null; then
		sudo -n "$@"
	else
		die "'$*' needs root, and sudo is not installed"
	fi
}

# go_required prints the Go version that go.mod asks for, e.g. 1.26.8.
go_required() { awk '$1 == "go" { print $2; exit }' go.mod; }

# use_go puts the Go toolchain on PATH and makes sure it is new enough for
# go.mod. A Go older than go.mod (with GOTOOLCHAIN=local set by the machine)
# would refuse to build; GOTOOLCHAIN=auto makes it fetch the right one through
# the Go module proxy instead.
use_go() {
	if ! command -v go >/dev/null && [[ -x /usr/local/go/bin/go ]]; then
		export PATH="/usr/local/go/bin:$PATH"
	fi
	command -v go >/dev/null || die "Go $(go_required) or newer is needed and 'go' is not installed (see https://go.dev/doc/install)"
	local have want
	have="$(cd / && go env GOVERSION)"
	have="${have#go}"
	want="$(go_required)"
	if [[ "$(printf '%s\n%s\n' "$want" "$have" | sort -V | head -n1)" != "$want" ]]; then
		export GOTOOLCHAIN=auto
	fi
	PATH="$(cd / && go env GOPATH)/bin:$PATH"
	export PATH
}

# node_packages lists the directories of the repository's Node packages that
# have a lock file, skipping dependencies.
node_packages() {
	find . -name node_modules -prune -o -name .git -prune -o \
		-name package-lock.json -printf '%h\n' | sort
}
