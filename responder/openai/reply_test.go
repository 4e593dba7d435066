package openai

import (
	"context"
	"encoding/json"
	"reflect"
	"slices"
	"testing"

	"github.com/agentgate/agentgate/responder"
	"github.com/agentgate/agentgate/responder/respondertest"
)

// TestReply checks a whole reply on the wire: what the upstream received
// (the model, streaming with usage, the system prompt first, then the
// conversation in order with its tool calls and results, then the message,
// the key as a bearer token), and what the Stream saw (every content delta
// as it came, in order), with the finish reason and usage.
func TestReply(t *testing.T) {
	t.Parallel()
	up := newUpstream(t, replay(t, "openai_stop.sse"))
	h := newHarness(t, up.URL(), func(c *Config) { c.SystemPrompt = "You are terse." })
	req := respondertest.NewRequest("thanks")
	req.History = []responder.Message{
		{ID: "m0", Role: responder.RoleUser, Text: "what is 2+2?"},
		{ID: "m0r", Role: responder.RoleAssistant, Text: "Let me add.", ToolCalls: []responder.ToolCall{
			{ID: "call_1", Name: "add", Arguments: `{"a":2,"b":2}`, Result: "4"},
			{ID: "call_2", Name: "log", Arguments: "", Result: "logged"},
			{ID: "call_3", Name: "never_answered", Arguments: "{}"},
		}},
		{ID: "m0s", Role: responder.RoleAssistant, Text: "It is 4."},
	}
	rec := &respondertest.Recorder{}
	ctx, cancel := context.WithTimeout(t.Context(), testWait)
	defer cancel()
	res, err := h.r.Respond(ctx, req, rec)
	if err != nil {
		t.Fatal(err)
	}

	reqs := up.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(reqs))
	}
	got := reqs[0]
	if got.path != "/v1/chat/completions" {
		t.Errorf("path %q", got.path)
	}
	if a := got.header.Get("Authorization"); a != "Bearer "+testKey {
		t.Errorf("Authorization %q", a)
	}
	body := decodeBody(t, got.body)
	if body["model"] != "gpt-4o-mini" || body["stream"] != true {
		t.Errorf("model %v, stream %v", body["model"], body["stream"])
	}
	if _, ok := body["temperature"]; ok {
		t.Errorf("temperature %v sent without being configured", body["temperature"])
	}
	if so, _ := body["stream_options"].(map[string]any); so["include_usage"] != true {
		t.Errorf("stream_options %v, want include_usage true", body["stream_options"])
	}
	wantMessages := `[
		{"role":"system","content":"You are terse."},
		{"role":"user","content":"what is 2+2?"},
		{"role":"assistant","content":"Let me add.","tool_calls":[
			{"id":"call_1","type":"function","function":{"name":"add","arguments":"{\"a\":2,\"b\":2}"}},
			{"id":"call_2","type":"function","function":{"name":"log","arguments":"{}"}}]},
		{"role":"tool","content":"4","tool_call_id":"call_1"},
		{"role":"tool","content":"logged","tool_call_id":"call_2"},
		{"role":"assistant","content":"It is 4."},
		{"role":"user","content":"thanks"}]`
	var want any
	if err := json.Unmarshal([]byte(wantMessages), &want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(body["messages"], want) {
		b, _ := json.Marshal(body["messages"])
		t.Errorf("messages\n got %s\nwant %s", b, wantMessages)
	}

	wantDeltas := []string{"Hello", "!", " How", " can", " I", " help", " you", " today", "?"}
	if d := rec.Deltas(); !reflect.DeepEqual(d, wantDeltas) {
		t.Errorf("deltas %q, want %q", d, wantDeltas)
	}
	if len(rec.Events()) != len(wantDeltas) {
		t.Errorf("events %v, want only the text deltas", rec.Lines())
	}
	wantRes := responder.Result{FinishReason: responder.FinishStop,
		Usage: &responder.Usage{InputTokens: 31, OutputTokens: 9, Model: "gpt-4o-mini-2024-07-18"}}
	if !reflect.DeepEqual(res, wantRes) {
		t.Errorf("result %+v %+v, want %+v %+v", res, res.Usage, wantRes, wantRes.Usage)
	}
}

