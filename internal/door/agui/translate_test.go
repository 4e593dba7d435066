package agui

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	wire "github.com/agentgate/agentgate/internal/agui"
	"github.com/agentgate/agentgate/internal/door"
)

// frames encodes the events as the door writes them, one line each.
func frames(t *testing.T, evs []any) string {
	t.Helper()
	var lines []string
	for _, ev := range evs {
		b, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), "null") {
			t.Errorf("a null in %s", b)
		}
		lines = append(lines, string(b))
	}
	return strings.Join(lines, "\n")
}

func TestTranslatorTextAndToolCalls(t *testing.T) {
	t.Parallel()
	tr := NewTranslator("t1", "r1")
	tr.Start("m1")
	tr.Text("It is ")
	tr.ToolStart("c1", "weather")
	tr.ToolArgs("c1", `{"city":"Oslo"}`)
	tr.ToolEnd("c1")
	tr.ToolResult("c1", "")
	tr.Text("cold.")
	tr.Finish(&agentv1.Message{MessageId: "m1", FinishReason: agentv1.FinishReason_FINISH_REASON_STOP,
		Usage: &agentv1.Usage{InputTokens: 5, OutputTokens: 7, Model: "m"}})
	tr.Text("after the end")
	want := strings.Join([]string{
		`{"type":"RUN_STARTED","threadId":"t1","runId":"r1","protocolVersion":"1.0"}`,
		`{"type":"TEXT_MESSAGE_START","messageId":"m1","role":"assistant"}`,
		`{"type":"TEXT_MESSAGE_CONTENT","messageId":"m1","delta":"It is "}`,
		`{"type":"TOOL_CALL_START","toolCallId":"c1","toolCallName":"weather","parentMessageId":"m1"}`,
		`{"type":"TOOL_CALL_ARGS","toolCallId":"c1","delta":"{\"city\":\"Oslo\"}"}`,
		`{"type":"TOOL_CALL_END","toolCallId":"c1"}`,
		`{"type":"TOOL_CALL_RESULT","messageId":"c1:result","toolCallId":"c1","content":"","role":"tool"}`,
		`{"type":"TEXT_MESSAGE_CONTENT","messageId":"m1","delta":"cold."}`,
		`{"type":"TEXT_MESSAGE_END","messageId":"m1"}`,
		`{"type":"RUN_FINISHED","threadId":"t1","runId":"r1","result":{"messageId":"m1","finishReason":"stop"},"usage":[{"model":"m","inputTokens":5,"outputTokens":7,"totalTokens":12}]}`,
	}, "\n")
	if got := frames(t, tr.Take()); got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
	if tr.Code() != "" {
		t.Fatalf("code %q", tr.Code())
	}
}

