package agui

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/agentgate/agentgate/responder"
	"github.com/agentgate/agentgate/responder/respondertest"
	"github.com/agentgate/agentgate/tool"
)

// step answers req through r, checks that the Stream's contract holds for
// the step, and returns the outcome.
func step(t *testing.T, r *Responder, req responder.Request) respondertest.Outcome {
	t.Helper()
	out := &respondertest.Recorder{}
	res, err := respond(t, r, req, out)
	o := respondertest.Outcome{Request: req, Stream: out, Result: res, Err: err}
	if err != nil {
		t.Fatalf("step %d: %v", req.Step, err)
	}
	if err := o.Check(); err != nil {
		t.Fatalf("step %d: %v", req.Step, err)
	}
	return o
}

// weatherTool is a client tool as a frontend lends it.
var weatherTool = tool.Def{Name: "get_weather", Description: "Current weather in a city.",
	Parameters: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}`)}

// TestClientToolWire runs a client tool round trip against the Node agent
// (official @ag-ui/encoder): the first step passes the lent tool as
// RunAgentInput.tools, and the agent's call of it ends the step with
// tool_calls; the next step, a run of its own, brings the call and its
// result as AG-UI messages (a failure as the tool message's error, an empty
// output as an empty tool message), and the agent answers with it. Each input the agent received passes the official
// schema, made strict.
func TestClientToolWire(t *testing.T) {
	t.Parallel()
	up := startUpstream(t)
	for _, tc := range []struct {
		name   string
		result tool.Result
		text   string
		tool   string // the tool message the second run carries
	}{{
		name:   "output",
		result: tool.Result{Output: "sunny, 21C"},
		text:   "The tool says: sunny, 21C",
		tool:   `{"id":"RUN-step0-call_lent_1","role":"tool","content":"sunny, 21C","toolCallId":"call_lent_1"}`,
	}, {
		name:   "empty output",
		result: tool.Result{},
		text:   "The tool says: ",
		tool:   `{"id":"RUN-step0-call_lent_1","role":"tool","content":"","toolCallId":"call_lent_1"}`,
	}, {
		name:   "error",
		result: tool.Result{Output: "the weather service is down", IsError: true},
		text:   "The tool failed: the weather service is down",
		tool: `{"id":"RUN-step0-call_lent_1","role":"tool","content":"the weather service is down","toolCallId":"call_lent_1",
			"error":"the weather service is down"}`,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := up.responder(t, "client-tool", Config{Token: testToken})
			req := request(t)
			req.Tools = []tool.Def{weatherTool}
			first := step(t, r, req)
			if want := []string{"start call_lent_1 get_weather", `args call_lent_1 {"city":`, `args call_lent_1 "Paris"}`, "end call_lent_1"}; !slices.Equal(first.Stream.Lines(), want) {
				t.Errorf("step 0: %q, want %q", first.Stream.Lines(), want)
			}
			if first.Result.FinishReason != responder.FinishToolCalls {
				t.Errorf("step 0 finished %q, want tool_calls", first.Result.FinishReason)
			}
			rec := up.recorded(t, req.RunID)
			if !rec.Valid {
				t.Errorf("the official schema refused step 0's input: %s", rec.Issues)
			}
			assertField(t, rec.Body, "tools", `[{"name":"get_weather","description":"Current weather in a city.",
				"parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}]`)

			next, err := first.Next(map[string]tool.Result{"call_lent_1": tc.result})
			if err != nil {
				t.Fatal(err)
			}
			second := step(t, r, next)
			if want := []string{"text " + tc.text}; !slices.Equal(second.Stream.Lines(), want) {
				t.Errorf("step 1: %q, want %q", second.Stream.Lines(), want)
			}
			if second.Result.FinishReason != responder.FinishStop {
				t.Errorf("step 1 finished %q, want stop", second.Result.FinishReason)
			}
			rec = up.recorded(t, req.RunID+"-1")
			if !rec.Valid {
				t.Errorf("the official schema refused step 1's input: %s", rec.Issues)
			}
			assertField(t, rec.Body, "messages", strings.ReplaceAll(`[
				{"id":"u1","role":"user","content":"hi"},
				{"id":"RUN-step0","role":"assistant","toolCalls":[
					{"id":"call_lent_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},
				`+tc.tool+`]`, "RUN", req.RunID))
			assertField(t, rec.Body, "runId", `"`+req.RunID+`-1"`)
			assertField(t, rec.Body, "threadId", `"agent-1"`)
		})
	}
}

