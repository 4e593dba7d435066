package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/agentgate/agentgate/internal/engine"
	"github.com/agentgate/agentgate/responder"
	"github.com/agentgate/agentgate/tool"
	"google.golang.org/protobuf/types/known/durationpb"
)

// This file is what the loop does with a step once the responder
// returned: each call's kind and state, the server tools' calls, the
// approvals asked, and how the run goes on.

// What the model is told of a call that was not run.
const (
	movedOnResult   = "not run: the user sent a new message instead of answering this call"
	cancelledResult = "not run: the run was cancelled"
)

// stepResult is a step as it is appended: its event (the step message, or
// a run error), what it does to the run, and, for a pause, what the run
// waits for.
type stepResult struct {
	event   *agentv1.AgentEvent
	end     engine.RunEnd
	pending []engine.Pending
}

// finish makes the step of out, which the responder ended with res and
// err: it classifies the calls, runs the server tools' calls, asks the
// approvals, and says how the run goes on.
func (x *run) finish(out *runStream, step int, box toolbox, res responder.Result, err error, timedOut bool) stepResult {
	s := x.s
	switch {
	case out.full || errors.Is(err, responder.ErrReplyTooLarge):
		// The step reached MAX_REPLY_BYTES: not a failure, and nothing to
		// retry. What fitted is the step, and the run ends with it.
		return x.ended(out, responder.FinishLength, "not run: the reply reached its size limit")
	case x.r.cancels.was():
		return x.ended(out, responder.FinishCancelled, cancelledResult)
	case err != nil:
		return stepResult{event: x.runError(err, timedOut), end: engine.RunEnds}
	case res.FinishReason != responder.FinishToolCalls && len(out.interrupts) == 0:
		// The model finished its turn: the run ends with the step. A call
		// it left without a result is the upstream's, left as it is.
		m := out.reply(x.st.seq, res)
		for _, c := range m.GetToolCalls() {
			if out.answered[c.GetToolCallId()] {
				c.State, c.Kind = agentv1.ToolCallState_TOOL_CALL_STATE_DONE, agentv1.ToolCallKind_TOOL_CALL_KIND_UPSTREAM
			}
		}
		return stepResult{event: x.stepEvent(out, m), end: engine.RunEnds}
	}
	m := out.reply(x.st.seq, res)
	var held map[string]*agentv1.Interrupt // by the call each holds
	for _, i := range out.interrupts {
		in := &agentv1.Interrupt{InterruptId: i.ID, Reason: i.Reason, Message: s.cfg.Redact(i.Message), ToolCallId: i.ToolCallID, ApprovalId: newID()}
		if in.GetToolCallId() != "" && out.byID[in.GetToolCallId()] == nil && out.held[in.GetToolCallId()] == "" {
			in.ToolCallId = "" // a call neither of this step nor held: the interrupt holds none
		}
		m.Interrupts = append(m.Interrupts, in)
		if id := in.GetToolCallId(); id != "" {
			if held == nil {
				held = map[string]*agentv1.Interrupt{}
			}
			held[id] = in
		}
	}
	var toRun []*agentv1.ToolCall
	for _, c := range m.GetToolCalls() {
		x.classify(c, out, box, held, &toRun)
	}
	m.FinishReason = agentv1.FinishReason_FINISH_REASON_TOOL_CALLS
	if len(m.GetToolCalls()) == 0 && len(m.GetInterrupts()) == 0 {
		m.FinishReason = agentv1.FinishReason_FINISH_REASON_STOP // called nothing: the run ends
	}
	if m.GetFinishReason() == agentv1.FinishReason_FINISH_REASON_TOOL_CALLS && step+1 >= s.cfg.MaxSteps {
		// The last step: its calls are not run, since no step could read
		// their results.
		closeUnanswered(m, fmt.Sprintf("not run: the run reached MAX_STEPS (%d steps)", s.cfg.MaxSteps))
		m.Interrupts = nil
		m.FinishReason = agentv1.FinishReason_FINISH_REASON_MAX_STEPS
		return stepResult{event: x.stepEvent(out, m), end: engine.RunEnds}
	}
	x.runCalls(out, box, toRun, m.GetMessageId())
	if x.r.cancels.was() {
		closeUnanswered(m, cancelledResult)
		m.Interrupts = nil
		m.FinishReason = agentv1.FinishReason_FINISH_REASON_CANCELLED
		return stepResult{event: x.stepEvent(out, m), end: engine.RunEnds}
	}
	x.askApprovals(out, m)
	ev := x.stepEvent(out, m)
	switch {
	case paused(m):
		return stepResult{event: ev, end: engine.RunPauses, pending: x.pending(m)}
	case m.GetFinishReason() == agentv1.FinishReason_FINISH_REASON_TOOL_CALLS:
		return stepResult{event: ev, end: engine.RunGoesOn}
	}
	return stepResult{event: ev, end: engine.RunEnds}
}

