package aisdk

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/agentgate/agentgate/internal/door"
)

func chunks(t *testing.T, cs []any) string {
	t.Helper()
	var lines []string
	for _, c := range cs {
		b, err := json.Marshal(c)
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
	tr := NewTranslator()
	tr.Start("m1")
	tr.Text("It is ")
	tr.Text("now ")
	tr.ToolStart("c1", "weather")
	tr.ToolArgs("c1", `{"city":`)
	tr.ToolArgs("c1", `"Oslo"}`)
	tr.ToolEnd("c1")
	tr.ToolResult("c1", `{"temp":3}`)
	tr.ToolStart("c2", "clock")
	tr.ToolEnd("c2")
	tr.ToolResult("c2", "noon")
	tr.Text("cold.")
	tr.Finish(&agentv1.Message{MessageId: "m1", FinishReason: agentv1.FinishReason_FINISH_REASON_LENGTH})
	tr.Text("after the end")
	want := strings.Join([]string{
		`{"type":"start","messageId":"m1"}`,
		`{"type":"text-start","id":"text-1"}`,
		`{"type":"text-delta","id":"text-1","delta":"It is "}`,
		`{"type":"text-delta","id":"text-1","delta":"now "}`,
		`{"type":"text-end","id":"text-1"}`,
		`{"type":"tool-input-start","toolCallId":"c1","toolName":"weather","providerExecuted":true}`,
		`{"type":"tool-input-delta","toolCallId":"c1","inputTextDelta":"{\"city\":"}`,
		`{"type":"tool-input-delta","toolCallId":"c1","inputTextDelta":"\"Oslo\"}"}`,
		`{"type":"tool-input-available","toolCallId":"c1","toolName":"weather","input":{"city":"Oslo"},"providerExecuted":true}`,
		`{"type":"tool-output-available","toolCallId":"c1","output":{"temp":3},"providerExecuted":true}`,
		`{"type":"tool-input-start","toolCallId":"c2","toolName":"clock","providerExecuted":true}`,
		`{"type":"tool-input-available","toolCallId":"c2","toolName":"clock","input":{},"providerExecuted":true}`,
		`{"type":"tool-output-available","toolCallId":"c2","output":"noon","providerExecuted":true}`,
		`{"type":"text-start","id":"text-2"}`,
		`{"type":"text-delta","id":"text-2","delta":"cold."}`,
		`{"type":"text-end","id":"text-2"}`,
		`{"type":"finish","finishReason":"length"}`,
	}, "\n")
	if got := chunks(t, tr.Take()); got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
	if tr.Failed() || tr.Code() != "" {
		t.Fatal("failed")
	}
}

func TestTranslatorErrorAndEmpty(t *testing.T) {
	t.Parallel()
	tr := NewTranslator()
	tr.Start("m1")
	tr.Text("half")
	tr.Fail("unavailable", "server is shutting down; retry")
	tr.Finish(nil)
	want := strings.Join([]string{
		`{"type":"start","messageId":"m1"}`,
		`{"type":"text-start","id":"text-1"}`,
		`{"type":"text-delta","id":"text-1","delta":"half"}`,
		`{"type":"text-end","id":"text-1"}`,
		`{"type":"error","errorText":"unavailable: server is shutting down; retry"}`,
	}, "\n")
	if got := chunks(t, tr.Take()); got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
	if tr.Code() != "unavailable" {
		t.Fatalf("code %q", tr.Code())
	}

	tr = NewTranslator()
	tr.Start("")
	tr.Finish(nil)
	if got := chunks(t, tr.Take()); got != `{"type":"start"}`+"\n"+`{"type":"finish"}` {
		t.Fatalf("empty:\n%s", got)
	}
}

func TestFinishReasons(t *testing.T) {
	t.Parallel()
	for f, want := range map[agentv1.FinishReason]string{
		agentv1.FinishReason_FINISH_REASON_UNSPECIFIED:    "stop",
		agentv1.FinishReason_FINISH_REASON_STOP:           "stop",
		agentv1.FinishReason_FINISH_REASON_LENGTH:         "length",
		agentv1.FinishReason_FINISH_REASON_CANCELLED:      "other",
		agentv1.FinishReason_FINISH_REASON_CONTENT_FILTER: "content-filter",
		agentv1.FinishReason_FINISH_REASON_TOOL_CALLS:     "tool-calls",
	} {
		if got := finishReason(f); got != want {
			t.Errorf("%v: %q, want %q", f, got, want)
		}
	}
}

func TestNewTurn(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, body string
		text, id   string
		err        string
	}{
		{"submit", `{"id":"a","messages":[{"id":"u1","role":"user","parts":[{"type":"text","text":"hi"}]}],"trigger":"submit-message"}`,
			"hi", "u1", ""},
		{"no trigger, parts joined", `{"id":"a","messages":[{"id":"u1","role":"user","parts":[{"type":"text","text":"a"},{"type":"file","url":"x"},{"type":"text","text":"b"}]}]}`,
			"a\nb", "u1", ""},
		{"last is the assistant's", `{"id":"a","messages":[{"id":"u1","role":"user","parts":[{"type":"text","text":"hi"}]},{"id":"m","role":"assistant","parts":[]}]}`,
			"", "", ""},
		{"regenerate", `{"id":"a","messages":[{"id":"u1","role":"user","parts":[{"type":"text","text":"hi"}]}],"trigger":"regenerate-message","messageId":"m1"}`,
			"hi", derivedID("regenerate", "u1", "m1"), ""},
		{"regenerate the last", `{"id":"a","messages":[{"id":"u1","role":"user","parts":[{"type":"text","text":"hi"}]}],"trigger":"regenerate-message"}`,
			"hi", "", ""},
		{"edit", `{"id":"a","messages":[{"id":"u1","role":"user","parts":[{"type":"text","text":"new"}]}],"trigger":"submit-message","messageId":"u1"}`,
			"new", derivedID("edit", "u1", "new"), ""},
		{"bad agent id", `{"id":"a b","messages":[]}`, "", "", "id names the agent"},
		{"no agent id", `{"messages":[]}`, "", "", "agent_id is required"},
		{"bad trigger", `{"id":"a","messages":[],"trigger":"resume"}`, "", "", `trigger "resume"`},
		{"no message id", `{"id":"a","messages":[{"role":"user","parts":[{"type":"text","text":"hi"}]}]}`, "", "", "has no id"},
		{"no text", `{"id":"a","messages":[{"id":"u","role":"user","parts":[]}]}`, "", "", "has no text part"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var req ChatRequest
			if err := json.Unmarshal([]byte(tc.body), &req); err != nil {
				t.Fatal(err)
			}
			got, e := NewTurn(&req)
			if tc.err != "" {
				if e == nil || !strings.Contains(e.Message, tc.err) {
					t.Fatalf("error %v, want one with %q", e, tc.err)
				}
				return
			}
			if e != nil || got.Text != tc.text || got.ClientMessageID != tc.id || got.AgentID != "a" {
				t.Fatalf("got %+v, %v", got, e)
			}
			if len(got.ClientMessageID) > 128 {
				t.Fatalf("client_message_id of %d characters", len(got.ClientMessageID))
			}
		})
	}
	if derivedID("regenerate", "u1", "m1") == derivedID("regenerate", "u1", "m2") {
		t.Fatal("two regenerations share an id")
	}
}

