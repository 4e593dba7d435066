package openai

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/agentgate/agentgate/responder"
	"github.com/agentgate/agentgate/responder/respondertest"
	"github.com/agentgate/agentgate/tool"
)

// toolCallsOf is a stream of a model that calls tools, written by a
// scripted server: one chunk per element of deltas (each the JSON of a
// delta), then a chunk with finish, the usage chunk and [DONE].
func toolCallsOf(finish string, deltas ...string) http.HandlerFunc {
	var b strings.Builder
	for _, d := range deltas {
		fmt.Fprintf(&b, `data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":%s,"finish_reason":null}]}`+"\n\n", d)
	}
	fmt.Fprintf(&b, `data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":%q}]}`+"\n\n", finish)
	b.WriteString(`data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}` + "\n\n")
	b.WriteString("data: [DONE]\n\n")
	events := strings.SplitAfter(b.String(), "\n\n")
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for _, ev := range events {
			writeFlush(w, ev)
		}
	}
}

// madeUp matches an id the responder made for a call the server gave none.
var madeUp = regexp.MustCompile(`^call_[0-9a-f]{16}$`)

// renameMadeUp replaces, in the stream's lines, each id the responder made
// up with #1, #2… in the order they first appear, and checks that they are
// distinct and shaped as made-up ids.
func renameMadeUp(t *testing.T, lines []string, serverIDs ...string) []string {
	t.Helper()
	names := map[string]string{}
	out := make([]string, len(lines))
	for i, line := range lines {
		fields := strings.SplitN(line, " ", 3)
		if len(fields) >= 2 && fields[0] != "text" && !slices.Contains(serverIDs, fields[1]) {
			if !madeUp.MatchString(fields[1]) {
				t.Errorf("tool call id %q is neither the server's nor made up", fields[1])
			}
			if names[fields[1]] == "" {
				names[fields[1]] = fmt.Sprintf("#%d", len(names)+1)
			}
			fields[1] = names[fields[1]]
		}
		out[i] = strings.Join(fields, " ")
	}
	return out
}

