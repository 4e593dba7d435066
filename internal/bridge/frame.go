package bridge

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// maxIDLen is the longest request id a client may use.
const maxIDLen = 128

// clientFrame is one decoded client → server frame: a call
// ({"id", "method", "request"}), a cancel ({"id", "cancel": true}) or, for
// a text frame that is not a JSON object, the shorthand for the text method.
type clientFrame struct {
	id      string
	hasID   bool
	method  string
	request []byte // raw JSON object; nil when absent or null
	cancel  bool
	// shorthand frames carry their whole text in text.
	shorthand bool
	text      string
}

// wireFrame is the JSON shape of a client frame. The fields stay raw so that
// a value of the wrong type gets a message naming the field rather than a Go
// type.
type wireFrame struct {
	ID      json.RawMessage `json:"id"`
	Method  json.RawMessage `json:"method"`
	Request json.RawMessage `json:"request"`
	Cancel  json.RawMessage `json:"cancel"`
}

// frameError is a frame the bridge refuses; it becomes an error frame with
// its Connect code.
type frameError struct {
	code connect.Code
	msg  string
}

func (e *frameError) Error() string { return e.msg }

func invalidFrame(format string, args ...any) *frameError {
	return &frameError{code: connect.CodeInvalidArgument, msg: fmt.Sprintf(format, args...)}
}

// parseFrame decodes a client frame. A frame whose first non-space character
// is not '{' is shorthand for the text method. On error, the returned frame
// still carries the id when it could be read, so that the error frame can
// name it.
func parseFrame(data []byte) (clientFrame, error) {
	if !isObject(data) {
		return clientFrame{shorthand: true, text: string(data)}, nil
	}
	var w wireFrame
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		return clientFrame{}, jsonError(err)
	}
	if rest := bytes.TrimLeft(data[dec.InputOffset():], " \t\r\n"); len(rest) > 0 {
		return clientFrame{}, invalidFrame("frame has data after its JSON object; send one object per frame")
	}
	var f clientFrame
	if !isNull(w.ID) {
		if err := json.Unmarshal(w.ID, &f.id); err != nil {
			return clientFrame{}, invalidFrame("id must be a string")
		}
		if len(f.id) > maxIDLen {
			return clientFrame{}, invalidFrame("id is %d bytes long; the limit is %d", len(f.id), maxIDLen)
		}
		f.hasID = true
	}
	if !isNull(w.Method) {
		if err := json.Unmarshal(w.Method, &f.method); err != nil {
			return f, invalidFrame("method must be a string")
		}
	}
	if !isNull(w.Cancel) {
		if err := json.Unmarshal(w.Cancel, &f.cancel); err != nil {
			return f, invalidFrame("cancel must be true or false")
		}
	}
	if !isNull(w.Request) {
		if !isObject(w.Request) {
			return f, invalidFrame("request must be a JSON object")
		}
		f.request = w.Request
	}
	switch {
	case f.cancel && !f.hasID:
		return f, invalidFrame("cancel needs the id of the request to cancel")
	case f.cancel && (f.method != "" || f.request != nil):
		return f, invalidFrame("a frame either calls a method or cancels a request, not both")
	case !f.cancel && f.method == "":
		return f, invalidFrame(`method is required, as in {"id":"1","method":"SendMessage","request":{"text":"hi"}}`)
	}
	return f, nil
}

// jsonError rewords an encoding/json error for a client who never saw the Go
// types.
func jsonError(err error) *frameError {
	msg := err.Error()
	if field, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		return invalidFrame("unknown field %s in frame; a frame has id, method, request and cancel", field)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return invalidFrame("frame is not valid JSON: it ends too early")
	}
	return invalidFrame("frame is not valid JSON: %s", strings.TrimPrefix(msg, "json: "))
}

// isObject reports whether data's first non-space byte opens a JSON object.
func isObject(data []byte) bool {
	for _, c := range data {
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		}
		return c == '{'
	}
	return false
}

func isNull(raw json.RawMessage) bool {
	return len(raw) == 0 || string(raw) == "null"
}

// Server → client frames are built by appending to pooled buffers: a prefix
// that carries the request id, then the body. protojson writes the messages
// in protobuf's canonical JSON, as Connect's JSON codec does.

var jsonOpts = protojson.MarshalOptions{}

// framePrefix returns the start of every frame answering a request:
// {"id":"…", or just { when the request had no id.
func framePrefix(id string, hasID bool) string {
	if !hasID {
		return "{"
	}
	b := appendJSONString([]byte(`{"id":`), id)
	return string(append(b, ','))
}

// appendResponse appends {…"response":<msg>}.
func appendResponse(b []byte, prefix string, msg proto.Message) ([]byte, error) {
	b = append(b, prefix...)
	b = append(b, `"response":`...)
	b, err := jsonOpts.MarshalAppend(b, msg)
	return append(b, '}'), err
}

// appendEnd appends {…"end":true}.
func appendEnd(b []byte, prefix string) []byte {
	b = append(b, prefix...)
	return append(b, `"end":true}`...)
}

// appendError appends {…"error":{"code":…,"message":…}}. code is a Connect
// code name in snake_case.
func appendError(b []byte, prefix, code, msg string) []byte {
	b = append(b, prefix...)
	b = append(b, `"error":{"code":`...)
	b = appendJSONString(b, code)
	b = append(b, `,"message":`...)
	b = appendJSONString(b, msg)
	return append(b, "}}"...)
}

// appendEvent appends {"event":<ev>}.
func appendEvent(b []byte, ev proto.Message) ([]byte, error) {
	b = append(b, `{"event":`...)
	b, err := jsonOpts.MarshalAppend(b, ev)
	return append(b, '}'), err
}

// appendJSONString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD;
// U+2028 and U+2029 are escaped, as encoding/json does, for JavaScript
// parsers older than ES2019.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