func TestTranslatorClosesEverythingBeforeTheEnd(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		end  func(*Translator)
		last string
	}{
		{"finished", func(tr *Translator) {
			tr.Finish(&agentv1.Message{MessageId: "m1", FinishReason: agentv1.FinishReason_FINISH_REASON_CANCELLED})
		}, `{"type":"RUN_FINISHED","threadId":"t1","runId":"r1","result":{"messageId":"m1","finishReason":"cancelled"},"outcome":{"type":"cancelled"}}`},
		{"failed", func(tr *Translator) { tr.Fail("unavailable", "server is shutting down; retry") },
			`{"type":"RUN_ERROR","message":"server is shutting down; retry","code":"unavailable"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tr := NewTranslator("t1", "r1")
			tr.Start("m1")
			tr.Text("half")
			tr.ToolStart("c1", "weather")
			tr.ToolStart("c2", "clock")
			tc.end(tr)
			got := frames(t, tr.Take())
			want := strings.Join([]string{
				`{"type":"RUN_STARTED","threadId":"t1","runId":"r1","protocolVersion":"1.0"}`,
				`{"type":"TEXT_MESSAGE_START","messageId":"m1","role":"assistant"}`,
				`{"type":"TEXT_MESSAGE_CONTENT","messageId":"m1","delta":"half"}`,
				`{"type":"TOOL_CALL_START","toolCallId":"c1","toolCallName":"weather","parentMessageId":"m1"}`,
				`{"type":"TOOL_CALL_START","toolCallId":"c2","toolCallName":"clock","parentMessageId":"m1"}`,
				`{"type":"TEXT_MESSAGE_END","messageId":"m1"}`,
				`{"type":"TOOL_CALL_END","toolCallId":"c1"}`,
				`{"type":"TOOL_CALL_END","toolCallId":"c2"}`,
				tc.last,
			}, "\n")
			if got != want {
				t.Fatalf("got\n%s\nwant\n%s", got, want)
			}
		})
	}
}

func TestTranslatorEmptyRunAndRestart(t *testing.T) {
	t.Parallel()
	tr := NewTranslator("t1", "r1")
	tr.Finish(nil)
	if got, want := frames(t, tr.Take()), `{"type":"RUN_STARTED","threadId":"t1","runId":"r1","protocolVersion":"1.0"}`+"\n"+
		`{"type":"RUN_FINISHED","threadId":"t1","runId":"r1"}`; got != want {
		t.Fatalf("empty run:\n%s", got)
	}

	tr = NewTranslator("t1", "r1")
	tr.Take()
	tr.Start("m1")
	tr.Text("x")
	tr.Start("m2") // the run was taken over
	tr.Text("y")
	got := frames(t, tr.Take())
	want := strings.Join([]string{
		`{"type":"TEXT_MESSAGE_START","messageId":"m1","role":"assistant"}`,
		`{"type":"TEXT_MESSAGE_CONTENT","messageId":"m1","delta":"x"}`,
		`{"type":"TEXT_MESSAGE_END","messageId":"m1"}`,
		`{"type":"TEXT_MESSAGE_START","messageId":"m2","role":"assistant"}`,
		`{"type":"TEXT_MESSAGE_CONTENT","messageId":"m2","delta":"y"}`,
	}, "\n")
	if got != want {
		t.Fatalf("restart:\n%s", got)
	}
}

// An assembled run error gives the run error's code and message.
func TestTranslatorRunError(t *testing.T) {
	t.Parallel()
	tr := NewTranslator("t1", "r1")
	a := door.NewAssembler(tr)
	a.Event(&agentv1.AgentEvent{Kind: &agentv1.AgentEvent_RunError{RunError: &agentv1.RunError{Code: "responder_failed", Message: "send it again"}}})
	got := frames(t, tr.Take())
	if !strings.HasSuffix(got, `{"type":"RUN_ERROR","message":"send it again","code":"responder_failed"}`) {
		t.Fatalf("got\n%s", got)
	}
	if tr.Code() != "responder_failed" {
		t.Fatalf("code %q", tr.Code())
	}
}

func TestNewTurn(t *testing.T) {
	t.Parallel()
	runID := func() string { return "generated" }
	for _, tc := range []struct {
		name, body string
		want       Turn
		err        string
	}{
		{"text", `{"threadId":"t","runId":"r","messages":[{"id":"u1","role":"user","content":"hi"}]}`,
			Turn{ThreadID: "t", RunID: "r", Text: "hi", MessageID: "u1"}, ""},
		{"parts", `{"messages":[{"id":"a","role":"assistant","content":"x"},{"id":"u2","role":"user","content":[{"type":"text","text":"one"},{"type":"image","source":{}},{"type":"text","text":"two"}]}]}`,
			Turn{ThreadID: "agent", RunID: "generated", Text: "one\ntwo", MessageID: "u2"}, ""},
		{"last is the assistant's", `{"threadId":"t","runId":"r","messages":[{"id":"u1","role":"user","content":"hi"},{"id":"a1","role":"assistant","content":"yo"}]}`,
			Turn{ThreadID: "t", RunID: "r"}, ""},
		{"last is a tool result", `{"threadId":"t","runId":"r","messages":[{"id":"u1","role":"user","content":"hi"},{"id":"x","role":"tool","toolCallId":"c","content":"r"}]}`,
			Turn{ThreadID: "t", RunID: "r"}, ""},
		{"no messages", `{"threadId":"t","runId":"r","messages":[]}`, Turn{ThreadID: "t", RunID: "r"}, ""},
		{"no id", `{"messages":[{"role":"user","content":"hi"}]}`, Turn{}, "messages[0] has no id"},
		{"no text", `{"messages":[{"id":"u","role":"user","content":[{"type":"image"}]}]}`, Turn{}, "messages[0] has no text"},
		{"bad content", `{"messages":[{"id":"u","role":"user","content":5}]}`, Turn{}, "messages[0].content must be a string or an array"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var in wire.RunAgentInput
			if err := json.Unmarshal([]byte(tc.body), &in); err != nil {
				t.Fatal(err)
			}
			got, e := NewTurn("agent", &in, runID)
			if tc.err != "" {
				if e == nil || !strings.Contains(e.Message, tc.err) || e.Status != 400 {
					t.Fatalf("error %v, want one with %q", e, tc.err)
				}
				return
			}
			if e != nil || got != tc.want {
				t.Fatalf("got %+v, %v; want %+v", got, e, tc.want)
			}
		})
	}
}

// A paused run ends with RUN_FINISHED saying what it waits for: the
// client's calls to run (success, pendingToolCallIds), or, when a person
// must decide, the interrupts (an upstream's with its reason and
// message), which a client's call pending too does not hide.
func TestTranslatorPauses(t *testing.T) {
	t.Parallel()
	call := func(id string, state agentv1.ToolCallState) *agentv1.ToolCall {
		c := &agentv1.ToolCall{ToolCallId: id, Name: "x", State: state}
		if state == agentv1.ToolCallState_TOOL_CALL_STATE_AWAITING_APPROVAL {
			c.ApprovalId = "AP" + id
		}
		return c
	}
	pending, awaiting, done := agentv1.ToolCallState_TOOL_CALL_STATE_PENDING, agentv1.ToolCallState_TOOL_CALL_STATE_AWAITING_APPROVAL, agentv1.ToolCallState_TOOL_CALL_STATE_DONE
	for _, tc := range []struct {
		name string
		step *agentv1.Message
		want string
	}{
		{"client calls", &agentv1.Message{ToolCalls: []*agentv1.ToolCall{call("c1", pending), call("s1", done), call("c2", pending)}},
			`{"type":"success","pendingToolCallIds":["c1","c2"]}`},
		{"an approval and a client call", &agentv1.Message{ToolCalls: []*agentv1.ToolCall{call("c1", pending), call("t1", awaiting)}},
			`{"type":"interrupt","interrupts":[{"id":"APt1:c:t1","reason":"tool_call","toolCallId":"t1"}]}`},
		{"an upstream's interrupts", &agentv1.Message{ToolCalls: []*agentv1.ToolCall{call("u1", awaiting)}, Interrupts: []*agentv1.Interrupt{
			{InterruptId: "i1", Reason: "confirmation", Message: "Sure?", ToolCallId: "u1", ApprovalId: "APu1"},
			{InterruptId: "i2", Reason: "input_required", ApprovalId: "APi2"},
			{InterruptId: "i3", ToolCallId: "earlier", ApprovalId: "APi3"},
		}}, `{"type":"interrupt","interrupts":[{"id":"APu1:c:u1","reason":"confirmation","message":"Sure?","toolCallId":"u1"},` +
			`{"id":"APi2:i:i2","reason":"input_required"},{"id":"APi3:c:earlier","reason":"tool_call","toolCallId":"earlier"}]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.step.MessageId, tc.step.FinishReason = "m1", agentv1.FinishReason_FINISH_REASON_TOOL_CALLS
			tr := NewTranslator("t1", "r1")
			tr.Take()
			tr.Finish(tc.step)
			want := `{"type":"RUN_FINISHED","threadId":"t1","runId":"r1","result":{"messageId":"m1","finishReason":"tool_calls"},"outcome":` + tc.want + `}`
			if got := frames(t, tr.Take()); got != want {
				t.Fatalf("got\n%s\nwant\n%s", got, want)
			}
		})
	}
}