// TestToolCallShapes streams tool calls the way each kind of server does and
// checks what the Stream saw: every call started once with its id and name,
// its arguments as they came, ended before the next began, in a reply the
// gateway accepts (Check), with the finish reason of a step that called
// tools; and the calls' joined arguments are the JSON the model wrote.
func TestToolCallShapes(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		handler  http.HandlerFunc
		serverID []string // the ids the server gave
		lines    []string
		args     []string // each call's arguments, joined
	}{{
		name:     "OpenAI: ids and indexes, calls one after another, arguments split mid-string",
		handler:  replay(t, "openai_tool_calls.sse"),
		serverID: []string{"call_Xj3kP9qLr2", "call_Vb8nT4mWs6"},
		lines: []string{
			"start call_Xj3kP9qLr2 get_weather", `args call_Xj3kP9qLr2 {"ci`, `args call_Xj3kP9qLr2 ty": "Pa`, `args call_Xj3kP9qLr2 ris"}`, "end call_Xj3kP9qLr2",
			"start call_Vb8nT4mWs6 get_time", `args call_Vb8nT4mWs6 {"zone"`, `args call_Vb8nT4mWs6 : "Europe/Paris"}`, "end call_Vb8nT4mWs6",
		},
		args: []string{`{"city": "Paris"}`, `{"zone": "Europe/Paris"}`},
	}, {
		name:     "Ollama before 0.4.7: no index, whole calls, two in one chunk, finish stop",
		handler:  replay(t, "ollama_no_index.sse"),
		serverID: []string{"call_a1b2c3d4", "call_e5f6g7h8", "call_i9j0k1l2"},
		lines: []string{
			"start call_a1b2c3d4 get_weather", `args call_a1b2c3d4 {"city":"Paris"}`, "end call_a1b2c3d4",
			"start call_e5f6g7h8 get_time", `args call_e5f6g7h8 {"zone":"CET"}`, "end call_e5f6g7h8",
			"start call_i9j0k1l2 get_weather", `args call_i9j0k1l2 {"city":"Oslo"}`, "end call_i9j0k1l2",
		},
		args: []string{`{"city":"Paris"}`, `{"zone":"CET"}`, `{"city":"Oslo"}`},
	}, {
		name:     "Ollama since 0.4.7: every call at index 0, told apart by id",
		handler:  replay(t, "ollama_index0.sse"),
		serverID: []string{"call_hello01", "call_world02"},
		lines: []string{
			"start call_hello01 file_write", `args call_hello01 {"filePath":"hello.py","content":"print(\"hello\")"}`, "end call_hello01",
			"start call_world02 file_write", `args call_world02 {"filePath":"world.py","content":"print(\"world\")"}`, "end call_world02",
		},
		args: []string{`{"filePath":"hello.py","content":"print(\"hello\")"}`, `{"filePath":"world.py","content":"print(\"world\")"}`},
	}, {
		name:     "every call at index 0 in pieces, the id on each call's first piece only",
		handler:  replay(t, "index0_pieces.sse"),
		serverID: []string{"toolu_01A", "toolu_01B"},
		lines: []string{
			"text Checking both.",
			"start toolu_01A get_weather", `args toolu_01A {"city": "Pa`, `args toolu_01A ris"}`, "end toolu_01A",
			"start toolu_01B get_weather", `args toolu_01B {"city": "Os`, `args toolu_01B lo"}`, "end toolu_01B",
		},
		args: []string{`{"city": "Paris"}`, `{"city": "Oslo"}`},
	}, {
		name:    "vLLM: no ids, arguments split inside a string and an escape",
		handler: replay(t, "vllm_no_id.sse"),
		lines: []string{
			"text Let me check.",
			"start #1 get_weather", `args #1 {"city": "Sa`, `args #1 o Paulo \u00e9 \`, `args #1 "x\""}`, "end #1",
			"start #2 get_time", `args #2 {"zone": "America/Sao_Paulo"}`, "end #2",
		},
		args: []string{`{"city": "Sao Paulo \u00e9 \"x\""}`, `{"zone": "America/Sao_Paulo"}`},
	}, {
		name: "neither ids nor indexes: a piece that names a tool begins a call once the open one has arguments",
		handler: toolCallsOf("tool_calls",
			`{"tool_calls":[{"function":{"name":"a","arguments":""}}]}`,
			`{"tool_calls":[{"function":{"name":"a","arguments":"{\"x\":"}}]}`,
			`{"tool_calls":[{"function":{"arguments":"1}"}}]}`,
			`{"tool_calls":[{"function":{"name":"b","arguments":"{}"}},{"function":{"name":"c","arguments":"{\"y\":2}"}}]}`),
		lines: []string{
			"start #1 a", `args #1 {"x":`, "args #1 1}", "end #1",
			"start #2 b", "args #2 {}", "end #2",
			"start #3 c", `args #3 {"y":2}`, "end #3",
		},
		args: []string{`{"x":1}`, `{}`, `{"y":2}`},
	}, {
		name:     "the id repeated on every piece",
		handler:  toolCallsOf("tool_calls", `{"tool_calls":[{"index":0,"id":"c1","type":"function","function":{"name":"f","arguments":""}}]}`, `{"tool_calls":[{"index":0,"id":"c1","function":{"arguments":"{\"a\""}}]}`, `{"tool_calls":[{"index":0,"id":"c1","function":{"arguments":":1}"}}]}`),
		serverID: []string{"c1"},
		lines:    []string{"start c1 f", `args c1 {"a"`, "args c1 :1}", "end c1"},
		args:     []string{`{"a":1}`},
	}, {
		name:     "one id for two calls: the second gets one of its own",
		handler:  toolCallsOf("tool_calls", `{"tool_calls":[{"index":0,"id":"call_0","function":{"name":"f","arguments":"{}"}}]}`, `{"tool_calls":[{"index":1,"id":"call_0","function":{"name":"g","arguments":"{}"}}]}`),
		serverID: []string{"call_0"},
		lines:    []string{"start call_0 f", "args call_0 {}", "end call_0", "start #1 g", "args #1 {}", "end #1"},
		args:     []string{`{}`, `{}`},
	}, {
		name:     "a model that stops after calling tools: the step still ends for its tools",
		handler:  toolCallsOf("stop", `{"role":"assistant","content":"Sure."}`, `{"tool_calls":[{"index":0,"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}}]}`),
		serverID: []string{"c1"},
		lines:    []string{"text Sure.", "start c1 f", "args c1 {}", "end c1"},
		args:     []string{`{}`},
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			up := newUpstream(t, c.handler)
			rec, res, err := newHarness(t, up.URL()).respond(t, "hi")
			if err != nil {
				t.Fatal(err)
			}
			if err := rec.Check(); err != nil {
				t.Errorf("the gateway would refuse the reply: %v", err)
			}
			if got := renameMadeUp(t, rec.Lines(), c.serverID...); !slices.Equal(got, c.lines) {
				t.Errorf("events\n got %q\nwant %q", got, c.lines)
			}
			if res.FinishReason != responder.FinishToolCalls {
				t.Errorf("finish %q, want tool_calls", res.FinishReason)
			}
			var args []string
			for _, tc := range rec.Reply().ToolCalls {
				args = append(args, tc.Arguments)
				if !json.Valid([]byte(tc.Arguments)) {
					t.Errorf("call %s: arguments %q are not JSON", tc.ID, tc.Arguments)
				}
			}
			if !slices.Equal(args, c.args) {
				t.Errorf("arguments %q, want %q", args, c.args)
			}
		})
	}
}

