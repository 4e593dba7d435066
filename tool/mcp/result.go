package mcp

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/agentgate/agentgate/tool"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
)

// result turns an MCP tool result into the text the model is given (see
// the package doc for how each kind of content reads), cut to max bytes.
// It returns the length of the whole text, before any cut.
func result(res *sdk.CallToolResult, max int) (tool.Result, int) {
	var parts []string
	for _, c := range res.Content {
		parts = append(parts, contentText(c))
	}
	if res.StructuredContent != nil {
		if js, err := json.Marshal(res.StructuredContent); err == nil && !containsJSON(parts, js) {
			parts = append(parts, string(js))
		}
	}
	out := strings.Join(parts, "\n")
	return tool.Result{Output: cut(out, max), IsError: res.IsError}, len(out)
}

// contentText is one content block as text: text as it is, anything else
// as a short description in brackets.
func contentText(c sdk.Content) string {
	switch c := c.(type) {
	case *sdk.TextContent:
		return c.Text
	case *sdk.ImageContent:
		return fmt.Sprintf("[image: %s, %d bytes]", orUnknown(c.MIMEType), len(c.Data))
	case *sdk.AudioContent:
		return fmt.Sprintf("[audio: %s, %d bytes]", orUnknown(c.MIMEType), len(c.Data))
	case *sdk.ResourceLink:
		s := "[resource link: " + c.URI
		if c.Name != "" {
			s += " (" + c.Name + ")"
		}
		if c.Description != "" {
			s += ": " + c.Description
		}
		return s + "]"
	case *sdk.EmbeddedResource:
		r := c.Resource
		if r == nil {
			return "[resource]"
		}
		if r.Text != "" {
			return "[resource: " + r.URI + "]\n" + r.Text
		}
		return fmt.Sprintf("[resource: %s, %s, %d bytes]", r.URI, orUnknown(r.MIMEType), len(r.Blob))
	default:
		return fmt.Sprintf("[%T content]", c)
	}
}

func orUnknown(mime string) string {
	if mime == "" {
		return "unknown type"
	}
	return mime
}

// containsJSON reports whether one of the text parts is the JSON js, as
// the text a server sends along with its structured content, for clients
// that read text only, usually is: the model then reads it once. Both are
// compared in one form, so that the order of keys and the spaces do not
// matter.
func containsJSON(parts []string, js []byte) bool {
	want, ok := canonical(js)
	if !ok {
		return false
	}
	for _, p := range parts {
		if got, ok := canonical([]byte(p)); ok && bytes.Equal(got, want) {
			return true
		}
	}
	return false
}

// canonical is the JSON b as Go marshals what it decodes to: object keys
// sorted, no spaces.
func canonical(b []byte) ([]byte, bool) {
	var v any
	if json.Unmarshal(b, &v) != nil {
		return nil, false
	}
	out, err := json.Marshal(v)
	return out, err == nil
}

// cut is tool.Cut: the marker of a cut result is the same whichever
// source's it is.
func cut(s string, max int) string { return tool.Cut(s, max) }
