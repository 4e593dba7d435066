package door

import (
	"fmt"
	"strings"
	"testing"

	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
)

// record is a Sink that writes its calls down.
type record []string

func (r *record) add(f string, a ...any) { *r = append(*r, fmt.Sprintf(f, a...)) }

func (r *record) Start(id string)           { r.add("start %s", id) }
func (r *record) Text(d string)             { r.add("text %q", d) }
func (r *record) ToolStart(id, name string) { r.add("tool-start %s %s", id, name) }
func (r *record) ToolArgs(id, d string)     { r.add("tool-args %s %s", id, d) }
func (r *record) ToolEnd(id string)         { r.add("tool-end %s", id) }
func (r *record) ToolResult(id, c string)   { r.add("tool-result %s %s", id, c) }
func (r *record) Step(id string)            { r.add("step %s", id) }
func (r *record) ToolError(id, c string, s agentv1.ToolCallState) {
	r.add("tool-error %s %s %s", id, c, s)
}
func (r *record) Approval(a *agentv1.ToolApprovalRequest) {
	r.add("approval %s %s", a.GetToolCallId(), a.GetApprovalId())
}
func (r *record) Decided(d *agentv1.ToolCallDecision) {
	r.add("decided %s %v", d.GetToolCallId(), d.GetApproved())
}
func (r *record) Persisted(*agentv1.Message) {}
func (r *record) Finish(m *agentv1.Message)  { r.add("finish %s", m.GetFinishReason()) }
func (r *record) Fail(code, msg string)      { r.add("fail %s %s", code, msg) }
func (r *record) String() string             { return strings.Join(*r, "\n") }
func started(run, msg string) *agentv1.AgentEvent {
	return &agentv1.AgentEvent{Kind: &agentv1.AgentEvent_RunStarted{RunStarted: &agentv1.RunStarted{RunId: run, MessageId: msg}}}
}

func delta(run, msg, d string) *agentv1.AgentEvent {
	return &agentv1.AgentEvent{Kind: &agentv1.AgentEvent_TextDelta{TextDelta: &agentv1.TextDelta{RunId: run, MessageId: msg, Delta: d}}}
}

func toolStart(run, msg, id, name string) *agentv1.AgentEvent {
	return &agentv1.AgentEvent{Kind: &agentv1.AgentEvent_ToolCallStart{ToolCallStart: &agentv1.ToolCallStart{RunId: run, MessageId: msg, ToolCallId: id, Name: name}}}
}

func toolArgs(run, id, d string) *agentv1.AgentEvent {
	return &agentv1.AgentEvent{Kind: &agentv1.AgentEvent_ToolCallArgs{ToolCallArgs: &agentv1.ToolCallArgs{RunId: run, ToolCallId: id, Delta: d}}}
}

func toolEnd(run, id string) *agentv1.AgentEvent {
	return &agentv1.AgentEvent{Kind: &agentv1.AgentEvent_ToolCallEnd{ToolCallEnd: &agentv1.ToolCallEnd{RunId: run, ToolCallId: id}}}
}

func toolResult(run, id, c string) *agentv1.AgentEvent {
	return &agentv1.AgentEvent{Kind: &agentv1.AgentEvent_ToolCallResult{ToolCallResult: &agentv1.ToolCallResult{RunId: run, ToolCallId: id, Content: c}}}
}

func reply(msg, text string, calls ...*agentv1.ToolCall) *agentv1.AgentEvent {
	return &agentv1.AgentEvent{Seq: 2, Kind: &agentv1.AgentEvent_Message{Message: &agentv1.Message{
		MessageId: msg, Role: agentv1.Role_ROLE_ASSISTANT, Text: text, ToolCalls: calls,
		FinishReason: agentv1.FinishReason_FINISH_REASON_STOP}}}
}

func runError(code, msg string) *agentv1.AgentEvent {
	return &agentv1.AgentEvent{Seq: 2, Kind: &agentv1.AgentEvent_RunError{RunError: &agentv1.RunError{Code: code, Message: msg}}}
}

var weather = &agentv1.ToolCall{ToolCallId: "c1", Name: "weather", Arguments: `{"city":"Oslo"}`, Result: `{"temp":3}`}