// TestReplies replays streams as other servers send them: vLLM cut by the
// token limit (content in the finish chunk), Ollama's own bytes, and OpenAI
// streaming two tool calls one after the other.
func TestReplies(t *testing.T) {
	t.Parallel()
	cases := []struct {
		file  string
		lines []string
		want  responder.Result
	}{{
		file:  "vllm_length.sse",
		lines: []string{"text Once", "text  upon", "text  a", "text  time", "text ,"},
		want: responder.Result{FinishReason: responder.FinishLength,
			Usage: &responder.Usage{InputTokens: 12, OutputTokens: 5, Model: "Qwen/Qwen2.5-0.5B-Instruct"}},
	}, {
		file:  "ollama_stop.sse",
		lines: []string{"text h", "text  reply"},
		want: responder.Result{FinishReason: responder.FinishStop,
			Usage: &responder.Usage{InputTokens: 12, OutputTokens: 3, Model: "tiny"}},
	}, {
		file: "openai_tool_calls.sse",
		lines: []string{
			"start call_Xj3kP9qLr2 get_weather",
			`args call_Xj3kP9qLr2 {"ci`, `args call_Xj3kP9qLr2 ty": "Pa`, `args call_Xj3kP9qLr2 ris"}`,
			"end call_Xj3kP9qLr2",
			"start call_Vb8nT4mWs6 get_time",
			`args call_Vb8nT4mWs6 {"zone"`, `args call_Vb8nT4mWs6 : "Europe/Paris"}`,
			"end call_Vb8nT4mWs6",
		},
		want: responder.Result{FinishReason: responder.FinishToolCalls,
			Usage: &responder.Usage{InputTokens: 82, OutputTokens: 51, Model: "gpt-4o-mini-2024-07-18"}},
	}}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			t.Parallel()
			up := newUpstream(t, replay(t, c.file))
			rec, res, err := newHarness(t, up.URL()).respond(t, "hi")
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(rec.Lines(), c.lines) {
				t.Errorf("events\n got %q\nwant %q", rec.Lines(), c.lines)
			}
			if !reflect.DeepEqual(res, c.want) {
				t.Errorf("result %+v %+v, want %+v %+v", res, res.Usage, c.want, c.want.Usage)
			}
		})
	}
}

// TestNoAPIKey checks that without a key no Authorization header is sent,
// even when the process has OPENAI_API_KEY set: the configuration alone
// decides, and local servers need no key.
func TestNoAPIKey(t *testing.T) {
	t.Setenv("OPENAI_API_KEY", testKey)
	t.Setenv("OPENAI_ORG_ID", "org-from-env")
	up := newUpstream(t, replay(t, "ollama_stop.sse"))
	h := newHarness(t, up.URL(), func(c *Config) { c.APIKey = "" })
	if _, _, err := h.respond(t, "hello"); err != nil {
		t.Fatal(err)
	}
	hdr := up.requests()[0].header
	if a := hdr.Get("Authorization"); a != "" {
		t.Errorf("Authorization %q sent without a key", a)
	}
	if o := hdr.Get("OpenAI-Organization"); o != "" {
		t.Errorf("OpenAI-Organization %q taken from the environment", o)
	}
}

// TestTemperature checks that a configured temperature is sent, 0 included.
func TestTemperature(t *testing.T) {
	t.Parallel()
	up := newUpstream(t, replay(t, "ollama_stop.sse"))
	h := newHarness(t, up.URL(), func(c *Config) { c.Temperature = new(0.0) })
	if _, _, err := h.respond(t, "hi"); err != nil {
		t.Fatal(err)
	}
	if v, ok := decodeBody(t, up.requests()[0].body)["temperature"]; !ok || v != 0.0 {
		t.Errorf("temperature %v (sent %v), want 0", v, ok)
	}
}
