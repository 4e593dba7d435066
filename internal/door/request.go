package door

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// DecodeBody reads r's JSON body into v, at most MaxBodyBytes of it (413
// beyond). The body must be one JSON object: null, which encoding/json
// would take as an empty object, is refused like any other value that is
// not one. Unknown fields are ignored: the clients send more than a door
// uses, and newer clients more still.
func (c *Config) DecodeBody(w http.ResponseWriter, r *http.Request, v any) *Error {
	body := http.MaxBytesReader(w, r.Body, c.MaxBodyBytes)
	dec := json.NewDecoder(body)
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		return bodyError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		if errors.As(err, new(*http.MaxBytesError)) {
			return bodyError(err)
		}
		return Invalid("the body holds more than one JSON value")
	}
	if string(raw) == "null" {
		return Invalid("the body is null; send a JSON object")
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return bodyError(err)
	}
	return nil
}

// bodyError says what is wrong with a body that could not be decoded.
func bodyError(err error) *Error {
	var tooBig *http.MaxBytesError
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &tooBig):
		return &Error{Status: http.StatusRequestEntityTooLarge, Code: "resource_exhausted",
			Message: fmt.Sprintf("the body is larger than %d bytes (READ_MAX_BYTES)", tooBig.Limit)}
	case errors.Is(err, io.EOF):
		return Invalid("the body is empty; send a JSON object")
	case errors.As(err, &syntax), errors.Is(err, io.ErrUnexpectedEOF):
		return Invalid("the body is not valid JSON: " + err.Error())
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "the body"
		}
		return Invalid(fmt.Sprintf("%s must be %s, not a JSON %s", field, jsonKind(typ.Type.Kind().String()), typ.Value))
	}
	return Invalid("the body could not be read: " + err.Error())
}

func jsonKind(goKind string) string {
	switch goKind {
	case "struct", "map":
		return "an object"
	case "slice":
		return "an array"
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	}
	return "a " + goKind
}
