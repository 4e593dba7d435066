package upstreamerr

import "testing"

func TestClassify(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		code, typ, message string
		want               Kind
	}{
		{"invalid_api_key", "invalid_request_error", "Incorrect API key provided", Unauthenticated},
		{"401", "", "Invalid API Key", Unauthenticated},
		{"", "authentication_error", "invalid x-api-key", Unauthenticated},
		{"rate_limit_exceeded", "tokens", "Request too large for gpt-4o on tokens per min (TPM)", RateLimited},
		{"insufficient_quota", "insufficient_quota", "You exceeded your current quota", RateLimited},
		{"", "rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit", RateLimited},
		{"429", "", "too many requests", RateLimited},
		{"RATE_LIMIT_EXCEEDED", "", "", RateLimited},
		{"context_length_exceeded", "invalid_request_error", "", ContextTooLong},
		{"400", "BadRequestError", "This model's maximum context length is 4096 tokens.", ContextTooLong},
		{"400", "exceed_context_size_error", "request (4476 tokens) exceeds the available context size (4096 tokens)", ContextTooLong},
		{"", "", "the input length exceeds the context length", ContextTooLong},
		{"", "", "The decoder prompt (length 5000) is longer than the maximum model length of 4096.", ContextTooLong},
		{"", "", "prompt is too long: 210000 tokens > 200000 maximum", ContextTooLong},
		{"ContextWindowExceededError", "", "litellm error", ContextTooLong},
		{"", "", "context shift failed", Other},
		{"model_overloaded", "", "The model is overloaded, try again later.", Other},
		{"", "", "", Other},
	} {
		if got := Classify(c.code, c.typ, c.message); got != c.want {
			t.Errorf("Classify(%q, %q, %q) = %v, want %v", c.code, c.typ, c.message, got, c.want)
		}
	}
}
