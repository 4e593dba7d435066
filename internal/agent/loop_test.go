package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/agentgate/agentgate/internal/engine"
	"github.com/agentgate/agentgate/responder"
	"github.com/agentgate/agentgate/responder/respondertest"
	"github.com/agentgate/agentgate/tool"
)

// The tool loop in the domain, on the memory engine: a run of several
// steps with server tools written in Go, client tools answered with
// SubmitToolResult, approvals, interrupts, and everything that must not
// stick an agent.

// goTools are server tools written in Go: clock answers at once, fail
// fails, sleep sleeps for its "ms" (or until cancelled), shout panics on
// "panic".
func goTools(t *testing.T, started chan<- string) tool.Source {
	t.Helper()
	set, err := tool.NewSet(
		tool.Tool{Def: tool.Def{Name: "clock", Description: "The time.", Parameters: json.RawMessage(`{"type":"object"}`)},
			Run: func(context.Context, json.RawMessage) (tool.Result, error) { return tool.Result{Output: "12:00"}, nil }},
		tool.Tool{Def: tool.Def{Name: "fail", Description: "Always fails."},
			Run: func(context.Context, json.RawMessage) (tool.Result, error) {
				return tool.Result{}, errors.New("the disk is full")
			}},
		tool.Tool{Def: tool.Def{Name: "sleep", Description: "Sleeps."},
			Run: func(ctx context.Context, args json.RawMessage) (tool.Result, error) {
				var a struct{ MS int }
				_ = json.Unmarshal(args, &a)
				if started != nil {
					started <- "sleep"
				}
				select {
				case <-ctx.Done():
					return tool.Result{}, ctx.Err()
				case <-time.After(time.Duration(a.MS) * time.Millisecond):
					return tool.Result{Output: "rested"}, nil
				}
			}},
		tool.Tool{Def: tool.Def{Name: "shout", Description: "Shouts."},
			Run: func(_ context.Context, args json.RawMessage) (tool.Result, error) {
				if strings.Contains(string(args), "panic") {
					panic("shout panicked")
				}
				return tool.Result{Output: strings.ToUpper(string(args))}, nil
			}},
	)
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// locationTool is a client tool.
var locationTool = tool.Def{Name: "get_location", Description: "Where the user is.",
	Parameters: json.RawMessage(`{"type":"object","properties":{"precise":{"type":"boolean"}}}`)}

// caller is a Model that makes the calls of the message's text at step 0
// ("call NAME ARGS; NAME ARGS"), then says what each result was.
func caller(req responder.Request) respondertest.Turn {
	if req.Step == 0 {
		var calls []respondertest.Call
		for i, c := range strings.Split(strings.TrimPrefix(req.Message.Text, "call "), "; ") {
			name, args, _ := strings.Cut(c, " ")
			// Ids unique to the message: a model's ids may repeat across
			// runs, and answers name a call by its id alone.
			calls = append(calls, respondertest.Call{ID: fmt.Sprintf("%.6s-c%d", req.Message.ID, i), Name: name, Arguments: args})
		}
		return respondertest.Turn{Text: "Let me see. ", Calls: calls}
	}
	var said []string
	for _, c := range req.Steps[len(req.Steps)-1].ToolCalls {
		said = append(said, fmt.Sprintf("%s=%s(error %v)", c.Name, c.Result, c.IsError))
	}
	return respondertest.Turn{Text: strings.Join(said, " ")}
}

func newToolService(t *testing.T, cfg Config) (*Service, engine.Engine) {
	t.Helper()
	if cfg.Responder == nil {
		cfg.Responder = respondertest.Model(caller)
	}
	if cfg.Tools == nil {
		cfg.Tools = []tool.Source{goTools(t, nil)}
	}
	return newService(t, cfg)
}

// steps are the step messages of res, in order.
func stepsOf(res SendResult) []*agentv1.Message {
	var out []*agentv1.Message
	for _, ev := range res.Events {
		if m := ev.GetMessage(); m != nil {
			out = append(out, m)
		}
	}
	return out
}

func TestServerToolsInSteps(t *testing.T) {
	t.Parallel()
	s, _ := newToolService(t, Config{})
	res, err := s.Send(ctx(t), "a", `call clock {}; fail {}; shout {"x":"panic"}; nope {}; clock {"broken`, "")
	if err != nil {
		t.Fatal(err)
	}
	steps := stepsOf(res)
	if len(steps) != 2 || res.Reply.GetMessage() != steps[1] {
		t.Fatalf("steps %v, reply %v; want two steps, the second the reply", steps, res.Reply)
	}
	s0 := steps[0]
	if s0.GetFinishReason() != agentv1.FinishReason_FINISH_REASON_TOOL_CALLS || s0.GetStep() != 0 || steps[1].GetStep() != 1 || s0.GetRunId() != steps[1].GetRunId() {
		t.Fatalf("step 0: %v", s0)
	}
	want := []struct {
		state   agentv1.ToolCallState
		kind    agentv1.ToolCallKind
		isError bool
		result  string
	}{
		{agentv1.ToolCallState_TOOL_CALL_STATE_DONE, agentv1.ToolCallKind_TOOL_CALL_KIND_SERVER, false, "12:00"},
		{agentv1.ToolCallState_TOOL_CALL_STATE_ERROR, agentv1.ToolCallKind_TOOL_CALL_KIND_SERVER, true, "the disk is full"},
		{agentv1.ToolCallState_TOOL_CALL_STATE_ERROR, agentv1.ToolCallKind_TOOL_CALL_KIND_SERVER, true, "the tool failed"},
		{agentv1.ToolCallState_TOOL_CALL_STATE_ERROR, agentv1.ToolCallKind_TOOL_CALL_KIND_UNSPECIFIED, true, `there is no tool named "nope"`},
		{agentv1.ToolCallState_TOOL_CALL_STATE_ERROR, agentv1.ToolCallKind_TOOL_CALL_KIND_SERVER, true, "the arguments are not a JSON object"},
	}
	for i, c := range s0.GetToolCalls() {
		w := want[i]
		if c.GetState() != w.state || c.GetKind() != w.kind || c.GetIsError() != w.isError || !strings.HasPrefix(c.GetResult(), w.result) {
			t.Errorf("call %d (%s): %v %v error %v %q; want %v %v %v %q…", i, c.GetName(), c.GetState(), c.GetKind(), c.GetIsError(), c.GetResult(), w.state, w.kind, w.isError, w.result)
		}
	}
	if d := s0.GetToolCalls()[0].GetDuration(); d == nil {
		t.Error("a server call has no duration")
	}
	if got := steps[1].GetText(); !strings.Contains(got, "clock=12:00(error false)") || !strings.Contains(got, `nope=there is no tool named "nope"`) {
		t.Fatalf("the next step read %q", got)
	}
}

func TestMaxSteps(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	s, _ := newToolService(t, Config{MaxSteps: 3, Responder: respondertest.Model(func(req responder.Request) respondertest.Turn {
		calls.Add(1)
		return respondertest.Turn{Calls: []respondertest.Call{{ID: "again", Name: "clock", Arguments: "{}"}}}
	})})
	res, err := s.Send(ctx(t), "loop", "go", "")
	if err != nil {
		t.Fatal(err)
	}
	steps := stepsOf(res)
	last := steps[len(steps)-1]
	if len(steps) != 3 || calls.Load() != 3 || last.GetFinishReason() != agentv1.FinishReason_FINISH_REASON_MAX_STEPS {
		t.Fatalf("%d steps, %d calls of the model, last finish %v; want 3, 3, max_steps", len(steps), calls.Load(), last.GetFinishReason())
	}
	if c := last.GetToolCalls()[0]; c.GetState() != agentv1.ToolCallState_TOOL_CALL_STATE_CLOSED || !c.GetIsError() || !strings.Contains(c.GetResult(), "MAX_STEPS") {
		t.Fatalf("the last step's call: %v", c)
	}
	// The same id every step: the gateway made the later ones unique.
	ids := map[string]bool{}
	for _, m := range steps {
		ids[m.GetToolCalls()[0].GetToolCallId()] = true
	}
	if len(ids) != 3 || !ids["again"] {
		t.Fatalf("tool call ids %v; want the model's first, then two made by the gateway", ids)
	}
}

func TestClientToolRoundTrip(t *testing.T) {
	t.Parallel()
	s, _ := newToolService(t, Config{})
	c := ctx(t)
	res, err := s.Send(c, "c", `call get_location {"precise":true}`, "", locationTool)
	if err != nil {
		t.Fatal(err)
	}
	call := res.Reply.GetMessage().GetToolCalls()[0]
	if call.GetState() != agentv1.ToolCallState_TOOL_CALL_STATE_PENDING || call.GetKind() != agentv1.ToolCallKind_TOOL_CALL_KIND_CLIENT {
		t.Fatalf("the paused step's call: %v", call)
	}
	if !Stops(res.Reply) || Ends(res.Reply) {
		t.Fatal("the pause does not stop the reply, or ends the run")
	}
	ans, err := s.SubmitToolResult(c, ToolResult{AgentID: "c", ToolCallID: call.GetToolCallId(), Output: `{"city":"Lyon"}`, Wait: true})
	if err != nil {
		t.Fatal(err)
	}
	if !ans.Resumed || ans.Event.GetToolCallResult().GetContent() != `{"city":"Lyon"}` || ans.Event.GetSeq() == 0 {
		t.Fatalf("the answer: %+v", ans)
	}
	if got := ans.Reply.GetMessage().GetText(); got != `get_location={"city":"Lyon"}(error false)` || ans.Reply.GetMessage().GetStep() != 1 {
		t.Fatalf("the run went on with %q (step %d)", got, ans.Reply.GetMessage().GetStep())
	}
	// The same result again is a duplicate; another is refused.
	dup, err := s.SubmitToolResult(c, ToolResult{AgentID: "c", ToolCallID: call.GetToolCallId(), Output: `{"city":"Lyon"}`})
	if err != nil || !dup.Duplicate || dup.Event.GetSeq() != ans.Event.GetSeq() {
		t.Fatalf("the same result again: %+v, %v; want the original, duplicate", dup, err)
	}
	if _, err := s.SubmitToolResult(c, ToolResult{AgentID: "c", ToolCallID: call.GetToolCallId(), Output: "Paris"}); KindOf(err) != KindAlreadyExists {
		t.Fatalf("another result: %v, want already_exists", err)
	}
	// The next message's context has the call with its result.
	if res, err := s.Send(c, "c", "call clock {}", ""); err != nil || res.Reply.GetMessage().GetFinishReason() != agentv1.FinishReason_FINISH_REASON_STOP {
		t.Fatalf("the next message: %v, %v", res.Reply, err)
	}
}

func TestApprovals(t *testing.T) {
	t.Parallel()
	s, _ := newToolService(t, Config{ToolApproval: []string{"clock"}})
	c := ctx(t)
	for _, approve := range []bool{true, false} {
		agentID := fmt.Sprint("approve-", approve)
		res, err := s.Send(c, agentID, "call clock {}", "")
		if err != nil {
			t.Fatal(err)
		}
		call := res.Reply.GetMessage().GetToolCalls()[0]
		if call.GetState() != agentv1.ToolCallState_TOOL_CALL_STATE_AWAITING_APPROVAL || call.GetApprovalId() == "" {
			t.Fatalf("the call: %v; want awaiting approval", call)
		}
		if _, err := s.SubmitToolResult(c, ToolResult{AgentID: agentID, ToolCallID: call.GetToolCallId(), Output: "forged"}); KindOf(err) != KindFailedPrecondition {
			t.Fatalf("a client's result for a call awaiting approval: %v, want failed_precondition", err)
		}
		if _, err := s.DecideToolCall(c, Decision{AgentID: agentID, ToolCallID: call.GetToolCallId(), Approve: true, ApprovalID: "not-issued"}); KindOf(err) != KindFailedPrecondition {
			t.Fatalf("a decision with a forged approval id: %v, want failed_precondition", err)
		}
		ans, err := s.DecideToolCall(c, Decision{AgentID: agentID, ToolCallID: call.GetToolCallId(), Approve: approve, Reason: "why not", DecidedBy: "alice", ApprovalID: call.GetApprovalId(), Wait: true})
		if err != nil {
			t.Fatal(err)
		}
		d := ans.Event.GetToolCallDecision()
		if !ans.Resumed || d.GetApproved() != approve || d.GetDecidedBy() != "alice" || d.GetApprovalId() != call.GetApprovalId() {
			t.Fatalf("the decision: %+v", ans)
		}
		want := "clock=12:00(error false)"
		if !approve {
			want = "clock=denied: the user did not approve this call: why not(error true)"
		}
		if got := ans.Reply.GetMessage().GetText(); got != want {
			t.Fatalf("approve %v: the model read %q, want %q", approve, got, want)
		}
		// The events are every one after the decision, the call's result
		// first (a denial's, or the approved call's), then the step.
		wantState := agentv1.ToolCallState_TOOL_CALL_STATE_DONE
		if !approve {
			wantState = agentv1.ToolCallState_TOOL_CALL_STATE_DENIED
		}
		if evs := ans.Events; len(evs) != 2 || evs[0].GetSeq() != ans.Event.GetSeq()+1 || evs[0].GetToolCallResult().GetState() != wantState ||
			evs[1].GetSeq() != evs[0].GetSeq()+1 || evs[1].GetSeq() != ans.Reply.GetSeq() {
			t.Fatalf("approve %v: the events after the decision: %v", approve, evs)
		}
		if again, err := s.DecideToolCall(c, Decision{AgentID: agentID, ToolCallID: call.GetToolCallId(), Approve: approve, Reason: "why not"}); err != nil || !again.Duplicate {
			t.Fatalf("the decision replayed: %+v, %v; want a duplicate", again, err)
		}
		if _, err := s.DecideToolCall(c, Decision{AgentID: agentID, ToolCallID: call.GetToolCallId(), Approve: !approve}); KindOf(err) != KindAlreadyExists {
			t.Fatalf("the other decision: %v, want already_exists", err)
		}
	}
	// A call that asked nothing: a decision on it is forged.
	res, err := s.Send(c, "noask", "call shout {}", "")
	if err != nil {
		t.Fatal(err)
	}
	id := stepsOf(res)[0].GetToolCalls()[0].GetToolCallId()
	if _, err := s.DecideToolCall(c, Decision{AgentID: "noask", ToolCallID: id, Approve: true}); KindOf(err) != KindFailedPrecondition {
		t.Fatalf("a decision on a call that asked none: %v, want failed_precondition", err)
	}
}

func TestBadAnswers(t *testing.T) {
	t.Parallel()
	s, _ := newToolService(t, Config{ToolResultMaxBytes: 2048})
	c := ctx(t)
	res, err := s.Send(c, "bad", "call get_location {}", "", locationTool)
	if err != nil {
		t.Fatal(err)
	}
	id := res.Reply.GetMessage().GetToolCalls()[0].GetToolCallId()
	for _, tc := range []struct {
		in   ToolResult
		kind Kind
	}{
		{ToolResult{AgentID: "bad", ToolCallID: "never-made", Output: "x"}, KindNotFound},
		{ToolResult{AgentID: "other", ToolCallID: id, Output: "x"}, KindNotFound},
		{ToolResult{AgentID: "bad", ToolCallID: id, Output: strings.Repeat("x", 2049)}, KindInvalidArgument},
		{ToolResult{AgentID: "bad", ToolCallID: "", Output: "x"}, KindInvalidArgument},
	} {
		if _, err := s.SubmitToolResult(c, tc.in); KindOf(err) != tc.kind {
			t.Errorf("SubmitToolResult(%s, %.20s…): %v, want kind %d", tc.in.ToolCallID, tc.in.Output, err, tc.kind)
		}
	}
	if _, err := s.DecideToolCall(c, Decision{AgentID: "bad", ToolCallID: id, Approve: true}); KindOf(err) != KindFailedPrecondition {
		t.Errorf("a decision on a client's call: %v, want failed_precondition", err)
	}
	// Nothing stuck: the call still waits, and its answer goes through.
	if ans, err := s.SubmitToolResult(c, ToolResult{AgentID: "bad", ToolCallID: id, Output: "no fix", IsError: true, Wait: true}); err != nil || !ans.Resumed ||
		ans.Reply.GetMessage().GetText() != "get_location=no fix(error true)" {
		t.Fatalf("the answer after the refusals: %+v, %v", ans, err)
	}
}

func TestNewMessageWhilePaused(t *testing.T) {
	t.Parallel()
	s, eng := newToolService(t, Config{ToolApproval: []string{"clock"}})
	c := ctx(t)
	res, err := s.Send(c, "moved", "call get_location {}; clock {}", "", locationTool)
	if err != nil {
		t.Fatal(err)
	}
	calls := res.Reply.GetMessage().GetToolCalls()
	// caller makes a call named "never" of the new message: an unknown
	// tool, answered with an error, and the run ends at step 1.
	next, err := s.Send(c, "moved", "never mind", "")
	if err != nil || next.Reply.GetMessage().GetStep() != 1 || next.Reply.GetMessage().GetFinishReason() != agentv1.FinishReason_FINISH_REASON_STOP {
		t.Fatalf("the new message's reply: %v, %v", next.Reply, err)
	}
	p, err := eng.Read(c, "moved", 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	// After the paused step: both calls closed, the run's end, then the
	// new message.
	var closed []string
	var end *agentv1.Message
	for _, ev := range p.Events {
		if r := ev.GetToolCallResult(); r != nil && r.GetState() == agentv1.ToolCallState_TOOL_CALL_STATE_CLOSED {
			closed = append(closed, r.GetToolCallId())
			if r.GetContent() != movedOnResult || !r.GetIsError() {
				t.Errorf("a closing result: %v", r)
			}
		}
		if m := ev.GetMessage(); m.GetRunId() == res.Reply.GetMessage().GetRunId() && m.GetFinishReason() == agentv1.FinishReason_FINISH_REASON_CANCELLED {
			end = m
		}
	}
	if len(closed) != 2 || closed[0] != calls[0].GetToolCallId() || closed[1] != calls[1].GetToolCallId() || end == nil || end.GetStep() != 1 {
		t.Fatalf("closed %v, end %v", closed, end)
	}
	if _, err := s.SubmitToolResult(c, ToolResult{AgentID: "moved", ToolCallID: calls[0].GetToolCallId(), Output: "late"}); KindOf(err) != KindFailedPrecondition || !strings.Contains(err.Error(), "new message") {
		t.Fatalf("a result after the user moved on: %v", err)
	}
}

func TestCancelRun(t *testing.T) {
	t.Parallel()
	started := make(chan string, 1)
	s, eng := newToolService(t, Config{Tools: []tool.Source{goTools(t, started)}})
	c := ctx(t)
	// During a server call.
	f, err := s.Ask(c, "cancel", `call sleep {"ms":60000}`, "")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	<-started
	if _, err := s.Cancel(c, "cancel", ""); err != nil {
		t.Fatal(err)
	}
	var reply *agentv1.AgentEvent
	if err := s.await(c, f, func(ev *agentv1.AgentEvent) error {
		if Stops(ev) {
			reply = ev
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	m := reply.GetMessage()
	if m.GetFinishReason() != agentv1.FinishReason_FINISH_REASON_CANCELLED || m.GetToolCalls()[0].GetState() != agentv1.ToolCallState_TOOL_CALL_STATE_CLOSED {
		t.Fatalf("the cancelled step: %v", m)
	}
	// While paused.
	res, err := s.Send(c, "cancel", "call get_location {}", "", locationTool)
	if err != nil {
		t.Fatal(err)
	}
	runID := res.Reply.GetMessage().GetRunId()
	if got, err := s.Cancel(c, "cancel", runID); err != nil || got != runID {
		t.Fatalf("CancelRun while paused: %q, %v", got, err)
	}
	p, _ := eng.Read(c, "cancel", res.Reply.GetSeq(), 10)
	if len(p.Events) != 2 || p.Events[0].GetToolCallResult().GetContent() != cancelledResult || p.Events[1].GetMessage().GetFinishReason() != agentv1.FinishReason_FINISH_REASON_CANCELLED {
		t.Fatalf("after CancelRun of the paused run: %v", p.Events)
	}
	if _, err := s.SubmitToolResult(c, ToolResult{AgentID: "cancel", ToolCallID: res.Reply.GetMessage().GetToolCalls()[0].GetToolCallId(), Output: "late"}); KindOf(err) != KindFailedPrecondition {
		t.Fatalf("a result after CancelRun: %v", err)
	}
	if _, err := s.Cancel(c, "cancel", ""); KindOf(err) != KindFailedPrecondition {
		t.Fatalf("CancelRun with nothing to cancel: %v", err)
	}
	// Nothing stuck.
	if res, err := s.Send(c, "cancel", "call clock {}", ""); err != nil || res.Reply.GetMessage().GetFinishReason() != agentv1.FinishReason_FINISH_REASON_STOP {
		t.Fatalf("the next message: %v, %v", res.Reply, err)
	}
}

func TestToolTimeout(t *testing.T) {
	t.Parallel()
	s, _ := newToolService(t, Config{ToolTimeout: 50 * time.Millisecond})
	res, err := s.Send(ctx(t), "slow", `call sleep {"ms":60000}`, "")
	if err != nil {
		t.Fatal(err)
	}
	c := stepsOf(res)[0].GetToolCalls()[0]
	if c.GetState() != agentv1.ToolCallState_TOOL_CALL_STATE_ERROR || !strings.Contains(c.GetResult(), "did not answer within 50ms") {
		t.Fatalf("the call past TOOL_TIMEOUT: %v", c)
	}
	if got := res.Reply.GetMessage().GetText(); !strings.Contains(got, "(error true)") {
		t.Fatalf("the model read %q", got)
	}
}

func TestInterrupts(t *testing.T) {
	t.Parallel()
	// An upstream agent that runs its own tool "deploy" once a person
	// approves it, and asks a question about no call.
	model := respondertest.Model(func(req responder.Request) respondertest.Turn {
		switch req.Step {
		case 0:
			return respondertest.Turn{
				Calls: []respondertest.Call{{ID: "d1", Name: "deploy", Arguments: `{"env":"prod"}`}},
				Interrupts: []responder.Interrupt{
					{ID: "i1", Reason: "tool_call", Message: "Deploy to prod?", ToolCallID: "d1"},
					{ID: "i2", Reason: "input_required", Message: "Which region?"},
				},
			}
		default:
			var r []string
			for _, a := range req.Resume {
				r = append(r, fmt.Sprintf("%s:%s:%v:%s", a.InterruptID, a.Status, a.Approved, a.Reason))
			}
			held := req.Steps[0].ToolCalls[0]
			// It reports the held call's result once approved, and runs a
			// tool of its own.
			return respondertest.Turn{Text: strings.Join(r, " ") + " held=" + held.Result,
				Calls:   []respondertest.Call{{ID: "r1", Name: "report", Arguments: "{}"}},
				Results: map[string]string{"d1": "deployed", "r1": "reported"}, Finish: responder.FinishStop}
		}
	})
	s, eng := newToolService(t, Config{Responder: model})
	c := ctx(t)
	res, err := s.Send(c, "up", "deploy", "")
	if err != nil {
		t.Fatal(err)
	}
	m := res.Reply.GetMessage()
	if len(m.GetInterrupts()) != 2 || m.GetToolCalls()[0].GetState() != agentv1.ToolCallState_TOOL_CALL_STATE_AWAITING_APPROVAL || m.GetToolCalls()[0].GetKind() != agentv1.ToolCallKind_TOOL_CALL_KIND_UPSTREAM {
		t.Fatalf("the paused step: %v", m)
	}
	if _, err := s.DecideToolCall(c, Decision{AgentID: "up", ToolCallID: "d1", Approve: true, Reason: "go"}); err != nil {
		t.Fatal(err)
	}
	ans, err := s.DecideToolCall(c, Decision{AgentID: "up", InterruptID: "i2", Approve: false, Reason: "eu-west", Wait: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := ans.Reply.GetMessage().GetText(); got != "i1:resolved:true:go i2:resolved:false:eu-west held=" {
		t.Fatalf("the resumed step read %q", got)
	}
	if c := ans.Reply.GetMessage().GetToolCalls()[0]; c.GetToolCallId() != "r1" || c.GetState() != agentv1.ToolCallState_TOOL_CALL_STATE_DONE || c.GetKind() != agentv1.ToolCallKind_TOOL_CALL_KIND_UPSTREAM {
		t.Fatalf("the upstream's own call: %v", c)
	}
	// The held call's result is the upstream's, persisted with the step
	// that reported it, for the step that made the call; the gateway
	// never answered it.
	p, _ := eng.Read(c, "up", 0, 100)
	var held []*agentv1.ToolCallResult
	for _, ev := range p.Events {
		if r := ev.GetToolCallResult(); r != nil && r.GetToolCallId() == "d1" {
			held = append(held, r)
		}
	}
	if len(held) != 1 || held[0].GetContent() != "deployed" || held[0].GetMessageId() != m.GetMessageId() || held[0].GetIsError() {
		t.Fatalf("the held call's results: %v", held)
	}
}

func TestContextTooLongIsRetriedWithLess(t *testing.T) {
	t.Parallel()
	var sent []int
	tooLong := &responder.Error{Code: responder.CodeContextTooLong, Message: "too long", Err: responder.ErrContextTooLong}
	always := false
	model := respondertest.Model(func(req responder.Request) respondertest.Turn {
		n := contextBytes(req.History, req.Message, req.Steps, req.Tools)
		sent = append(sent, n)
		if always || (len(sent) == 4) {
			return respondertest.Turn{Err: tooLong}
		}
		return respondertest.Turn{Text: strings.Repeat("r", 300)}
	})
	s, _ := newToolService(t, Config{Responder: model, Tools: []tool.Source{}, ContextMessages: 50})
	c := ctx(t)
	for i := range 3 {
		if _, err := s.Send(c, "long", strings.Repeat(fmt.Sprint(i), 300), ""); err != nil {
			t.Fatal(err)
		}
	}
	res, err := s.Send(c, "long", "the fourth", "")
	if err != nil || res.Reply.GetMessage().GetText() == "" {
		t.Fatalf("the reply after a retry: %v, %v", res.Reply, err)
	}
	if len(sent) != 5 || sent[4] > sent[3]/2 {
		t.Fatalf("bytes sent %v: want the fourth reply tried again with at most half", sent)
	}
	always = true
	res, err = s.Send(c, "long", "again", "")
	if err != nil || res.Reply.GetRunError().GetCode() != responder.CodeContextTooLong {
		t.Fatalf("always too long: %v, %v; want a run error %s", res.Reply, err, responder.CodeContextTooLong)
	}
}

func TestContextTokensBound(t *testing.T) {
	t.Parallel()
	var last responder.Request
	model := respondertest.Model(func(req responder.Request) respondertest.Turn {
		last = req
		return respondertest.Turn{Text: strings.Repeat("r", 200)}
	})
	s, _ := newToolService(t, Config{Responder: model, ContextTokens: 250, Tools: []tool.Source{}, ContextMessages: 50})
	c := ctx(t)
	for i := range 6 {
		if _, err := s.Send(c, "tok", strings.Repeat(fmt.Sprint(i), 200), ""); err != nil {
			t.Fatal(err)
		}
	}
	if n := contextBytes(last.History, last.Message, last.Steps, last.Tools); n > 250*bytesPerToken || len(last.History) == 0 || len(last.History) >= 10 {
		t.Fatalf("%d bytes in %d messages of history sent; want at most %d, some history, not all", n, len(last.History), 250*bytesPerToken)
	}
}

// TestJoinMidRun: a client that starts following the agent while the run
// writes its second step gets the run so far (the message and the first
// step from the log, the second step's start and text from its progress),
// then the rest live, each once.
func TestJoinMidRun(t *testing.T) {
	t.Parallel()
	wrote, release := make(chan struct{}), make(chan struct{})
	model := responder.Func(func(ctx context.Context, req responder.Request, out responder.Stream) (responder.Result, error) {
		if req.Step == 0 {
			return respondertest.Model(caller).Respond(ctx, req, out)
		}
		if err := out.Text("so far, "); err != nil {
			return responder.Result{}, err
		}
		close(wrote)
		select {
		case <-release:
		case <-ctx.Done():
			return responder.Result{}, ctx.Err()
		}
		return responder.Result{}, out.Text("and the rest")
	})
	s, _ := newToolService(t, Config{Responder: model})
	c := ctx(t)
	done := make(chan error, 1)
	go func() {
		_, err := s.Send(c, "join", "call clock {}", "")
		done <- err
	}()
	<-wrote
	f, err := s.Follow(c, "join", FollowOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var got []string
	var text strings.Builder
	emit := func(ev *agentv1.AgentEvent) error {
		switch {
		case ev.GetTextDelta() != nil:
			text.WriteString(ev.GetTextDelta().GetDelta())
			got = append(got, "delta")
		case ev.GetStepStarted() != nil:
			got = append(got, fmt.Sprint("step_started ", ev.GetStepStarted().GetStep()))
		case ev.GetMessage() != nil:
			got = append(got, fmt.Sprintf("%d:%s step %d", ev.GetSeq(), ev.GetMessage().GetRole(), ev.GetMessage().GetStep()))
		default:
			got = append(got, fmt.Sprintf("%T", ev.GetKind()))
		}
		return nil
	}
	if err := f.Start(c, emit); err != nil {
		t.Fatal(err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for !slices.Contains(got, "3:ROLE_ASSISTANT step 1") {
		select {
		case <-f.Ready():
			if err := f.Pump(c, emit); err != nil {
				t.Fatal(err)
			}
		case <-c.Done():
			t.Fatalf("the last step never came: %v", got)
		}
	}
	want := []string{"1:ROLE_USER step 0", "2:ROLE_ASSISTANT step 0", "step_started 1", "delta", "delta", "3:ROLE_ASSISTANT step 1"}
	if !slices.Equal(got, want) || text.String() != "so far, and the rest" {
		t.Fatalf("delivered %v, text %q\nwant %v, the step's whole text once", got, text.String(), want)
	}
}

// TestFollowAfterAnAnswer: the Follower an answer returns (what a door
// streams on with) delivers the resumed run live, from the answer to its
// end, and is then done.
func TestFollowAfterAnAnswer(t *testing.T) {
	t.Parallel()
	s, _ := newToolService(t, Config{})
	c := ctx(t)
	res, err := s.Send(c, "follow", "call get_location {}", "", locationTool)
	if err != nil {
		t.Fatal(err)
	}
	ans, err := s.SubmitToolResult(c, ToolResult{AgentID: "follow", ToolCallID: res.Reply.GetMessage().GetToolCalls()[0].GetToolCallId(), Output: "Lyon", Follow: true})
	if err != nil || ans.Follower == nil {
		t.Fatalf("the answer: %+v, %v; want a follower", ans, err)
	}
	defer ans.Follower.Close()
	var got []string
	err = s.await(c, ans.Follower, func(ev *agentv1.AgentEvent) error {
		got = append(got, kindOf(ev))
		return nil
	})
	if err != nil || !ans.Follower.Done() {
		t.Fatal(err)
	}
	if want := []string{"step_started", "text_delta", "text_delta", "message"}; !slices.Equal(got, want) {
		t.Fatalf("followed %v, want %v", got, want)
	}
}

// kindOf names an event's kind.
func kindOf(ev *agentv1.AgentEvent) string {
	return string(ev.ProtoReflect().WhichOneof(ev.ProtoReflect().Descriptor().Oneofs().ByName("kind")).Name())
}