// TestInterleavedToolCalls: a piece of a call that comes after the next
// call began cannot be relayed (the call has ended on the Stream); the
// reply fails saying so, rather than joining it to the wrong call.
func TestInterleavedToolCalls(t *testing.T) {
	t.Parallel()
	up := newUpstream(t, toolCallsOf("tool_calls",
		`{"tool_calls":[{"index":0,"id":"c0","function":{"name":"f","arguments":"{\"a\":"}}]}`,
		`{"tool_calls":[{"index":1,"id":"c1","function":{"name":"g","arguments":"{}"}}]}`,
		`{"tool_calls":[{"index":0,"function":{"arguments":"1}"}}]}`))
	h := newHarness(t, up.URL())
	rec, _, err := h.respond(t, "hi")
	e := wantError(t, err, CodeFailed, h.logs.String())
	if !strings.Contains(e.Message, "after the next call had begun") {
		t.Errorf("message %q", e.Message)
	}
	if err := rec.Check(); err != nil {
		t.Errorf("what was written breaks the Stream's contract: %v", err)
	}
	if n := len(up.requests()); n != 1 {
		t.Errorf("%d requests, want 1: calls were written", n)
	}
}

// TestToolsSent checks the request of a step on the wire: the step's tools
// as function tools (the schema as it was written; a tool without one gets
// the empty object schema), and the conversation with the run so far:
// assistant tool_calls followed by a tool message per call, a failure's
// content marked, arguments that are not a JSON object sent as {}, a call
// of History never answered left out, a call of Steps with an empty result
// kept.
func TestToolsSent(t *testing.T) {
	t.Parallel()
	up := newUpstream(t, replay(t, "openai_stop.sse"))
	h := newHarness(t, up.URL())
	req := respondertest.NewRequest("weather in Paris and Oslo?")
	req.Tools = toolDefs(t,
		`{"name":"get_weather","description":"Current weather in a city.","parameters":{"type":"object","properties":{"city":{"type":"string","maxLength":12345678901234567890}},"required":["city"]}}`,
		`{"name":"now","description":""}`)
	req.History = []responder.Message{
		{ID: "u0", Role: responder.RoleUser, Text: "delete it"},
		{ID: "a0", Role: responder.RoleAssistant, ToolCalls: []responder.ToolCall{
			{ID: "h1", Name: "delete", Arguments: `{"id":1}`, Result: "denied by the user: not now", IsError: true},
			{ID: "h2", Name: "never_answered", Arguments: `{}`},
		}},
		{ID: "a0b", Role: responder.RoleAssistant, Text: "Not deleted."},
	}
	req.Step = 2
	req.Steps = []responder.Message{
		{ID: "s0", Role: responder.RoleAssistant, Text: "Looking.", ToolCalls: []responder.ToolCall{
			{ID: "c1", Name: "get_weather", Arguments: `{"city":"Paris"}`, Result: "sunny"},
			{ID: "c2", Name: "get_weather", Arguments: `{"city":"Os`, Result: "the arguments are not JSON", IsError: true},
		}},
		{ID: "s1", Role: responder.RoleAssistant, ToolCalls: []responder.ToolCall{
			{ID: "c3", Name: "now", Arguments: "", Result: ""},
		}},
	}
	rec := respondWith(t, h, req)
	if len(rec.Deltas()) == 0 {
		t.Fatal("no reply")
	}
	body := decodeBody(t, up.requests()[0].body)
	assertJSONEqual(t, "tools", body["tools"], `[
		{"type":"function","function":{"name":"get_weather","description":"Current weather in a city.",
			"parameters":{"type":"object","properties":{"city":{"type":"string","maxLength":12345678901234567890}},"required":["city"]}}},
		{"type":"function","function":{"name":"now","parameters":{"type":"object","properties":{}}}}]`)
	if !strings.Contains(string(up.requests()[0].body), `"properties":{"city":{"type":"string","maxLength":12345678901234567890}}`) {
		t.Errorf("the schema was not sent as written: %s", up.requests()[0].body)
	}
	assertJSONEqual(t, "messages", body["messages"], `[
		{"role":"user","content":"delete it"},
		{"role":"assistant","tool_calls":[{"id":"h1","type":"function","function":{"name":"delete","arguments":"{\"id\":1}"}}]},
		{"role":"tool","content":"Error: denied by the user: not now","tool_call_id":"h1"},
		{"role":"assistant","content":"Not deleted."},
		{"role":"user","content":"weather in Paris and Oslo?"},
		{"role":"assistant","content":"Looking.","tool_calls":[
			{"id":"c1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}},
			{"id":"c2","type":"function","function":{"name":"get_weather","arguments":"{}"}}]},
		{"role":"tool","content":"sunny","tool_call_id":"c1"},
		{"role":"tool","content":"Error: the arguments are not JSON","tool_call_id":"c2"},
		{"role":"assistant","tool_calls":[{"id":"c3","type":"function","function":{"name":"now","arguments":"{}"}}]},
		{"role":"tool","content":"","tool_call_id":"c3"}]`)
}

