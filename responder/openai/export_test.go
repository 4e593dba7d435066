package openai

import "testing"

// Test hooks for the external test package, which runs the whole gateway
// with this responder and so cannot be this package.

// StartOllama runs Ollama for a test; see startOllama.
func StartOllama(t *testing.T, bin string) string { return startOllama(t, bin) }

// CreateModel creates the tiny model; see createModel.
func CreateModel(t *testing.T, bin, base, gguf string, numPredict int) {
	createModel(t, bin, base, gguf, numPredict)
}
