package bridge

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"connectrpc.com/connect"
	"github.com/agentgate/agentgate/internal/clip"
	"github.com/agentgate/agentgate/internal/pbjson"
	"google.golang.org/protobuf/proto"
)

// maxIDLen is the longest request id a client may use.
const maxIDLen = 128

// clientFrame is one decoded client → server frame: a call
// ({"id", "method", "request"}), a cancel ({"id", "cancel": true}), a
// refresh of the socket's token ({"id", "refresh": {"token"}}) or, for a
// text frame that is not a JSON object, the shorthand for the text method.
type clientFrame struct {
	id      string
	hasID   bool
	method  string
	request []byte // raw JSON object; nil when absent or null
	cancel  bool
	// refresh is set for a refresh frame, token is its token.
	refresh bool
	token   string
	// shorthand frames carry their whole text in text.
	shorthand bool
	text      string
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
//
// The frame is checked with json.Valid, then split into its members by hand:
// decoding it into a struct would allocate for every field and scan the
// request twice, on every frame. f.request aliases data.
func parseFrame(data []byte) (clientFrame, error) {
	if !isObject(data) {
		return clientFrame{shorthand: true, text: string(data)}, nil
	}
	if !json.Valid(data) {
		return clientFrame{}, syntaxError(data)
	}
	var id, method, request, cancel, refresh, unknown []byte
	eachMember(data, func(key, value []byte) bool {
		switch string(key) {
		case `"id"`:
			id = value
		case `"method"`:
			method = value
		case `"request"`:
			request = value
		case `"cancel"`:
			cancel = value
		case `"refresh"`:
			refresh = value
		default:
			unknown = key
			return false
		}
		return true
	})
	if unknown != nil {
		return clientFrame{}, invalidFrame("unknown field %s in frame; a frame has id, method, request, cancel and refresh", clip.String(string(unknown), 66))
	}
	var f clientFrame
	var ok bool
	if !isNull(id) {
		if f.id, ok = jsonString(id); !ok {
			return clientFrame{}, invalidFrame("id must be a string")
		}
		if len(f.id) > maxIDLen {
			return clientFrame{}, invalidFrame("id is %d bytes long; the limit is %d", len(f.id), maxIDLen)
		}
		f.hasID = true
	}
	if !isNull(method) {
		if f.method, ok = jsonString(method); !ok {
			return f, invalidFrame("method must be a string")
		}
	}
	switch string(cancel) {
	case "", "null", "false":
	case "true":
		f.cancel = true
	default:
		return f, invalidFrame("cancel must be true or false")
	}
	if !isNull(request) {
		if request[0] != '{' {
			return f, invalidFrame("request must be a JSON object")
		}
		f.request = request
	}
	if !isNull(refresh) {
		if f.method != "" || f.request != nil || f.cancel {
			return f, invalidFrame("a frame either calls a method, cancels a request or refreshes the token, not several")
		}
		if f.token, ok = refreshToken(refresh); !ok {
			return f, invalidFrame(`refresh must be {"token":"<a fresh token>"}`)
		}
		f.refresh = true
		return f, nil
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

// refreshToken reads the token of a refresh frame's member, {"token":
// "…"}: a JSON object with one non-empty string member, token.
func refreshToken(raw []byte) (string, bool) {
	if raw[0] != '{' {
		return "", false
	}
	var token []byte
	n := 0
	eachMember(raw, func(key, value []byte) bool {
		n++
		if string(key) == `"token"` {
			token = value
		}
		return true
	})
	if n != 1 || token == nil {
		return "", false
	}
	t, ok := jsonString(token)
	return t, ok && t != ""
}

// syntaxError describes why data is not valid JSON.
func syntaxError(data []byte) *frameError {
	var v json.RawMessage
	err := json.Unmarshal(data, &v)
	switch {
	case err == nil:
		return invalidFrame("frame is not valid JSON")
	case strings.HasSuffix(err.Error(), "after top-level value"):
		return invalidFrame("frame has data after its JSON object; send one object per frame")
	case strings.Contains(err.Error(), "unexpected end of JSON input"):
		return invalidFrame("frame is not valid JSON: it ends too early")
	}
	return invalidFrame("frame is not valid JSON: %s", strings.TrimPrefix(err.Error(), "json: "))
}

// eachMember calls fn with the quoted key and the raw value of each member
// of the JSON object in data, which must be valid JSON, until fn returns
// false.
func eachMember(data []byte, fn func(key, value []byte) bool) {
	i := skipSpace(data, 0) + 1 // past '{'
	for {
		i = skipSpace(data, i)
		switch data[i] {
		case '}':
			return
		case ',':
			i = skipSpace(data, i+1)
		}
		keyEnd := skipString(data, i)
		key := data[i:keyEnd]
		i = skipSpace(data, skipSpace(data, keyEnd)+1) // past ':'
		valueEnd := skipValue(data, i)
		if !fn(key, data[i:valueEnd]) {
			return
		}
		i = valueEnd
	}
}

func skipSpace(data []byte, i int) int {
	for i < len(data) && isSpace(data[i]) {
		i++
	}
	return i
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// skipString returns the index after the string that starts at data[i].
func skipString(data []byte, i int) int {
	for i++; ; i++ {
		switch data[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
}

// skipValue returns the index after the value that starts at data[i].
func skipValue(data []byte, i int) int {
	switch data[i] {
	case '"':
		return skipString(data, i)
	case '{', '[':
		depth := 0
		for ; ; i++ {
			switch data[i] {
			case '"':
				i = skipString(data, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
		}
	}
	// A number or a literal.
	for i < len(data) && data[i] != ',' && data[i] != '}' && data[i] != ']' && !isSpace(data[i]) {
		i++
	}
	return i
}

// jsonString decodes a raw JSON value that should be a string.
func jsonString(raw []byte) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' {
		return "", false
	}
	if bytes.IndexByte(raw, '\\') < 0 && utf8.Valid(raw) {
		return string(raw[1 : len(raw)-1]), true
	}
	var s string
	err := json.Unmarshal(raw, &s)
	return s, err == nil
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

func isNull(raw []byte) bool { return len(raw) == 0 || string(raw) == "null" }

// Server → client frames are built by appending to pooled buffers: a prefix
// that carries the request id, then the body. The messages are in
// protobuf's canonical JSON, as Connect's JSON codec writes them
// (protojson); package pbjson writes them, in a fraction of protojson's
// time.

// framePrefix returns the start of every frame answering a request:
// {"id":"…", or just { when the request had no id.
func framePrefix(id string, hasID bool) string {
	if !hasID {
		return "{"
	}
	b := appendJSONString([]byte(`{"id":`), id)
	return string(append(b, ','))
}

// appendEnd appends {…"end":true}.
func appendEnd(b []byte, prefix string) []byte {
	b = append(b, prefix...)
	return append(b, `"end":true}`...)
}

// appendError appends {…"error":{"code":…,"message":…}}, with
// "retryAfter":<seconds> when retry is positive. code is a Connect code
// name in snake_case.
func appendError(b []byte, prefix, code, msg string, retry int) []byte {
	b = append(b, prefix...)
	b = append(b, `"error":{"code":`...)
	b = appendJSONString(b, code)
	b = append(b, `,"message":`...)
	b = appendJSONString(b, msg)
	if retry > 0 {
		b = append(b, `,"retryAfter":`...)
		b = strconv.AppendInt(b, int64(retry), 10)
	}
	return append(b, "}}"...)
}

// appendEvent appends {"event":<ev>}.
func appendEvent(b []byte, enc *pbjson.Encoder, ev proto.Message) ([]byte, error) {
	b = append(b, `{"event":`...)
	b, err := enc.Append(b, ev)
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
