package agui

import (
	"bytes"
	"encoding/json"
	"errors"
)

// Content is the content of a message or a tool result: a JSON string, or
// an array of content parts (text, image, audio, video, document). It is
// kept as the JSON that was sent and read on demand (Parts, Text), so that
// a message whose content the gateway does not read never makes it refuse
// the input, and the reader that does read it can say where it is wrong.
//
// The zero Content is absent: a field tagged omitempty leaves it out, and
// one that is required is written as "".
type Content []byte

// TextContent is s as a JSON string. HTML characters are not escaped: an
// encoder that escapes them does so when it writes the Content, so the
// bytes on the wire are what a string field would have made.
func TextContent(s string) Content {
	b, _ := marshal(s) // a string always encodes
	return Content(b)
}

// marshal is json.Marshal without escaping HTML characters, which is the
// business of the encoder that writes the result: the result is embedded in
// the output of an outer encoder, which escapes them if it is set to.
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// MarshalJSON implements json.Marshaler.
func (c Content) MarshalJSON() ([]byte, error) {
	if len(c) == 0 {
		return []byte(`""`), nil
	}
	return c, nil
}

// UnmarshalJSON implements json.Unmarshaler: it keeps a copy of b.
func (c *Content) UnmarshalJSON(b []byte) error {
	*c = append((*c)[:0], b...)
	return nil
}

// ContentPart is one part of a content array. Only text parts carry text;
// the other fields of a media part (its source) are not read.
type ContentPart struct {
	Type string `json:"type"`
	Text string `json:"text,omitempty"`
}

// PartText is the type of a text part.
const PartText = "text"

// errContentShape is what Parts returns for content that is neither a
// string nor an array of content parts.
var errContentShape = errors.New("must be a string or an array of content parts")

// Parts returns the content as parts: a string is one text part, absent or
// null content none. Content that is neither a string nor an array of
// objects is an error.
func (c Content) Parts() ([]ContentPart, error) {
	if len(c) == 0 || string(c) == "null" {
		return nil, nil
	}
	var s string
	if err := json.Unmarshal(c, &s); err == nil {
		return []ContentPart{{Type: PartText, Text: s}}, nil
	}
	var parts []ContentPart
	if err := json.Unmarshal(c, &parts); err != nil {
		return nil, errContentShape
	}
	return parts, nil
}

// Text returns the content as one string, as @ag-ui/core's contentToText
// does: the string itself, or the text parts concatenated in order with
// every other part dropped.
func (c Content) Text() (string, error) {
	parts, err := c.Parts()
	if err != nil {
		return "", err
	}
	var b []byte
	for _, p := range parts {
		if p.Type == PartText {
			b = append(b, p.Text...)
		}
	}
	return string(b), nil
}
