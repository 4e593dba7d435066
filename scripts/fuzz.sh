#!/usr/bin/env bash
# Runs every fuzz target of the module, one at a time, each for a bounded
# time. CI runs the targets on their seed corpora only (as go test does);
# this is the search for new inputs, to run before closing any change to a
# decoder of untrusted input.
#
# Usage:
#   ./scripts/fuzz.sh                    every target, 60s each
#   FUZZ_TIME=10s ./scripts/fuzz.sh      every target, 10s each (any -fuzztime value)
#   FUZZ_MATCH=origin ./scripts/fuzz.sh  only the targets whose package or name matches (grep -E)
#
# A target that fails writes the input that failed it under its package's
# testdata/fuzz/<target>/: keep that file, it is the seed that proves the
# fix. The script goes on with the other targets, lists those that failed,
# and exits 1 if any did.

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

FUZZ_TIME="${FUZZ_TIME:-60s}"
FUZZ_MATCH="${FUZZ_MATCH:-.}"

# targets prints "package target" for every fuzz target of the module. Only
# packages with a test file that declares one are compiled to list them.
targets() {
	local pkg dir name
	while read -r pkg dir; do
		grep -qs '^func Fuzz' "$dir"/*_test.go || continue
		while read -r name; do
			if [[ "$name" == Fuzz* ]]; then
				printf '%s %s\n' "$pkg" "$name"
			fi
		done < <(go test -list '^Fuzz' "$pkg")
	done < <(go list -f '{{.ImportPath}} {{.Dir}}' ./...)
}

main() {
	local list pkg name start failed=() count=0
	use_go
	list="$(targets | grep -E -- "$FUZZ_MATCH" || true)"
	[[ -n "$list" ]] || die "no fuzz target matches FUZZ_MATCH=$FUZZ_MATCH"
	say "$(wc -l <<<"$list") fuzz targets, $FUZZ_TIME each"
	while read -r pkg name; do
		count=$((count + 1))
		start="$(now)"
		say "==> $name ($pkg)"
		if go test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZ_TIME" "$pkg"; then
			say "--- ok: $name ($(since "$start"))"
		else
			log "--- FAIL: $name ($(since "$start")): the failing input is under $(go list -f '{{.Dir}}' "$pkg")/testdata/fuzz/$name/"
			failed+=("$pkg $name")
		fi
	done <<<"$list"
	if ((${#failed[@]} > 0)); then
		log "${#failed[@]} of $count fuzz targets failed:"
		printf '  %s\n' "${failed[@]}" >&2
		exit 1
	fi
	say "all $count fuzz targets ran $FUZZ_TIME each without a failure"
}

main
