package tooltest_test

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"slices"
	"testing"

	"github.com/agentgate/agentgate/internal/tooltest"
	"github.com/agentgate/agentgate/responder"
	"github.com/agentgate/agentgate/responder/openai"
	"github.com/agentgate/agentgate/responder/respondertest"
	"github.com/agentgate/agentgate/tool"
)

// openaiAgainst is the openai responder with m as its server.
func openaiAgainst(t *testing.T, m *tooltest.OpenAI) responder.Responder {
	t.Helper()
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	r, err := openai.New(openai.Config{BaseURL: m.URL, Model: "m", HTTPClient: &http.Client{Transport: tr}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestOpenAIScript: the server reads the script Responder reads, through
// the openai responder: each step's calls of the offered tools, then the
// results it was sent, as it read them.
func TestOpenAIScript(t *testing.T) {
	t.Parallel()
	m := tooltest.StartOpenAI(t)
	r := openaiAgainst(t, m)
	text := tooltest.Ask(tooltest.Call{Name: "lookup", Arguments: json.RawMessage(`{"q":"é"}`)}, tooltest.Call{Name: "get_time"}) + " then transfer"
	out := respondertest.Run(t.Context(), r, offering(text, "lookup", "get_time", "transfer"))
	calls := out.Stream.Reply().ToolCalls
	if out.Err != nil || len(calls) != 2 || calls[0].Name != "lookup" || calls[0].Arguments != `{"q":"é"}` || calls[1].Arguments != "{}" {
		t.Fatalf("step 0: %v, %+v", out.Err, out.Stream.Reply())
	}
	next, err := out.Next(map[string]tool.Result{calls[0].ID: {Output: "found"}, calls[1].ID: {Output: "noon"}})
	if err != nil {
		t.Fatal(err)
	}
	out = respondertest.Run(t.Context(), r, next)
	calls = out.Stream.Reply().ToolCalls
	if out.Err != nil || len(calls) != 1 || calls[0].Name != "transfer" {
		t.Fatalf("step 1: %v, %+v", out.Err, out.Stream.Reply())
	}
	next, err = out.Next(map[string]tool.Result{calls[0].ID: {Output: "no amount", IsError: true}})
	if err != nil {
		t.Fatal(err)
	}
	out = respondertest.Run(t.Context(), r, next)
	read, err := tooltest.Answer(out.Stream.Reply().Text)
	if err != nil || !slices.Equal(read, []tooltest.Result{{ID: calls[0].ID, Content: "Error: no amount"}}) {
		t.Fatalf("step 2: %q, %v", out.Stream.Reply().Text, err)
	}
	if firsts, seconds := m.Requests(); firsts != 1 || seconds != 2 || !slices.Equal(m.Offered(), []string{"lookup", "get_time", "transfer"}) {
		t.Fatalf("requests %d, %d; offered %v", firsts, seconds, m.Offered())
	}

	out = respondertest.Run(t.Context(), r, offering("lookup", "get_time"))
	if got := out.Stream.Reply().Text; got != "echo: lookup" {
		t.Fatalf("a script of a tool not offered: %q", got)
	}
}

// TestOpenAIReplay: a recorded stream, as another server streams calls.
func TestOpenAIReplay(t *testing.T) {
	t.Parallel()
	m := tooltest.StartOpenAI(t)
	out := respondertest.Run(t.Context(), openaiAgainst(t, m), offering(tooltest.Replay("openai_tool_calls"), "get_weather", "get_time"))
	calls := out.Stream.Reply().ToolCalls
	if out.Err != nil || len(calls) != 2 || calls[0].ID != "call_Xj3kP9qLr2" || calls[1].Name != "get_time" {
		t.Fatalf("%v, %+v", out.Err, out.Stream.Reply())
	}
}