// TestNoToolsSent: a step without tools offers none, not an empty list.
func TestNoToolsSent(t *testing.T) {
	t.Parallel()
	up := newUpstream(t, replay(t, "openai_stop.sse"))
	if _, _, err := newHarness(t, up.URL()).respond(t, "hi"); err != nil {
		t.Fatal(err)
	}
	body := decodeBody(t, up.requests()[0].body)
	if _, ok := body["tools"]; ok {
		t.Errorf("tools %v sent for a step without tools", body["tools"])
	}
}

func assertJSONEqual(t *testing.T, what string, got any, want string) {
	t.Helper()
	var w any
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, w) {
		b, _ := json.Marshal(got)
		t.Errorf("%s\n got %s\nwant %s", what, b, want)
	}
}

// toolDefs decodes tool definitions written as AG-UI's Tool JSON.
func toolDefs(t *testing.T, defs ...string) []tool.Def {
	t.Helper()
	out := make([]tool.Def, len(defs))
	for i, d := range defs {
		if err := json.Unmarshal([]byte(d), &out[i]); err != nil {
			t.Fatal(err)
		}
		if err := tool.ValidateDef(out[i]); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// respondWith answers req, failing the test on an error or a reply the
// gateway would refuse.
func respondWith(t *testing.T, h harness, req responder.Request) *respondertest.Recorder {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), testWait)
	defer cancel()
	rec := &respondertest.Recorder{}
	if _, err := h.r.Respond(ctx, req, rec); err != nil {
		t.Fatal(err)
	}
	if err := rec.CheckStep(req); err != nil {
		t.Fatal(err)
	}
	return rec
}