// A run of steps: start-step between them; a client tool's call made
// available at its step's end, for the client to run (providerExecuted
// false), the gateway's at its outcome or approval request; a call of an
// earlier step answered without being started again.
func TestTranslatorSteps(t *testing.T) {
	t.Parallel()
	tr := NewTranslator()
	tr.Start("m0")
	tr.ToolStart("s1", "lookup")
	tr.ToolArgs("s1", `{}`)
	tr.ToolEnd("s1")
	tr.ToolResult("s1", `{"found":1}`)
	tr.Persisted(&agentv1.Message{ToolCalls: []*agentv1.ToolCall{{ToolCallId: "s1", Kind: agentv1.ToolCallKind_TOOL_CALL_KIND_SERVER}}})
	tr.Step("m1")
	tr.Text("Next.")
	tr.ToolStart("c1", "get_location")
	tr.ToolEnd("c1")
	tr.ToolStart("t1", "transfer")
	tr.ToolEnd("t1")
	tr.Approval(&agentv1.ToolApprovalRequest{ToolCallId: "t1", ApprovalId: "AP1"})
	tr.ToolError("x0", "denied: no", agentv1.ToolCallState_TOOL_CALL_STATE_DENIED)
	step := &agentv1.Message{MessageId: "m1", FinishReason: agentv1.FinishReason_FINISH_REASON_TOOL_CALLS, ToolCalls: []*agentv1.ToolCall{
		{ToolCallId: "c1", Kind: agentv1.ToolCallKind_TOOL_CALL_KIND_CLIENT, State: agentv1.ToolCallState_TOOL_CALL_STATE_PENDING},
		{ToolCallId: "t1", Kind: agentv1.ToolCallKind_TOOL_CALL_KIND_SERVER, State: agentv1.ToolCallState_TOOL_CALL_STATE_AWAITING_APPROVAL},
	}}
	tr.Persisted(step)
	tr.Finish(step)
	want := strings.Join([]string{
		`{"type":"start","messageId":"m0"}`,
		`{"type":"tool-input-start","toolCallId":"s1","toolName":"lookup","providerExecuted":true}`,
		`{"type":"tool-input-delta","toolCallId":"s1","inputTextDelta":"{}"}`,
		`{"type":"tool-input-available","toolCallId":"s1","toolName":"lookup","input":{},"providerExecuted":true}`,
		`{"type":"tool-output-available","toolCallId":"s1","output":{"found":1},"providerExecuted":true}`,
		`{"type":"start-step"}`,
		`{"type":"text-start","id":"text-1"}`,
		`{"type":"text-delta","id":"text-1","delta":"Next."}`,
		`{"type":"text-end","id":"text-1"}`,
		`{"type":"tool-input-start","toolCallId":"c1","toolName":"get_location","providerExecuted":true}`,
		`{"type":"tool-input-start","toolCallId":"t1","toolName":"transfer","providerExecuted":true}`,
		`{"type":"tool-input-available","toolCallId":"t1","toolName":"transfer","input":{},"providerExecuted":true}`,
		`{"type":"tool-approval-request","approvalId":"AP1","toolCallId":"t1"}`,
		`{"type":"tool-output-denied","toolCallId":"x0"}`,
		`{"type":"tool-input-available","toolCallId":"c1","toolName":"get_location","input":{},"providerExecuted":false}`,
		`{"type":"finish","finishReason":"tool-calls"}`,
	}, "\n")
	if got := chunks(t, tr.Take()); got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}

