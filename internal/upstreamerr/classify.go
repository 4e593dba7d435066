// Package upstreamerr classifies what an upstream says of a failure (a
// model server's error body or error event, an AG-UI agent's RUN_ERROR) by
// its code, its type and its words, so that the built-in responders give
// the same failure the same run error code, whichever upstream reported it.
package upstreamerr

import "strings"

// Kind is what a failure is, as far as a client or the gateway could act on
// it.
type Kind int

// The kinds of failures.
const (
	// Other is any failure not below.
	Other Kind = iota
	// Unauthenticated: the upstream refused the credentials.
	Unauthenticated
	// RateLimited: the upstream asks to wait (rate limits, quotas).
	RateLimited
	// ContextTooLong: the conversation does not fit in the model's context
	// window; the same request would fail again, a shorter one may not.
	ContextTooLong
)

// Classify says what a failure is from its code and type, as OpenAI names
// them ("invalid_api_key", "rate_limit_error"; a numeric code is the HTTP
// status some servers put there), and, for a conversation too long, from
// its words too, since servers word it differently and most give it no
// code of its own. Codes and types are compared without regard to case;
// the code comes first, so that a rate limit on tokens per minute, whose
// words mention tokens, stays a rate limit.
func Classify(code, typ, message string) Kind {
	switch strings.ToLower(code) {
	case "invalid_api_key", "401":
		return Unauthenticated
	case "rate_limit_exceeded", "insufficient_quota", "429":
		return RateLimited
	case "context_length_exceeded", "exceed_context_size_error":
		return ContextTooLong
	}
	switch strings.ToLower(typ) {
	case "authentication_error":
		return Unauthenticated
	case "rate_limit_error", "insufficient_quota":
		return RateLimited
	case "exceed_context_size_error", "context_length_exceeded":
		return ContextTooLong
	}
	if saysContextTooLong(code) || saysContextTooLong(message) {
		return ContextTooLong
	}
	return Other
}

// contextTooLongWords are how servers say that a conversation does not fit
// the model's context window, lower-cased:
//
//   - OpenAI, vLLM, OpenRouter, Groq: "This model's maximum context length
//     is 8192 tokens. However, your messages resulted in …. Please reduce
//     the length of the messages."
//   - vLLM: "The decoder prompt (length 5000) is longer than the maximum
//     model length of 4096."
//   - llama.cpp's server: "the request exceeds the available context size,
//     try increasing it", or "request (4476 tokens) exceeds the available
//     context size (4096 tokens)" (type exceed_context_size_error).
//   - Ollama, when it does not truncate: "the input length exceeds the
//     context length", "input exceeds maximum context length".
//   - Anthropic and Bedrock behind a proxy: "prompt is too long: 210000
//     tokens > 200000 maximum", "Input is too long for requested model".
//   - LiteLLM and agent frameworks that name the exception:
//     "ContextWindowExceededError".
var contextTooLongWords = []string{
	"maximum context length",
	"context length exceeded",
	"reduce the length of the messages",
	"longer than the maximum model length",
	"exceeds the available context size",
	"exceeds the context length",
	"exceeds maximum context length",
	"prompt is too long",
	"input is too long",
	"contextwindowexceeded",
	"context window exceeded",
}

func saysContextTooLong(s string) bool {
	lower := strings.ToLower(s)
	for _, w := range contextTooLongWords {
		if strings.Contains(lower, w) {
			return true
		}
	}
	return false
}
