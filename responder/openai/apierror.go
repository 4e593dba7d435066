package openai

import (
	"encoding/json"
	"strings"

	"github.com/agentgate/agentgate/internal/upstreamerr"
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

// kind classifies the error by its code, type and words.
func (e apiError) kind() upstreamerr.Kind { return upstreamerr.Classify(e.Code, e.Type, e.Message) }
