package tooltest_test

import (
	"slices"
	"testing"

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
	out := respondertest.Run(t.Context(), tooltest.Model, req)
	if err := out.Check(); err != nil || out.Err != nil || out.Result.FinishReason != responder.FinishToolCalls {
		t.Fatalf("step 0: %v, %v, %+v", err, out.Err, out.Result)
	}
	reply := out.Stream.Reply()
	want := []responder.ToolCall{
		{ID: "call_run-1_0_0", Name: "get_weather", Arguments: `{"city": "Paris"}`},
		{ID: "call_run-1_0_1", Name: "get_time", Arguments: "{}"},
	}
	if reply.Text != "Calling get_weather, get_time. " || !slices.Equal(reply.ToolCalls, want) {
		t.Fatalf("step 0: %+v", reply)
	}
	next, err := out.Next(map[string]tool.Result{"call_run-1_0_0": {Output: "sunny"}, "call_run-1_0_1": {Output: "noon"}})
	if err != nil {
		t.Fatal(err)
	}
	out = respondertest.Run(t.Context(), tooltest.Model, next)
	if reply := out.Stream.Reply(); reply.Text != "Calling transfer. " || len(reply.ToolCalls) != 1 || reply.ToolCalls[0].Arguments != `{"amount": 100}` {
		t.Fatalf("step 1: %+v", reply)
	}
	next, err = out.Next(map[string]tool.Result{"call_run-1_1_0": {Output: "denied", IsError: true}})
	if err != nil {
		t.Fatal(err)
	}
	out = respondertest.Run(t.Context(), tooltest.Model, next)
	if got := out.Stream.Reply().Text; got != "Done: get_weather → sunny; get_time → noon; transfer failed: denied." || out.Result.FinishReason != "" {
		t.Fatalf("step 2: %q, %+v", got, out.Result)
	}
}

// TestNotAScript: text that is no script of the offered tools is echoed.
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
		"",
	} {
		out := respondertest.Run(t.Context(), tooltest.Model, offering(text, "get_time"))
		if got := out.Stream.Reply(); got.Text != "echo: "+text || len(got.ToolCalls) != 0 {
			t.Errorf("%q: %+v", text, got)
		}
	}
}

// TestServerTools: get_time answers Time, transfer says what it did, or
// that its amount is missing.
func TestServerTools(t *testing.T) {
	t.Parallel()
	set, err := tooltest.ServerTools()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, args string
		want       tool.Result
	}{
		{"get_time", "{}", tool.Result{Output: tooltest.Time}},
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
