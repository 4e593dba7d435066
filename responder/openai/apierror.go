package openai

import (
	"bytes"
	"encoding/json"
	"strings"
)

// apiError is what a model server says of a failure, in an error
// response's body or in an error event of a stream.
type apiError struct {
	// Message is the server's explanation, for people.
	Message string
	// Type and Code classify it, where the server does: OpenAI's type
	// ("invalid_request_error", "rate_limit_error") and code
	// ("invalid_api_key", "context_length_exceeded"); a numeric code, as
	// llama.cpp and vLLM send the HTTP status, is kept as its digits.
	Type, Code string
}

// parseAPIError reads an error body in any of the shapes servers send:
// OpenAI's {"error":{"message","type","code"}}, a top-level {"error":"…"}
// (Ollama's native API), a top-level {"message","type","code"} (vLLM's
// {"object":"error",…}), or a short plain-text body. An HTML page says
// nothing a person could act on here, and gives an empty apiError.
func parseAPIError(body []byte) apiError {
	var top struct {
		Error json.RawMessage `json:"error"`
		apiFields
	}
	if json.Unmarshal(body, &top) != nil {
		text := strings.TrimSpace(string(body))
		if strings.HasPrefix(text, "<") {
			return apiError{}
		}
		return apiError{Message: text}
	}
	var s string
	if json.Unmarshal(top.Error, &s) == nil && s != "" {
		return apiError{Message: s}
	}
	var nested apiFields
	if json.Unmarshal(top.Error, &nested) == nil && nested != (apiFields{}) {
		return nested.apiError()
	}
	return top.apiFields.apiError()
}

// apiFields are the fields of an error object. Each is decoded on its own,
// so that a field of an unexpected type loses only itself.
type apiFields struct {
	Message, Type, Code lenient
}

func (f apiFields) apiError() apiError {
	return apiError{Message: string(f.Message), Type: string(f.Type), Code: string(f.Code)}
}

// lenient is a string field that also takes a number (kept as its digits)
// and takes anything else as empty.
type lenient string

func (l *lenient) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		*l = lenient(s)
		return nil
	}
	var n json.Number
	if json.Unmarshal(b, &n) == nil {
		*l = lenient(n)
	}
	return nil
}

// What an apiError reports, as far as a client could act on it.
type errKind int

const (
	kindOther errKind = iota
	kindUnauthenticated
	kindRateLimited
	kindContextTooLong
)

// kind classifies the error by its code and type, and for a conversation
// too long by its words too, since servers word it differently and most
// give it no code of its own.
func (e apiError) kind() errKind {
	switch strings.ToLower(e.Code) {
	case "invalid_api_key", "401":
		return kindUnauthenticated
	case "rate_limit_exceeded", "insufficient_quota", "429":
		return kindRateLimited
	case "context_length_exceeded":
		return kindContextTooLong
	}
	switch strings.ToLower(e.Type) {
	case "authentication_error":
		return kindUnauthenticated
	case "rate_limit_error", "insufficient_quota":
		return kindRateLimited
	case "exceed_context_size_error", "context_length_exceeded":
		return kindContextTooLong
	}
	if saysContextTooLong(e.Message) {
		return kindContextTooLong
	}
	return kindOther
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
//   - LiteLLM: "ContextWindowExceededError".
//
// A rate limit on tokens ("Request too large for gpt-4o … on tokens per
// min") is not one: it comes with status 429 or a rate limit code, which
// are classified first.
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

func saysContextTooLong(msg string) bool {
	lower := bytes.ToLower([]byte(msg))
	for _, w := range contextTooLongWords {
		if bytes.Contains(lower, []byte(w)) {
			return true
		}
	}
	return false
}
