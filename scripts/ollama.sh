#!/usr/bin/env bash
# Builds a real OpenAI-compatible model server for the end-to-end test of
# responder/openai: Ollama, with the shared tool beside the repository
# (../shared/tools/ollama, see its README.md), and writes the tiny model it
# serves. Idempotent: later runs find both and only print where they are.
#
# It prints the two variables the test reads, for eval:
#   eval "$(scripts/ollama.sh)"
#   go test -run TestOllama ./responder/openai/
#
# Without the shared tool it prints nothing: the test then skips itself,
# except in CI (CI=true), where this script fails instead.

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

tool="$REPO_ROOT/../shared/tools/ollama"
if [[ ! -f "$tool/build.sh" ]]; then
	[[ "${CI:-}" != true ]] || die "$tool/build.sh is missing: CI needs shared/ beside the clone to build Ollama"
	log "warning: $tool/build.sh is missing; the Ollama end-to-end test will skip"
	exit 0
fi
bin="$(bash "$tool/build.sh")"
gguf="$(dirname "$(dirname "$bin")")/tiny.gguf"
if [[ ! -s "$gguf" ]]; then
	python3 "$tool/tinygguf.py" "$gguf.tmp" >&2
	mv "$gguf.tmp" "$gguf"
fi
printf 'export OLLAMA_BIN=%q OLLAMA_TINY_GGUF=%q\n' "$bin" "$gguf"