func TestNewContinuation(t *testing.T) {
	t.Parallel()
	msgs := func(parts string) string {
		return `{"id":"a","messages":[{"id":"u","role":"user","parts":[{"type":"text","text":"hi"}]},{"id":"m","role":"assistant","parts":[` + parts + `]}]}`
	}
	for _, tc := range []struct {
		name, body string
		want       []door.Answer
		err        string
	}{
		{"outputs and approvals of the last step", msgs(
			`{"type":"tool-get_location","toolCallId":"old","state":"output-available","output":"x"},{"type":"step-start"},` +
				`{"type":"text","text":"hi"},` +
				`{"type":"tool-get_location","toolCallId":"c1","state":"output-available","output":{ "city" : "Paris" }},` +
				`{"type":"dynamic-tool","toolName":"get_time","toolCallId":"c2","state":"output-error","errorText":"no clock"},` +
				`{"type":"tool-get_name","toolCallId":"c3","state":"output-available","output":"Ann"},` +
				`{"type":"tool-lookup","toolCallId":"s1","state":"output-available","output":{"found":1},"providerExecuted":true},` +
				`{"type":"tool-transfer","toolCallId":"t1","state":"approval-responded","providerExecuted":true,"approval":{"id":"AP1","approved":false,"reason":"no"}},` +
				`{"type":"tool-other","toolCallId":"p1","state":"input-available"}`),
			[]door.Answer{
				{Where: "messages[1].parts[3]", ToolCallID: "c1", Output: `{"city":"Paris"}`},
				{Where: "messages[1].parts[4]", ToolCallID: "c2", Output: "no clock", IsError: true},
				{Where: "messages[1].parts[5]", ToolCallID: "c3", Output: "Ann"},
				{Where: "messages[1].parts[7]", ToolCallID: "t1", Decide: true, ApprovalID: "AP1", Reason: "no"},
			}, ""},
		{"an approval the server did not ask", msgs(`{"type":"tool-transfer","toolCallId":"t1","state":"approval-responded","approval":{"approved":true}}`),
			nil, "without its id"},
		{"an approval without its answer", msgs(`{"type":"tool-transfer","toolCallId":"t1","state":"approval-responded","approval":{"id":"AP1"}}`),
			nil, "approval.approved"},
		{"an output without its call", msgs(`{"type":"tool-x","state":"output-available","output":1}`), nil, "has no toolCallId"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var req ChatRequest
			if err := json.Unmarshal([]byte(tc.body), &req); err != nil {
				t.Fatal(err)
			}
			got, e := NewContinuation(&req)
			if tc.err != "" {
				if e == nil || e.Status != 400 || !strings.Contains(e.Message, tc.err) {
					t.Fatalf("error %v, want a 400 with %q", e, tc.err)
				}
				return
			}
			if e != nil || !slices.Equal(got, tc.want) {
				t.Fatalf("got %+v, %v\nwant %+v", got, e, tc.want)
			}
		})
	}
}
