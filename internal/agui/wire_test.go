package agui

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
)

// encode writes v as the door's event stream does: HTML characters as
// they are.
func encode(t testing.TB, v any) []byte {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatalf("encode %#v: %v", v, err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// decodeEvent decodes an event into the struct of its type.
func decodeEvent(data []byte) (any, error) {
	var head Head
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, err
	}
	switch head.Type {
	case TypeRunStarted:
		return decodeAs[RunStarted](data)
	case TypeRunFinished:
		return decodeAs[RunFinished](data)
	case TypeRunError:
		return decodeAs[RunError](data)
	case TypeTextMessageStart:
		return decodeAs[TextMessageStart](data)
	case TypeTextMessageContent:
		return decodeAs[TextMessageContent](data)
	case TypeTextMessageEnd:
		return decodeAs[TextMessageEnd](data)
	case TypeTextMessageChunk:
		return decodeAs[TextMessageChunk](data)
	case TypeToolCallStart:
		return decodeAs[ToolCallStart](data)
	case TypeToolCallArgs:
		return decodeAs[ToolCallArgs](data)
	case TypeToolCallEnd:
		return decodeAs[ToolCallEnd](data)
	case TypeToolCallChunk:
		return decodeAs[ToolCallChunk](data)
	case TypeToolCallResult:
		return decodeAs[ToolCallResult](data)
	}
	return nil, fmt.Errorf("no struct for event type %q", head.Type)
}

func decodeAs[E any](data []byte) (any, error) {
	var e E
	err := json.Unmarshal(data, &e)
	return e, err
}

// eventFixtures are the lines of testdata/events.jsonl: every event type
// of the package, every optional field present and absent.
func eventFixtures(t testing.TB) [][]byte {
	t.Helper()
	b, err := os.ReadFile("testdata/events.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Split(bytes.TrimSpace(b), []byte("\n"))
}

// inputFixture is testdata/run_agent_input.json, compacted.
func inputFixture(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/run_agent_input.json")
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := json.Compact(&out, b); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// TestEventsRoundTrip decodes each fixture into the struct of its type and
// encodes it again: the bytes are the fixture's, field for field and in
// order, so nothing is lost, renamed, added or written as null. Encoded
// with json.Marshal, which escapes HTML characters, they are the fixture's
// escaped the same way, raw content included.
func TestEventsRoundTrip(t *testing.T) {
	t.Parallel()
	types := map[string]bool{}
	for _, line := range eventFixtures(t) {
		ev, err := decodeEvent(line)
		if err != nil {
			t.Errorf("decode %s: %v", line, err)
			continue
		}
		types[fmt.Sprintf("%T", ev)] = true
		if got := encode(t, ev); !bytes.Equal(got, line) {
			t.Errorf("round trip of %T\n got %s\nwant %s", ev, got, line)
		}
		marshalled, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		var escaped bytes.Buffer
		json.HTMLEscape(&escaped, line)
		if !bytes.Equal(marshalled, escaped.Bytes()) {
			t.Errorf("json.Marshal of %T\n got %s\nwant %s", ev, marshalled, escaped.Bytes())
		}
	}
	if len(types) != 12 {
		t.Errorf("the fixtures cover %d event structs, want all 12: %v", len(types), types)
	}
}

// TestRunAgentInputRoundTrip does the same for a RunAgentInput with every
// role the gateway reads or writes, content as a string and as parts, a
// tool message with an error, tools, context, and resume entries.
func TestRunAgentInputRoundTrip(t *testing.T) {
	t.Parallel()
	want := inputFixture(t)
	var in RunAgentInput
	if err := json.Unmarshal(want, &in); err != nil {
		t.Fatal(err)
	}
	if got := encode(t, in); !bytes.Equal(got, want) {
		t.Errorf("round trip\n got %s\nwant %s", got, want)
	}
	if len(in.Messages) != 7 || in.Messages[2].ToolCalls[1].Function.Name != "get_time" ||
		in.Messages[3].ToolCallID != "c1" || in.Messages[5].Error != "no forecast that far" ||
		in.Tools[0].Name != "show_map" || in.Context[0].Value != "fr-FR" {
		t.Errorf("decoded %+v", in)
	}
	if len(in.Resume) != 3 || in.Resume[0].InterruptID != "i1" || in.Resume[0].Status != ResumeResolved ||
		string(in.Resume[0].Payload) != `{"approved":false,"reason":"not that file"}` || in.Resume[2].Status != ResumeCancelled || in.Resume[2].Payload != nil {
		t.Errorf("decoded resume %+v", in.Resume)
	}
}

// TestRunAgentInputNeverNull: the lists AG-UI requires are [] when empty,
// as HttpAgent sends them, never null; the open objects are left out.
func TestRunAgentInputNeverNull(t *testing.T) {
	t.Parallel()
	got := string(encode(t, RunAgentInput{ThreadID: "t", RunID: "r"}))
	if want := `{"threadId":"t","runId":"r","messages":[],"tools":[],"context":[]}`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	got = string(encode(t, ToolCallResult{Type: TypeToolCallResult, MessageID: "m", ToolCallID: "c"}))
	if want := `{"type":"TOOL_CALL_RESULT","messageId":"m","toolCallId":"c","content":""}`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestContent(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, json string
		text       string
		parts      int
		err        bool
	}{
		{"string", `"a <b> c"`, "a <b> c", 1, false},
		{"empty string", `""`, "", 1, false},
		{"null", `null`, "", 0, false},
		{"parts", `[{"type":"text","text":"one"},{"type":"image","source":{}},{"type":"text","text":" two"}]`, "one two", 3, false},
		{"a media part's text is not text", `[{"type":"image","text":"alt"}]`, "", 1, false},
		{"no parts", `[]`, "", 0, false},
		{"number", `5`, "", 0, true},
		{"object", `{"type":"text","text":"x"}`, "", 0, true},
		{"strings", `["x"]`, "", 0, true},
		{"a part's text is not a string", `[{"type":"text","text":5}]`, "", 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var m Message
			if err := json.Unmarshal([]byte(`{"id":"u","role":"user","content":`+tc.json+`}`), &m); err != nil {
				t.Fatalf("a message is decoded whatever its content: %v", err)
			}
			parts, perr := m.Content.Parts()
			text, terr := m.Content.Text()
			if tc.err {
				if perr == nil || terr == nil || !strings.Contains(perr.Error(), "a string or an array of content parts") {
					t.Fatalf("Parts %v, Text %v; want the error", perr, terr)
				}
				return
			}
			if perr != nil || terr != nil || len(parts) != tc.parts || text != tc.text {
				t.Fatalf("Parts %d %v, Text %q %v; want %d parts, %q", len(parts), perr, text, terr, tc.parts, tc.text)
			}
		})
	}
	var absent Message
	if err := json.Unmarshal([]byte(`{"id":"a","role":"assistant"}`), &absent); err != nil {
		t.Fatal(err)
	}
	if text, err := absent.Content.Text(); text != "" || err != nil {
		t.Errorf("absent content: %q, %v", text, err)
	}
	if got := string(encode(t, absent)); got != `{"id":"a","role":"assistant"}` {
		t.Errorf("absent content written: %s", got)
	}
	if got := string(TextContent(`<a href="x">&</a>`)); got != `"<a href=\"x\">&</a>"` {
		t.Errorf("TextContent %s", got)
	}
}