func TestInterruptIDs(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ approval, call, upstream string }{
		{"AP1", "call:with:colons", ""}, {"AP2", "", "upstream-7"},
	} {
		id := InterruptID(tc.approval, tc.call, tc.upstream)
		a, c, u, ok := parseInterruptID(id)
		if !ok || a != tc.approval || c != tc.call || u != tc.upstream {
			t.Errorf("%q read back as %q %q %q %v", id, a, c, u, ok)
		}
	}
	for _, id := range []string{"", "AP", ":c:x", "AP:x:y", "AP:c:", "AP:i:"} {
		if _, _, _, ok := parseInterruptID(id); ok {
			t.Errorf("%q was read as an interrupt id", id)
		}
	}
}

func TestNewContinuation(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, body string
		want       []door.Answer
		known      []string
		err        string
	}{
		{"trailing tool messages, the gateway's own skipped",
			`{"messages":[{"id":"u","role":"user","content":"hi"},{"id":"m","role":"assistant","toolCalls":[]},` +
				`{"id":"a","role":"tool","toolCallId":"a","content":"old"},{"id":"x","role":"assistant","content":"more"},` +
				`{"id":"s1:result","role":"tool","toolCallId":"s1","content":"the server's"},` +
				`{"id":"t1","role":"tool","toolCallId":"c1","content":[{"type":"text","text":"Pa"},{"type":"text","text":"ris"}]},` +
				`{"id":"t2","role":"tool","toolCallId":"c2","content":"","error":"no GPS"}]}`,
			[]door.Answer{{Where: "messages[5]", ToolCallID: "c1", Output: "Paris"}, {Where: "messages[6]", ToolCallID: "c2", Output: "no GPS", IsError: true}},
			[]string{"a", "s1", "c1", "c2"}, ""},
		{"resume entries", `{"messages":[],"resume":[{"interruptId":"AP:c:t1","status":"resolved","payload":{"approved":true,"reason":"ok"}},` +
			`{"interruptId":"AQ:i:up","status":"cancelled"}]}`,
			[]door.Answer{{Where: "resume[0]", Decide: true, ToolCallID: "t1", ApprovalID: "AP", Approve: true, Reason: "ok"},
				{Where: "resume[1]", Decide: true, InterruptID: "up", ApprovalID: "AQ", Reason: "cancelled"}}, nil, ""},
		{"no call", `{"messages":[{"id":"t","role":"tool","content":"x"}]}`, nil, nil, "messages[0] has no toolCallId"},
		{"no decision", `{"messages":[],"resume":[{"interruptId":"AP:c:t1","status":"resolved","payload":{"yes":true}}]}`, nil, nil, `resume[0].payload must be {"approved"`},
		{"no payload", `{"messages":[],"resume":[{"interruptId":"AP:c:t1","status":"resolved"}]}`, nil, nil, `resume[0].payload`},
		{"bad status", `{"messages":[],"resume":[{"interruptId":"AP:c:t1","status":"later"}]}`, nil, nil, `resume[0].status "later"`},
		{"not an interrupt of ours", `{"messages":[],"resume":[{"interruptId":"t1","status":"cancelled"}]}`, nil, nil, "not an interrupt this gateway asked"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var in wire.RunAgentInput
			if err := json.Unmarshal([]byte(tc.body), &in); err != nil {
				t.Fatal(err)
			}
			got, e := NewContinuation(&in)
			if tc.err != "" {
				if e == nil || e.Status != 400 || !strings.Contains(e.Message, tc.err) {
					t.Fatalf("error %v, want a 400 with %q", e, tc.err)
				}
				return
			}
			if e != nil || !slices.Equal(got.Answers, tc.want) || !slices.Equal(got.Known, tc.known) {
				t.Fatalf("got %+v, %v\nwant %+v, known %v", got, e, tc.want, tc.known)
			}
		})
	}
}
