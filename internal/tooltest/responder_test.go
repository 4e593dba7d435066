package tooltest_test

import (
	"slices"
	"testing"
	"time"

	"github.com/agentgate/agentgate/internal/tooltest"
	"github.com/agentgate/agentgate/responder"
	"github.com/agentgate/agentgate/responder/respondertest"
	"github.com/agentgate/agentgate/tool"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// offering is a request for text that offers the tools named.
func offering(text string, names ...string) responder.Request {
	req := respondertest.NewRequest(text)
	for _, n := range names {
		req.Tools = append(req.Tools, tool.Def{Name: n})
	}
	return req
}

// TestScript: a script's steps are made in turn, each step's calls with
// their arguments, and the last step says what every call returned.
func TestScript(t *testing.T) {
	t.Parallel()
	req := offering(`get_weather {"city": "Paris"} get_time then transfer {"amount": 100}`, "get_weather", "get_time", "transfer")
	out := respondertest.Run(t.Context(), tooltest.Responder{}, req)
	if err := out.Check(); err != nil || out.Err != nil || out.Result.FinishReason != responder.FinishToolCalls {
		t.Fatalf("step 0: %v, %v, %+v", err, out.Err, out.Result)
	}
	reply := out.Stream.Reply()
	want := []responder.ToolCall{
		{ID: "get_weather-run-1-0-0", Name: "get_weather", Arguments: `{"city": "Paris"}`},
		{ID: "get_time-run-1-0-1", Name: "get_time", Arguments: "{}"},
	}
	if reply.Text != "Calling get_weather, get_time. " || !slices.Equal(reply.ToolCalls, want) {
		t.Fatalf("step 0: %+v", reply)
	}
	next, err := out.Next(map[string]tool.Result{"get_weather-run-1-0-0": {Output: "sunny"}, "get_time-run-1-0-1": {Output: "noon"}})
	if err != nil {
		t.Fatal(err)
	}
	out = respondertest.Run(t.Context(), tooltest.Responder{}, next)
	if reply := out.Stream.Reply(); reply.Text != "Calling transfer. " || len(reply.ToolCalls) != 1 || reply.ToolCalls[0].Arguments != `{"amount": 100}` {
		t.Fatalf("step 1: %+v", reply)
	}
	next, err = out.Next(map[string]tool.Result{"transfer-run-1-1-0": {Output: "denied", IsError: true}})
	if err != nil {
		t.Fatal(err)
	}
	out = respondertest.Run(t.Context(), tooltest.Responder{}, next)
	if got := out.Stream.Reply().Text; got != "Done: get_weather → sunny; get_time → noon; transfer failed: denied." || out.Result.FinishReason != "" {
		t.Fatalf("step 2: %q, %+v", got, out.Result)
	}
}

// TestSlowLastStep: a last step "slow" says its words one by one, as
// written, instead of the results.
func TestSlowLastStep(t *testing.T) {
	t.Parallel()
	r := tooltest.Responder{Delay: time.Millisecond}
	out := respondertest.Run(t.Context(), r, offering("lookup then slow one then two", "lookup"))
	if calls := out.Stream.Reply().ToolCalls; len(calls) != 1 || calls[0].Name != "lookup" {
		t.Fatalf("step 0: %+v", out.Stream.Reply())
	}
	next, err := out.Next(map[string]tool.Result{out.Stream.Reply().ToolCalls[0].ID: {Output: "found"}})
	if err != nil {
		t.Fatal(err)
	}
	out = respondertest.Run(t.Context(), r, next)
	if d := out.Stream.Deltas(); out.Err != nil || !slices.Equal(d, []string{"one ", "then ", "two"}) {
		t.Fatalf("step 1: %v, %q", out.Err, d)
	}
}

// TestNotAScript: text that is no script of the offered tools is echoed,
// as the echo responder does.
func TestNotAScript(t *testing.T) {
	t.Parallel()
	for _, text := range []string{
		"hello there",
		"get_weather",                // not offered
		`get_time {"a": 1} {"b": 2}`, // arguments twice
		`{"a": 1} get_time`,          // arguments of no call
		`get_time ["not", "object"]`, // a word that is no tool
		`get_time {"a": `,            // JSON cut short
		"get_time then",              // an empty last step
		"then get_time",              // an empty first step
		"get_time slow words",        // slow is a step of its own
		"slow",                       // without words
	} {
		out := respondertest.Run(t.Context(), tooltest.Responder{}, offering(text, "get_time"))
		if got := out.Stream.Reply(); got.Text != "echo: "+text || len(got.ToolCalls) != 0 {
			t.Errorf("%q: %+v", text, got)
		}
	}
}

// TestVerbs checks the other words: a weather question makes one whole
// tool call around the text, answered in the stream; fail fails with its
// code; slow writes word by word; burst writes its deltas.
func TestVerbs(t *testing.T) {
	t.Parallel()
	r := tooltest.Responder{Delay: time.Millisecond}
	req := respondertest.NewRequest("weather Oslo")
	out := respondertest.Run(t.Context(), r, req)
	if out.Err != nil || out.Result.FinishReason != responder.FinishStop || out.Result.Usage == nil {
		t.Fatalf("weather: %v, %+v", out.Err, out.Result)
	}
	if err := out.Stream.Check(); err != nil {
		t.Fatal(err)
	}
	reply := out.Stream.Reply()
	want := []responder.ToolCall{{ID: "call-" + req.RunID, Name: "weather", Arguments: `{"city":"Oslo"}`,
		Result: `{"city":"Oslo","temperature":21,"unit":"celsius"}`}}
	if reply.Text != "Let me check the weather. It is 21 degrees in Oslo." || !slices.Equal(reply.ToolCalls, want) {
		t.Errorf("weather reply %+v", reply)
	}
	pieces := 0
	for _, e := range out.Stream.Events() {
		if e.Kind == respondertest.KindToolCallArgs {
			pieces++
		}
	}
	if pieces != 2 {
		t.Errorf("the arguments come in %d pieces, want 2: %q", pieces, out.Stream.Lines())
	}

	out = respondertest.Run(t.Context(), r, respondertest.NewRequest("fail"))
	if e, ok := responder.AsError(out.Err); !ok || e.Code != "scripted_failure" || len(out.Stream.Events()) != 0 {
		t.Errorf("fail: %v, %q", out.Err, out.Stream.Lines())
	}

	out = respondertest.Run(t.Context(), r, respondertest.NewRequest("slow one two three"))
	if d := out.Stream.Deltas(); out.Err != nil || !slices.Equal(d, []string{"one ", "two ", "three"}) {
		t.Errorf("slow: %v, %q", out.Err, d)
	}

	out = respondertest.Run(t.Context(), r, respondertest.NewRequest("burst 3"))
	if d := out.Stream.Deltas(); out.Err != nil || !slices.Equal(d, []string{"w0 ", "w1 ", "w2 "}) {
		t.Errorf("burst: %v, %q", out.Err, d)
	}
}

// TestServerTools: get_time answers Time, lookup its arguments, transfer
// says what it did, or that its amount is missing.
func TestServerTools(t *testing.T) {
	t.Parallel()
	set := tooltest.ServerTools()
	for _, tc := range []struct {
		name, args string
		want       tool.Result
	}{
		{"get_time", "{}", tool.Result{Output: tooltest.Time}},
		{"lookup", `{"q":1}`, tool.Result{Output: `{"found":{"q":1}}`}},
		{"transfer", `{"amount": 100, "to": "bob"}`, tool.Result{Output: "transferred 100 to bob"}},
		{"transfer", `{"amount": 1200}`, tool.Result{Output: "transferred 1200 to the landlord"}},
		{"transfer", `{}`, tool.Result{Output: "transfer needs an amount", IsError: true}},
	} {
		got, err := set.Call(t.Context(), tc.name, []byte(tc.args))
		if err != nil || got != tc.want {
			t.Errorf("%s %s: %+v, %v; want %+v", tc.name, tc.args, got, err, tc.want)
		}
	}
}