// ended is a step that ends the run as it stands, with finish reason f:
// its calls without a result are closed with why.
func (x *run) ended(out *runStream, f responder.FinishReason, why string) stepResult {
	m := out.reply(x.st.seq, responder.Result{FinishReason: f})
	for _, c := range m.GetToolCalls() {
		if out.answered[c.GetToolCallId()] {
			c.State, c.Kind = agentv1.ToolCallState_TOOL_CALL_STATE_DONE, agentv1.ToolCallKind_TOOL_CALL_KIND_UPSTREAM
		}
	}
	closeUnanswered(m, why)
	return stepResult{event: x.stepEvent(out, m), end: engine.RunEnds}
}

// closeUnanswered gives every call of m without a result the result why:
// it was not run.
func closeUnanswered(m *agentv1.Message, why string) {
	for _, c := range m.GetToolCalls() {
		if c.GetState() == agentv1.ToolCallState_TOOL_CALL_STATE_UNSPECIFIED || !answered(c) {
			c.State, c.Result, c.IsError, c.ApprovalId = agentv1.ToolCallState_TOOL_CALL_STATE_CLOSED, why, true, ""
		}
	}
}

// classify gives c, a call of a step that finished for its tools, its
// kind and state: a call the responder's upstream answered is done; one
// an interrupt holds awaits its answer; a server tool's is run now (added
// to toRun) or awaits approval; a client tool's is pending; a name no tool
// has, and arguments that are not a JSON object, are answered at once
// with an error.
func (x *run) classify(c *agentv1.ToolCall, out *runStream, box toolbox, held map[string]*agentv1.Interrupt, toRun *[]*agentv1.ToolCall) {
	id, name := c.GetToolCallId(), c.GetName()
	if out.answered[id] {
		c.State, c.Kind = agentv1.ToolCallState_TOOL_CALL_STATE_DONE, agentv1.ToolCallKind_TOOL_CALL_KIND_UPSTREAM
		return
	}
	if in := held[id]; in != nil {
		c.State, c.Kind, c.ApprovalId = agentv1.ToolCallState_TOOL_CALL_STATE_AWAITING_APPROVAL, agentv1.ToolCallKind_TOOL_CALL_KIND_UPSTREAM, in.GetApprovalId()
		return
	}
	isServer, isClient := box.sourceOf(name) != nil, box.client[name]
	switch {
	case isServer:
		c.Kind = agentv1.ToolCallKind_TOOL_CALL_KIND_SERVER
	case isClient:
		c.Kind = agentv1.ToolCallKind_TOOL_CALL_KIND_CLIENT
	default:
		c.State, c.IsError = agentv1.ToolCallState_TOOL_CALL_STATE_ERROR, true
		c.Result = fmt.Sprintf("there is no tool named %q; %s", name, box.names())
		return
	}
	if why := badArguments(c.GetArguments()); why != "" {
		c.State, c.IsError, c.Result = agentv1.ToolCallState_TOOL_CALL_STATE_ERROR, true, why
		return
	}
	switch {
	case isClient:
		c.State = agentv1.ToolCallState_TOOL_CALL_STATE_PENDING
	case x.s.needsApproval(name):
		c.State, c.ApprovalId = agentv1.ToolCallState_TOOL_CALL_STATE_AWAITING_APPROVAL, newID()
	default:
		*toRun = append(*toRun, c)
	}
}