func TestAssembler(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		events []*agentv1.AgentEvent
		want   []string
	}{{
		name: "live run",
		events: []*agentv1.AgentEvent{
			started("r", "m"), delta("r", "m", "It is "),
			toolStart("r", "m", "c1", "weather"), toolArgs("r", "c1", `{"city":`), toolArgs("r", "c1", `"Oslo"}`),
			toolEnd("r", "c1"), toolResult("r", "c1", `{"temp":3}`), delta("r", "m", "cold."),
			reply("m", "It is cold.", weather),
		},
		want: []string{`start m`, `text "It is "`, `tool-start c1 weather`, `tool-args c1 {"city":`, `tool-args c1 "Oslo"}`,
			`tool-end c1`, `tool-result c1 {"temp":3}`, `text "cold."`, `finish FINISH_REASON_STOP`},
	}, {
		name:   "a reply written already",
		events: []*agentv1.AgentEvent{reply("m", "It is cold.", weather)},
		want: []string{`start m`, `text "It is cold."`, `tool-start c1 weather`, `tool-args c1 {"city":"Oslo"}`,
			`tool-end c1`, `tool-result c1 {"temp":3}`, `finish FINISH_REASON_STOP`},
	}, {
		name: "a joined run: the text so far in one delta",
		events: []*agentv1.AgentEvent{
			started("r", "m"), delta("r", "m", "It is "), toolStart("r", "m", "c1", "weather"), toolArgs("r", "c1", `{"city":"Oslo"}`),
			reply("m", "It is cold.", weather),
		},
		want: []string{`start m`, `text "It is "`, `tool-start c1 weather`, `tool-args c1 {"city":"Oslo"}`,
			`text "cold."`, `tool-end c1`, `tool-result c1 {"temp":3}`, `finish FINISH_REASON_STOP`},
	}, {
		name: "lost events are filled in from the reply",
		events: []*agentv1.AgentEvent{
			delta("r", "m", "It "), toolArgs("r", "c1", `{"ci`), toolEnd("r", "c1"),
			reply("m", "It is cold.", weather),
		},
		want: []string{`start m`, `text "It "`, `text "is cold."`, `tool-start c1 weather`, `tool-args c1 {"city":"Oslo"}`,
			`tool-end c1`, `tool-result c1 {"temp":3}`, `finish FINISH_REASON_STOP`},
	}, {
		name:   "a run error after some text",
		events: []*agentv1.AgentEvent{started("r", "m"), delta("r", "m", "It "), runError("upstream_failed", "try again")},
		want:   []string{`start m`, `text "It "`, `fail upstream_failed try again`},
	}, {
		name: "a run taken over after its writer died",
		events: []*agentv1.AgentEvent{
			started("r1", "m1"), delta("r1", "m1", "Half"), toolStart("r1", "m1", "c0", "weather"),
			started("r2", "m2"), delta("r2", "m2", "Whole"), reply("m2", "Whole"),
		},
		want: []string{`start m1`, `text "Half"`, `tool-start c0 weather`, `tool-end c0`, `start m2`, `text "Whole"`,
			`finish FINISH_REASON_STOP`},
	}, {
		name:   "nothing after the end",
		events: []*agentv1.AgentEvent{reply("m", "ok"), delta("r", "m", "late"), runError("x", "y")},
		want:   []string{`start m`, `text "ok"`, `finish FINISH_REASON_STOP`},
	}, {
		name:   "a result without its call waits for the reply",
		events: []*agentv1.AgentEvent{started("r", "m"), toolResult("r", "c1", "early"), reply("m", "", weather)},
		want: []string{`start m`, `tool-start c1 weather`, `tool-args c1 {"city":"Oslo"}`, `tool-end c1`,
			`tool-result c1 {"temp":3}`, `finish FINISH_REASON_STOP`},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var got record
			a := NewAssembler(&got)
			for _, ev := range tc.events {
				a.Event(ev)
			}
			if !a.Ended() {
				t.Error("not ended")
			}
			want := record(tc.want)
			if got.String() != want.String() {
				t.Errorf("got\n%s\nwant\n%s", got.String(), want.String())
			}
		})
	}
}

