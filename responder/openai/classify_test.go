package openai

import (
	"net/http"
	"testing"
)

// inBand is a stream that sends the first n events of a recorded reply,
// then an error event with body as its data, and ends.
func inBand(t *testing.T, n int, body string) http.HandlerFunc {
	return streamOf(t, "openai_stop.sse", n, "data: "+body+"\n\n")
}

// TestErrorClassification checks on the wire that an error says what went
// wrong, by its code and type, whether it came as an HTTP status or inside a
// stream begun with 200: a refused key, a rate limit (retried only while
// nothing was written), and a conversation too long for the model, in the
// words of each kind of server, which wraps responder.ErrContextTooLong and
// is not retried. No message holds the key.
func TestErrorClassification(t *testing.T) {
	t.Parallel()
	contextMessages := []string{"too long for the model's context window", "CONTEXT_TOKENS"}
	runFailureCases(t, []failureCase{{
		name:     "in the stream: invalid_api_key, echoing the key",
		handlers: []http.HandlerFunc{inBand(t, 0, `{"error":{"message":"Incorrect API key provided: `+testKey+`.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}`)},
		code:     CodeUnauthenticated, requests: 1,
		message: []string{"refused the API key while streaming", "Incorrect API key provided: [redacted]", "check OPENAI_API_KEY"},
	}, {
		name:     "in the stream: a numeric code 401",
		handlers: []http.HandlerFunc{inBand(t, 0, `{"error":{"code":401,"message":"Invalid API Key","type":"authentication_error"}}`)},
		code:     CodeUnauthenticated, requests: 1,
		message: []string{"refused the API key while streaming", "Invalid API Key"},
	}, {
		name:     "in the stream after a delta: rate_limit_exceeded",
		handlers: []http.HandlerFunc{inBand(t, 2, `{"error":{"message":"Rate limit reached for gpt-4o-mini","type":"requests","code":"rate_limit_exceeded"}}`)},
		code:     CodeRateLimited, requests: 1, text: "Hello",
		message: []string{"rate-limiting requests", "Rate limit reached", "wait a little"},
	}, {
		name:     "in the stream before any delta: insufficient_quota, retried until the attempts run out",
		handlers: []http.HandlerFunc{inBand(t, 1, `{"error":{"message":"You exceeded your current quota","type":"insufficient_quota","code":"insufficient_quota"}}`)},
		code:     CodeRateLimited, requests: 3,
		message: []string{"You exceeded your current quota", "after 3 attempts"},
	}, {
		name: "in the stream before any delta: type rate_limit_error, then a reply",
		handlers: []http.HandlerFunc{
			inBand(t, 1, `{"error":{"type":"rate_limit_error","message":"Number of request tokens has exceeded your per-minute rate limit"}}`),
			replay(t, "openai_stop.sse")},
		requests: 2, text: "Hello! How can I help you today?",
	}, {
		name:     "429 for too many tokens a minute is a rate limit, not a context too long",
		handlers: []http.HandlerFunc{status(429, "application/json", `{"error":{"message":"Request too large for gpt-4o on tokens per min (TPM): Limit 30000, Requested 50000.","type":"tokens","code":"rate_limit_exceeded"}}`)},
		code:     CodeRateLimited, requests: 3,
		message: []string{"HTTP 429", "tokens per min"},
	}, {
		name:     "400 from OpenAI: context_length_exceeded",
		handlers: []http.HandlerFunc{status(400, "application/json", `{"error":{"message":"This model's maximum context length is 128000 tokens. However, your messages resulted in 130532 tokens. Please reduce the length of the messages.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}`)},
		code:     CodeContextTooLong, requests: 1,
		message: append([]string{"HTTP 400", "maximum context length is 128000 tokens"}, contextMessages...),
	}, {
		name:     "400 from vLLM: a top-level error object with a numeric code",
		handlers: []http.HandlerFunc{status(400, "application/json", `{"object":"error","message":"This model's maximum context length is 4096 tokens. However, you requested 5000 tokens (4000 in the messages, 1000 in the completion). Please reduce the length of the messages or completion.","type":"BadRequestError","param":null,"code":400}`)},
		code:     CodeContextTooLong, requests: 1,
		message: append([]string{"maximum context length is 4096 tokens"}, contextMessages...),
	}, {
		name:     "400 from llama.cpp: exceed_context_size_error",
		handlers: []http.HandlerFunc{status(400, "application/json", `{"error":{"code":400,"message":"request (4476 tokens) exceeds the available context size (4096 tokens)","type":"exceed_context_size_error","n_prompt_tokens":4476,"n_ctx":4096}}`)},
		code:     CodeContextTooLong, requests: 1,
		message: append([]string{"exceeds the available context size"}, contextMessages...),
	}, {
		name:     "500 from Ollama that does not truncate: not retried",
		handlers: []http.HandlerFunc{status(500, "application/json", `{"error":{"message":"the input length exceeds the context length","type":"api_error","param":null,"code":null}}`)},
		code:     CodeContextTooLong, requests: 1,
		message: append([]string{"HTTP 500", "the input length exceeds the context length"}, contextMessages...),
	}, {
		name:     "400 from a proxy of Anthropic: prompt is too long",
		handlers: []http.HandlerFunc{status(400, "application/json", `{"error":{"message":"litellm.BadRequestError: AnthropicException - prompt is too long: 210000 tokens > 200000 maximum","type":null,"param":null,"code":"400"}}`)},
		code:     CodeContextTooLong, requests: 1,
		message: append([]string{"prompt is too long"}, contextMessages...),
	}, {
		name:     "in the stream: llama.cpp's context size",
		handlers: []http.HandlerFunc{inBand(t, 3, `{"error":{"code":500,"message":"the request exceeds the available context size, try increasing it","type":"exceed_context_size_error"}}`)},
		code:     CodeContextTooLong, requests: 1, text: "Hello!",
		message: append([]string{"while streaming", "exceeds the available context size"}, contextMessages...),
	}, {
		name:     "400 that says something else",
		handlers: []http.HandlerFunc{status(400, "application/json", `{"error":{"message":"Invalid 'tools[0].function.name': string does not match pattern.","type":"invalid_request_error","param":"tools[0].function.name","code":"invalid_value"}}`)},
		code:     CodeFailed, requests: 1,
		message: []string{"rejected the request (HTTP 400", "does not match pattern"},
	}})
}

// TestParseAPIError reads the error bodies of every server shape, keeping
// what it can of a field of an unexpected type.
func TestParseAPIError(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		body string
		want apiError
	}{
		{`{"error":{"message":"m","type":"t","code":"c","param":null}}`, apiError{"m", "t", "c"}},
		{`{"error":{"message":"m","code":400}}`, apiError{Message: "m", Code: "400"}},
		{`{"error":{"message":"m","type":{"x":1},"code":[1]}}`, apiError{Message: "m"}},
		{`{"error":"model 'tiny' is loading"}`, apiError{Message: "model 'tiny' is loading"}},
		{`{"object":"error","message":"m","type":"BadRequestError","code":400}`, apiError{"m", "BadRequestError", "400"}},
		{`{"message":"just a message"}`, apiError{Message: "just a message"}},
		{"404 page not found\n", apiError{Message: "404 page not found"}},
		{"<html><body>502</body></html>", apiError{}},
		{`["not","an","object"]`, apiError{Message: `["not","an","object"]`}},
		{``, apiError{}},
	} {
		if got := parseAPIError([]byte(c.body)); got != c.want {
			t.Errorf("%s: %+v, want %+v", c.body, got, c.want)
		}
	}
}