// badArguments says what is wrong with a call's arguments, "" if they are
// a JSON object (or empty, which stands for none).
func badArguments(args string) string {
	if strings.TrimSpace(args) == "" {
		return ""
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal([]byte(args), &obj); err != nil || obj == nil {
		return "the arguments are not a JSON object; send the call again with arguments that are one"
	}
	return ""
}

// callDone is a server tool's call that ended.
type callDone struct {
	c       *agentv1.ToolCall
	result  string
	isError bool
	state   agentv1.ToolCallState
	d       time.Duration
}

// runCalls runs the server tools' calls concurrently, each bounded by
// TOOL_TIMEOUT and by the run (CancelRun), and gives each its result as it
// ends, streamed as a tool_call_result of the step msgID.
func (x *run) runCalls(out *runStream, box toolbox, calls []*agentv1.ToolCall, msgID string) {
	if len(calls) == 0 {
		return
	}
	done := make(chan callDone, len(calls))
	for _, c := range calls {
		go func() { done <- x.call(box, c) }()
	}
	for range calls {
		d := <-done
		c := d.c
		c.Result, c.IsError, c.State, c.Duration = d.result, d.isError, d.state, durationpb.New(d.d)
		// The run goes on whatever the publish says: the step keeps the
		// result.
		_ = out.publishAlways(&agentv1.AgentEvent{Kind: &agentv1.AgentEvent_ToolCallResult{ToolCallResult: &agentv1.ToolCallResult{
			RunId: x.st.runID, MessageId: msgID, ToolCallId: c.GetToolCallId(), Content: c.GetResult(),
			IsError: c.GetIsError(), State: c.GetState(), Duration: c.GetDuration(),
		}}})
	}
}

// call runs one server tool's call. A panic of the tool is its failure.
// A call of a tool its step's toolbox no longer has (an approved call run
// on resume) goes to the source that owns the name, if any, whose error
// says why it cannot run.
func (x *run) call(box toolbox, c *agentv1.ToolCall) (d callDone) {
	s := x.s
	d.c = c
	name := c.GetName()
	src := box.sourceOf(name)
	if src == nil {
		src = s.ownerOf(name)
	}
	info := tool.CallInfo{AgentID: x.r.agentID, RunID: x.st.runID, ToolCallID: c.GetToolCallId()}
	start := time.Now()
	outcome := "ok"
	defer func() {
		if p := recover(); p != nil {
			s.logger.Error("a server tool panicked", "agent", x.r.agentID, "tool", name, "panic", fmt.Sprint(p))
			d.result, d.isError, d.state, outcome = "the tool failed", true, agentv1.ToolCallState_TOOL_CALL_STATE_ERROR, "failed"
		}
		d.d = time.Since(start)
		s.cfg.OnToolCall(ToolCallDone{Source: src, Tool: name, Call: info, Outcome: outcome, Duration: d.d})
	}()
	if src == nil {
		d.result, d.isError, d.state, outcome = fmt.Sprintf("the tool %q is no longer offered", name), true, agentv1.ToolCallState_TOOL_CALL_STATE_ERROR, "unknown_tool"
		return d
	}
	args := json.RawMessage(c.GetArguments())
	if strings.TrimSpace(c.GetArguments()) == "" {
		args = json.RawMessage(`{}`)
	}
	ctx, cancel := x.bounded(s.cfg.ToolTimeout)
	defer cancel()
	res, err := src.Call(tool.WithCallInfo(ctx, info), name, args)
	max := s.cfg.ToolResultMaxBytes
	switch {
	case x.r.cancels.was() || x.ctx.Err() != nil:
		d.result, d.isError, d.state, outcome = "not finished: the run was cancelled", true, agentv1.ToolCallState_TOOL_CALL_STATE_CLOSED, "cancelled"
	case err == nil && res.IsError:
		d.result, d.isError, d.state, outcome = tool.Cut(res.Output, max), true, agentv1.ToolCallState_TOOL_CALL_STATE_ERROR, "tool_error"
	case err == nil:
		d.result, d.state = tool.Cut(res.Output, max), agentv1.ToolCallState_TOOL_CALL_STATE_DONE
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		d.result, d.isError, d.state, outcome = fmt.Sprintf("the tool did not answer within %s (TOOL_TIMEOUT)", s.cfg.ToolTimeout), true, agentv1.ToolCallState_TOOL_CALL_STATE_ERROR, "timeout"
	default:
		d.result, d.isError, d.state, outcome = tool.Cut(s.cfg.Redact(err.Error()), max), true, agentv1.ToolCallState_TOOL_CALL_STATE_ERROR, "failed"
	}
	return d
}

// askApprovals streams an approval request for each call that awaits one,
// and for each interrupt: so that a client sees them as they are asked.
// The step that pauses the run says the same, persisted.
func (x *run) askApprovals(out *runStream, m *agentv1.Message) {
	for _, c := range m.GetToolCalls() {
		if c.GetState() == agentv1.ToolCallState_TOOL_CALL_STATE_AWAITING_APPROVAL && c.GetKind() == agentv1.ToolCallKind_TOOL_CALL_KIND_SERVER {
			_ = out.publishAlways(&agentv1.AgentEvent{Kind: &agentv1.AgentEvent_ToolApprovalRequest{ToolApprovalRequest: &agentv1.ToolApprovalRequest{
				RunId: x.st.runID, MessageId: m.GetMessageId(), ToolCallId: c.GetToolCallId(), ApprovalId: c.GetApprovalId(),
				Name: c.GetName(), Reason: "tool_call",
			}}})
		}
	}
	for _, i := range m.GetInterrupts() {
		name := ""
		for _, c := range m.GetToolCalls() {
			if c.GetToolCallId() == i.GetToolCallId() {
				name = c.GetName()
			}
		}
		_ = out.publishAlways(&agentv1.AgentEvent{Kind: &agentv1.AgentEvent_ToolApprovalRequest{ToolApprovalRequest: &agentv1.ToolApprovalRequest{
			RunId: x.st.runID, MessageId: m.GetMessageId(), ToolCallId: i.GetToolCallId(), ApprovalId: i.GetApprovalId(),
			Name: name, InterruptId: i.GetInterruptId(), Reason: i.GetReason(), Message: i.GetMessage(),
		}}})
	}
}

// pending is what the paused step m waits for, in the order of its calls,
// then its interrupts that hold no call of it: each with the results that
// close it if the user moves on or the run is cancelled.
func (x *run) pending(m *agentv1.Message) []engine.Pending {
	var out []engine.Pending
	base := engine.PendingCall{RunID: x.st.runID, Step: m.GetStep(), ReplyTo: x.st.seq}
	interruptOf := map[string]string{}
	for _, i := range m.GetInterrupts() {
		if id := i.GetToolCallId(); id != "" {
			interruptOf[id] = i.GetInterruptId()
		}
	}
	add := func(key string, pc engine.PendingCall, closes func(string) *agentv1.AgentEvent) {
		pc.Order = len(out)
		p := engine.Pending{Key: key, Call: pc}
		if closes != nil {
			p.MovedOn, p.Cancelled = closes(movedOnResult), closes(cancelledResult)
		}
		out = append(out, p)
	}
	covered := map[string]bool{}
	for _, c := range m.GetToolCalls() {
		if answered(c) {
			continue
		}
		pc := base
		pc.MessageID, pc.ToolCallID, pc.Name, pc.InterruptID = m.GetMessageId(), c.GetToolCallId(), c.GetName(), interruptOf[c.GetToolCallId()]
		pc.Kind, pc.ApprovalID = engine.PendingDecision, c.GetApprovalId()
		if c.GetState() == agentv1.ToolCallState_TOOL_CALL_STATE_PENDING {
			pc.Kind, pc.ApprovalID = engine.PendingResult, ""
		}
		covered[c.GetToolCallId()] = true
		add(engine.CallKey(c.GetToolCallId()), pc, x.closer(m.GetMessageId(), c.GetToolCallId()))
	}
	for _, i := range m.GetInterrupts() {
		id := i.GetToolCallId()
		if covered[id] && id != "" {
			continue
		}
		pc := base
		pc.Kind, pc.ApprovalID, pc.InterruptID, pc.MessageID = engine.PendingDecision, i.GetApprovalId(), i.GetInterruptId(), m.GetMessageId()
		if id == "" {
			add(engine.InterruptKey(i.GetInterruptId()), pc, nil)
			continue
		}
		// A call of an earlier step, which the interrupt holds.
		pc.MessageID, pc.ToolCallID = x.st.stepOfCall(id), id
		add(engine.CallKey(id), pc, x.closer(pc.MessageID, id))
	}
	return out
}

// closer makes the closing results of the call id of the step msgID.
func (x *run) closer(msgID, id string) func(string) *agentv1.AgentEvent {
	return func(why string) *agentv1.AgentEvent {
		return &agentv1.AgentEvent{Kind: &agentv1.AgentEvent_ToolCallResult{ToolCallResult: &agentv1.ToolCallResult{
			RunId: x.st.runID, MessageId: msgID, ToolCallId: id, Content: why, IsError: true,
			State: agentv1.ToolCallState_TOOL_CALL_STATE_CLOSED,
		}}}
	}
}

// pause appends the step that pauses the run, with what it waits for and
// the message that ends it if it is closed before the answers come.
func (x *run) pause(ctx context.Context, evs []*agentv1.AgentEvent, st stepResult) (*engine.Work, error) {
	m := st.event.GetMessage()
	closing := &agentv1.AgentEvent{Kind: &agentv1.AgentEvent_Message{Message: &agentv1.Message{
		MessageId: newID(), Role: agentv1.Role_ROLE_ASSISTANT, RunId: x.st.runID, ReplyToSeq: x.st.seq,
		Step: m.GetStep() + 1, FinishReason: agentv1.FinishReason_FINISH_REASON_CANCELLED,
	}}}
	return x.appendEnd(ctx, evs, engine.RunAppend{Lease: x.lease, Answers: x.st.seq, End: engine.RunPauses,
		RunID: x.st.runID, Pending: st.pending, Closing: closing, Next: x.s.claim})
}

// resumption is what a resumed run does before its next step: the
// approved server calls of its last step to run, the calls left without
// an answer (which only a failure leaves: they are closed), and the
// answers to the step's interrupts.
type resumption struct {
	msgID      string
	approved   []*agentv1.ToolCall
	unanswered []*agentv1.ToolCall
	resume     []responder.Resume
}

// resumption reads what the run's last step waited for, and its answers,
// from the state.
func (x *run) resumption() *resumption {
	last := x.st.steps[len(x.st.steps)-1]
	rs := &resumption{msgID: last.GetMessageId()}
	heldBy := map[string]bool{}
	for _, i := range last.GetInterrupts() {
		if id := i.GetToolCallId(); id != "" {
			heldBy[id] = true
		}
		r := responder.Resume{InterruptID: i.GetInterruptId(), Status: responder.ResumeCancelled}
		if d := x.st.decisions[decisionKey(i.GetToolCallId(), i.GetInterruptId())]; d != nil {
			r.Status, r.Approved, r.Reason = responder.ResumeResolved, d.GetApproved(), d.GetReason()
		}
		rs.resume = append(rs.resume, r)
	}
	for _, c := range last.GetToolCalls() {
		id := c.GetToolCallId()
		if answered(c) || x.st.results[id] != nil || heldBy[id] {
			continue
		}
		if d := x.st.decisions[engine.CallKey(id)]; d != nil && d.GetApproved() && c.GetKind() == agentv1.ToolCallKind_TOOL_CALL_KIND_SERVER {
			rs.approved = append(rs.approved, c)
			continue
		}
		rs.unanswered = append(rs.unanswered, c)
	}
	return rs
}

// runApproved runs the approved calls of a resumed run (and closes the
// unanswered ones), and returns their results as the events to persist
// before the next step. The results go into the run's last step.
func (x *run) runApproved(out *runStream, rs *resumption) []*agentv1.AgentEvent {
	var calls []*agentv1.ToolCall
	for _, c := range rs.approved {
		calls = append(calls, cloneCall(c))
	}
	if len(calls) > 0 {
		x.runCalls(out, x.s.toolbox(x.ctx, x.st.lent), calls, rs.msgID)
	}
	for _, c := range rs.unanswered {
		cc := cloneCall(c)
		cc.State, cc.Result, cc.IsError = agentv1.ToolCallState_TOOL_CALL_STATE_CLOSED, "not run: no answer came for this call", true
		calls = append(calls, cc)
	}
	evs := make([]*agentv1.AgentEvent, 0, len(calls))
	last := &x.steps[len(x.steps)-1]
	for _, c := range calls {
		evs = append(evs, x.resultEvent(rs.msgID, c))
		for i := range last.ToolCalls {
			if lc := &last.ToolCalls[i]; lc.ID == c.GetToolCallId() {
				lc.Result, lc.IsError = c.GetResult(), c.GetIsError()
			}
		}
	}
	return evs
}

// cloneCall copies a call of a persisted step, which is shared.
func cloneCall(c *agentv1.ToolCall) *agentv1.ToolCall {
	return &agentv1.ToolCall{ToolCallId: c.GetToolCallId(), Name: c.GetName(), Arguments: c.GetArguments(),
		Kind: c.GetKind(), ApprovalId: c.GetApprovalId()}
}
