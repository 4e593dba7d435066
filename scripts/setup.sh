#!/usr/bin/env bash
# Installs everything the tests need on a fresh Debian machine, as root (or
# with sudo): Debian packages, Go modules, the pinned buf tool, and the Node
# packages that have a lock file. Safe to run again: each step skips what is
# already in place, so a second run takes seconds. It prints nothing when all
# goes well; a failing step prints its output and exits non-zero.
#
# To add a step, write a function and name it in SETUP_STEPS. To add a Debian
# package (chromium, say), name it in APT_PACKAGES; a Go binary (grpcurl,
# say), in GO_INSTALLS as NAME=MODULE/PATH@VERSION.

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Debian packages, each checked by the command or the file (an absolute path)
# it provides: COMMAND=PACKAGE or /PATH=PACKAGE. redis-server runs the Redis
# engine's tests; gcc and the C headers are what `go test -race` (cgo) needs;
# git, node and npm are on most machines already and are installed here only
# where they are missing; chromium runs the browser tests of clients/ts
# (playwright-core drives Debian's build and never downloads a browser).
APT_PACKAGES=(
	git=git
	gcc=gcc
	/usr/include/stdio.h=libc6-dev
	redis-server=redis-server
	node=nodejs
	npm=npm
	/usr/bin/chromium=chromium
)

# Go programs installed with `go install`, at pinned versions, into GOPATH/bin.
# grpcurl is the off-the-shelf gRPC client of the tool smoke tests.
GO_INSTALLS=(
	grpcurl=github.com/fullstorydev/grpcurl/cmd/grpcurl@v1.9.3
)

SETUP_STEPS=(
	apt_packages
	use_go
	go_modules
	go_tools
	go_installs
	node_packages_install
)

# apt_packages installs the missing Debian packages, refreshing the package
# lists first only when something is missing.
apt_packages() {
	local entry what missing=()
	for entry in "${APT_PACKAGES[@]}"; do
		what="${entry%%=*}"
		if [[ "$what" == /* ]]; then
			[[ -e "$what" ]] || missing+=("${entry#*=}")
		else
			command -v "$what" >/dev/null || missing+=("${entry#*=}")
		fi
	done
	((${#missing[@]} > 0)) || return 0
	command -v apt-get >/dev/null || die "missing ${missing[*]}, and apt-get is not available to install them"
	quietly as_root apt-get -o DPkg::Lock::Timeout=300 update -q
	quietly as_root apt-get -o DPkg::Lock::Timeout=300 install -y -q --no-install-recommends "${missing[@]}"
}

# go_modules downloads the modules of the main and the tools module, so that
# later steps and the tests need no network.
go_modules() {
	quietly go mod download
	quietly go mod download -modfile=tools/go.mod
}

# go_tools builds buf and the protoc plugins pinned in tools/go.mod. `go tool`
# keeps the built programs in the build cache, so the first build (minutes)
# happens here and every later `go tool` call starts at once.
go_tools() {
	local tool
	for tool in buf protoc-gen-go protoc-gen-connect-go; do
		quietly go tool -modfile=tools/go.mod "$tool" --version
	done
}

# go_installs installs each GO_INSTALLS entry unless GOPATH/bin already holds
# that version.
go_installs() {
	local entry name target bin
	for entry in ${GO_INSTALLS[@]+"${GO_INSTALLS[@]}"}; do
		name="${entry%%=*}"
		target="${entry#*=}"
		bin="$(go env GOPATH)/bin/$name"
		if [[ -x "$bin" ]] && go version -m "$bin" | awk '$1 == "mod" { print $3 }' | grep -qxF "${target##*@}"; then
			continue
		fi
		quietly go install "$target"
	done
}

# node_packages_install runs `npm ci` in every directory with a
# package-lock.json, unless node_modules was installed from that same lock
# file by the same Node version.
node_packages_install() {
	local dir stamp want
	while read -r dir; do
		stamp="$dir/node_modules/.setup-stamp"
		want="$(node --version) $(sha256sum <"$dir/package-lock.json")"
		if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
			continue
		fi
		(cd "$dir" && quietly npm ci --no-audit --no-fund)
		printf '%s\n' "$want" >"$stamp"
	done < <(node_packages)
}

main() {
	trap '(($? == 0)) || log "error: setup step $SETUP_STEP failed"' EXIT
	for SETUP_STEP in "${SETUP_STEPS[@]}"; do
		"$SETUP_STEP"
	done
}

main "$@"
