package mcp

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/agentgate/agentgate/tool"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
)

func TestResult(t *testing.T) {
	t.Parallel()
	size := int64(9)
	for _, c := range []struct {
		name string
		res  *sdk.CallToolResult
		want string
	}{
		{"texts joined", &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: "a"}, &sdk.TextContent{Text: "b"}}}, "a\nb"},
		{"nothing", &sdk.CallToolResult{}, ""},
		{"structured alone", &sdk.CallToolResult{StructuredContent: map[string]any{"b": 1, "a": []any{true}}}, `{"a":[true],"b":1}`},
		{"structured with its text", &sdk.CallToolResult{
			Content:           []sdk.Content{&sdk.TextContent{Text: `{ "b": 1,  "a": [true] }`}},
			StructuredContent: map[string]any{"a": []any{true}, "b": 1},
		}, `{ "b": 1,  "a": [true] }`},
		{"structured with other text", &sdk.CallToolResult{
			Content:           []sdk.Content{&sdk.TextContent{Text: "42 m"}},
			StructuredContent: map[string]any{"answer": 42},
		}, "42 m\n{\"answer\":42}"},
		{"image", &sdk.CallToolResult{Content: []sdk.Content{&sdk.ImageContent{MIMEType: "image/png", Data: make([]byte, 1234)}}}, "[image: image/png, 1234 bytes]"},
		{"audio", &sdk.CallToolResult{Content: []sdk.Content{&sdk.AudioContent{Data: make([]byte, 3)}}}, "[audio: unknown type, 3 bytes]"},
		{"link", &sdk.CallToolResult{Content: []sdk.Content{&sdk.ResourceLink{URI: "file:///a.txt", Name: "a", Description: "the notes", Size: &size}}}, "[resource link: file:///a.txt (a): the notes]"},
		{"text resource", &sdk.CallToolResult{Content: []sdk.Content{&sdk.EmbeddedResource{Resource: &sdk.ResourceContents{URI: "file:///a.txt", Text: "hello"}}}}, "[resource: file:///a.txt]\nhello"},
		{"blob resource", &sdk.CallToolResult{Content: []sdk.Content{&sdk.EmbeddedResource{Resource: &sdk.ResourceContents{URI: "file:///a.bin", MIMEType: "application/zip", Blob: make([]byte, 7)}}}}, "[resource: file:///a.bin, application/zip, 7 bytes]"},
	} {
		got, n := result(c.res, 1<<20)
		if got != (tool.Result{Output: c.want}) || n != len(c.want) {
			t.Errorf("%s: %+v (%d bytes), want %q", c.name, got, n, c.want)
		}
	}
	if got, _ := result(&sdk.CallToolResult{IsError: true, Content: []sdk.Content{&sdk.TextContent{Text: "no"}}}, 100); !got.IsError {
		t.Errorf("isError lost: %+v", got)
	}
}

func TestCut(t *testing.T) {
	t.Parallel()
	for _, s := range []string{strings.Repeat("a", 5000), strings.Repeat("é", 2500), strings.Repeat("😀", 1300)} {
		for _, limit := range []int{1024, 1025, 1026, 1027, 4096} {
			got := cut(s, limit)
			if len(got) > limit || !utf8.ValidString(got) || !strings.Contains(got, "result cut") || !strings.HasPrefix(s, strings.SplitN(got, "\n[", 2)[0]) {
				t.Errorf("cut(%d bytes of %q, %d): %d bytes, ends %q", len(s), s[:4], limit, len(got), got[max(0, len(got)-50):])
			}
		}
		if cut(s, len(s)) != s {
			t.Errorf("a text at the limit was cut")
		}
	}
}