func TestAssemblerFailEndsOnce(t *testing.T) {
	t.Parallel()
	var got record
	a := NewAssembler(&got)
	a.Event(started("r", "m"))
	a.Fail("unavailable", "server is shutting down; retry")
	a.Fail("again", "no")
	a.Event(reply("m", "x"))
	if want := "start m\nfail unavailable server is shutting down; retry"; got.String() != want {
		t.Fatalf("got\n%s", got.String())
	}
}

func stepStarted(run, msg string) *agentv1.AgentEvent {
	return &agentv1.AgentEvent{Kind: &agentv1.AgentEvent_StepStarted{StepStarted: &agentv1.StepStarted{RunId: run, MessageId: msg, Step: 1}}}
}

// step is a persisted step of run r that called tools: the run goes on, or
// pauses if a call waits.
func step(msg, text string, calls ...*agentv1.ToolCall) *agentv1.AgentEvent {
	return &agentv1.AgentEvent{Seq: 2, Kind: &agentv1.AgentEvent_Message{Message: &agentv1.Message{
		MessageId: msg, Role: agentv1.Role_ROLE_ASSISTANT, Text: text, ToolCalls: calls, RunId: "r",
		FinishReason: agentv1.FinishReason_FINISH_REASON_TOOL_CALLS}}}
}

func persistedResult(msg, id, c string, state agentv1.ToolCallState) *agentv1.AgentEvent {
	return &agentv1.AgentEvent{Seq: 3, Kind: &agentv1.AgentEvent_ToolCallResult{ToolCallResult: &agentv1.ToolCallResult{
		RunId: "r", MessageId: msg, ToolCallId: id, Content: c, State: state,
		IsError: state != agentv1.ToolCallState_TOOL_CALL_STATE_DONE}}}
}

// earlierResult is the live result of a call of the earlier step msg: an
// approved call that ran as its run went on.
func earlierResult(msg, id, c string) *agentv1.AgentEvent {
	return &agentv1.AgentEvent{Kind: &agentv1.AgentEvent_ToolCallResult{ToolCallResult: &agentv1.ToolCallResult{
		RunId: "r", MessageId: msg, ToolCallId: id, Content: c, State: done}}}
}

func approvalAsked(msg, id, approval string) *agentv1.AgentEvent {
	return &agentv1.AgentEvent{Kind: &agentv1.AgentEvent_ToolApprovalRequest{ToolApprovalRequest: &agentv1.ToolApprovalRequest{
		RunId: "r", MessageId: msg, ToolCallId: id, ApprovalId: approval, Name: "transfer", Reason: "tool_call"}}}
}

var (
	done     = agentv1.ToolCallState_TOOL_CALL_STATE_DONE
	denied   = agentv1.ToolCallState_TOOL_CALL_STATE_DENIED
	pending  = agentv1.ToolCallState_TOOL_CALL_STATE_PENDING
	awaiting = agentv1.ToolCallState_TOOL_CALL_STATE_AWAITING_APPROVAL
)

func call(id, name, args, result string, state agentv1.ToolCallState) *agentv1.ToolCall {
	return &agentv1.ToolCall{ToolCallId: id, Name: name, Arguments: args, Result: result, State: state,
		IsError: state == denied, ApprovalId: map[bool]string{true: "ap-" + id}[state == awaiting]}
}