// TestApprovalWire runs an AG-UI agent's interrupt round trip against the
// Node agent: the first step streams the agent's own call and ends with
// its RUN_FINISHED interrupt outcome, reported as interrupts (one holding
// the call, one about nothing) and finish tool_calls; the next step sends
// the answers as resume entries, and the resumed agent answers the held
// call with a TOOL_CALL_RESULT alone, which reaches the Stream as that
// call's result, then goes on.
func TestApprovalWire(t *testing.T) {
	t.Parallel()
	up := startUpstream(t)
	for _, tc := range []struct {
		name    string
		resume  []responder.Resume
		lines   []string
		payload string // the resume entries the agent received
	}{{
		name: "approved",
		resume: []responder.Resume{
			{InterruptID: "int-delete", Status: responder.ResumeResolved, Approved: true},
			{InterruptID: "int-note", Status: responder.ResumeCancelled},
		},
		lines:   []string{"result call_delete deleted", "text Deleted."},
		payload: `[{"interruptId":"int-delete","status":"resolved","payload":{"approved":true}},{"interruptId":"int-note","status":"cancelled"}]`,
	}, {
		name: "denied",
		resume: []responder.Resume{
			{InterruptID: "int-delete", Status: responder.ResumeResolved, Approved: false, Reason: "I still need it"},
			{InterruptID: "int-note", Status: responder.ResumeResolved, Approved: true},
		},
		lines: []string{"result call_delete kept", "text Kept the file (I still need it)."},
		payload: `[{"interruptId":"int-delete","status":"resolved","payload":{"approved":false,"reason":"I still need it"}},
			{"interruptId":"int-note","status":"resolved","payload":{"approved":true}}]`,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := up.responder(t, "approval", Config{})
			req := request(t)
			first := step(t, r, req)
			want := []string{
				"start call_delete delete_file", `args call_delete {"path":"/tmp/report.pdf"}`, "end call_delete",
				"interrupt int-delete tool_call call_delete", "interrupt int-note input_required",
			}
			if !slices.Equal(first.Stream.Lines(), want) {
				t.Errorf("step 0: %q, want %q", first.Stream.Lines(), want)
			}
			wantInterrupts := []responder.Interrupt{
				{ID: "int-delete", Reason: "tool_call", Message: "Delete /tmp/report.pdf?", ToolCallID: "call_delete"},
				{ID: "int-note", Reason: "input_required", Message: "Any note for the log?"},
			}
			if got := first.Stream.Interrupts(); !slices.Equal(got, wantInterrupts) {
				t.Errorf("interrupts %+v, want %+v", got, wantInterrupts)
			}
			if first.Result.FinishReason != responder.FinishToolCalls {
				t.Errorf("step 0 finished %q, want tool_calls", first.Result.FinishReason)
			}
			if body := up.recorded(t, req.RunID).Body; strings.Contains(string(body), `"resume"`) {
				t.Errorf("step 0 sent a resume: %s", body)
			}

			next, err := first.Next(nil, tc.resume...)
			if err != nil {
				t.Fatal(err)
			}
			second := step(t, r, next)
			if !slices.Equal(second.Stream.Lines(), tc.lines) {
				t.Errorf("step 1: %q, want %q", second.Stream.Lines(), tc.lines)
			}
			if second.Result.FinishReason != responder.FinishStop {
				t.Errorf("step 1 finished %q, want stop", second.Result.FinishReason)
			}
			rec := up.recorded(t, req.RunID+"-1")
			if !rec.Valid {
				t.Errorf("the official schema refused step 1's input: %s", rec.Issues)
			}
			assertField(t, rec.Body, "resume", tc.payload)
			// The held call goes back without a result: the agent gives it.
			assertField(t, rec.Body, "messages", strings.ReplaceAll(`[
				{"id":"u1","role":"user","content":"hi"},
				{"id":"RUN-step0","role":"assistant","toolCalls":[
					{"id":"call_delete","type":"function","function":{"name":"delete_file","arguments":"{\"path\":\"/tmp/report.pdf\"}"}}]}]`,
				"RUN", req.RunID))
		})
	}
}

// assertField checks one field of a recorded input against JSON.
func assertField(t *testing.T, body json.RawMessage, name, want string) {
	t.Helper()
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil {
		t.Fatal(err)
	}
	got, ok := fields[name]
	if !ok {
		t.Errorf("the input has no %s: %s", name, body)
		return
	}
	assertJSON(t, got, want)
}