// TestAssemblerSteps: a run of several steps, each its own message; pauses
// that end the sequence, or not when the follower says so (last false);
// a run that goes on after the client's answers.
func TestAssemblerSteps(t *testing.T) {
	t.Parallel()
	type ev struct {
		e    *agentv1.AgentEvent
		last bool
	}
	for _, tc := range []struct {
		name      string
		continue_ []string // Continue with these known calls, if not nil
		events    []ev
		want      []string
	}{{
		name: "a server tool's step goes on, live",
		events: []ev{
			{e: started("r", "m0")}, {e: delta("r", "m0", "Looking. ")}, {e: toolStart("r", "m0", "s1", "lookup")},
			{e: toolArgs("r", "s1", `{}`)}, {e: toolEnd("r", "s1")}, {e: toolResult("r", "s1", "found")},
			{e: step("m0", "Looking. ", call("s1", "lookup", `{}`, "found", done))},
			{e: stepStarted("r", "m1")}, {e: delta("r", "m1", "Found it.")}, {e: reply("m1", "Found it."), last: true},
		},
		want: []string{`start m0`, `text "Looking. "`, `tool-start s1 lookup`, `tool-args s1 {}`, `tool-end s1`, `tool-result s1 found`,
			`step m1`, `text "Found it."`, `finish FINISH_REASON_STOP`},
	}, {
		name: "a run read from the log: each step from its message, the step_started lost",
		events: []ev{
			{e: step("m0", "", call("s1", "lookup", `{}`, "found", done))}, {e: reply("m1", "Found it."), last: true},
		},
		want: []string{`start m0`, `tool-start s1 lookup`, `tool-args s1 {}`, `tool-end s1`, `tool-result s1 found`,
			`step m1`, `text "Found it."`, `finish FINISH_REASON_STOP`},
	}, {
		name: "a pause for a client call and an approval, its request live",
		events: []ev{
			{e: started("r", "m0")}, {e: toolStart("r", "m0", "c1", "get_location")}, {e: toolEnd("r", "c1")},
			{e: toolStart("r", "m0", "t1", "transfer")}, {e: approvalAsked("m0", "t1", "ap-t1")},
			{e: step("m0", "", call("c1", "get_location", "", "", pending), call("t1", "transfer", "", "", awaiting)), last: true},
		},
		want: []string{`start m0`, `tool-start c1 get_location`, `tool-end c1`, `tool-start t1 transfer`, `tool-end t1`,
			`approval t1 ap-t1`, `finish FINISH_REASON_TOOL_CALLS`},
	}, {
		name: "a replayed pause that the run went on after (last false), its answers, then the end",
		events: []ev{
			{e: step("m0", "", call("c1", "get_location", "{}", "", pending), call("t1", "transfer", "{}", "", awaiting))},
			{e: persistedResult("m0", "c1", "Lyon", done)},
			{e: &agentv1.AgentEvent{Seq: 4, Kind: &agentv1.AgentEvent_ToolCallDecision{ToolCallDecision: &agentv1.ToolCallDecision{
				RunId: "r", MessageId: "m0", ToolCallId: "t1", ApprovalId: "ap-t1"}}}},
			{e: persistedResult("m0", "t1", "denied", denied)},
			{e: stepStarted("r", "m1")}, {e: reply("m1", "No."), last: true},
		},
		want: []string{`start m0`, `tool-start c1 get_location`, `tool-args c1 {}`, `tool-end c1`, `tool-start t1 transfer`,
			`tool-args t1 {}`, `tool-end t1`, `approval t1 ap-t1`, `tool-result c1 Lyon`, `decided t1 false`,
			`tool-error t1 denied TOOL_CALL_STATE_DENIED`, `step m1`, `text "No."`, `finish FINISH_REASON_STOP`},
	}, {
		name:      "a run that goes on after the client's answers: known results are not passed on, an approved call's result is",
		continue_: []string{"c1"},
		events: []ev{
			{e: persistedResult("m0", "c1", "Lyon", done)}, {e: persistedResult("m0", "t2", "denied", denied)},
			{e: stepStarted("r", "m1")}, {e: earlierResult("m0", "t1", "sent")}, {e: delta("r", "m1", "Sent.")},
			{e: reply("m1", "Sent."), last: true},
		},
		want: []string{`start `, `tool-error t2 denied TOOL_CALL_STATE_DENIED`, `step m1`, `tool-result t1 sent`, `text "Sent."`,
			`finish FINISH_REASON_STOP`},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var got record
			a := NewAssembler(&got)
			if tc.continue_ != nil {
				a.Continue(tc.continue_...)
			}
			for _, e := range tc.events {
				a.event(e.e, e.last)
			}
			if !a.Ended() {
				t.Error("not ended")
			}
			if want := record(tc.want); got.String() != want.String() {
				t.Errorf("got\n%s\nwant\n%s", got.String(), want.String())
			}
		})
	}
}
