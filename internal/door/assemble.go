package door

import (
	"strings"

	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/agentgate/agentgate/internal/agent"
)

// Sink is what a door's translator implements: the reply of one run as a
// sequence that is always well formed, whatever the events it came from.
//
// Start comes first (again only if the run was restarted, after its writer
// died, with another message id). Each later step of the run begins with
// Step: its text is a message of its own. A tool call is ToolStart,
// ToolArgs…, ToolEnd, then at most one outcome: ToolResult, or ToolError
// (a failure, a denial, a call closed unanswered), or Approval when it
// waits for a person, which Decided may follow. A result may also come
// for a call of an earlier step that the sequence never started (the
// client showed it before: a call a person approved, which ran since).
// Persisted says that a step was written whole, with every call's kind and
// state, after its content. The sequence ends with exactly one Finish or
// Fail, unless the stream is cut short (the client left, the server
// drains), when the door ends it with Fail itself.
type Sink interface {
	Start(messageID string)
	// Step begins the run's next step, whose message id is messageID.
	Step(messageID string)
	Text(delta string)
	ToolStart(id, name string)
	ToolArgs(id, delta string)
	ToolEnd(id string)
	ToolResult(id, content string)
	// ToolError is the outcome of a call that failed (the tool's error,
	// state ERROR), that a person denied (DENIED), or that was closed
	// without an answer (CLOSED); content says why.
	ToolError(id, content string, state agentv1.ToolCallState)
	// Approval says that a call waits for a person's decision.
	Approval(req *agentv1.ToolApprovalRequest)
	// Decided is a person's decision on a call that asked for one.
	Decided(d *agentv1.ToolCallDecision)
	// Persisted is a step as written, after its content was passed on.
	Persisted(step *agentv1.Message)
	// Finish ends a reply: reply is the step that ended the run, or paused
	// it (finish reason tool_calls, with what it waits for), with its
	// usage.
	Finish(reply *agentv1.Message)
	// Fail ends a reply that could not be written, or a stream cut short.
	Fail(code, message string)
}

// Assembler turns the events a Follower of one reply delivers into calls
// of a Sink. A reply is a run of one or more steps, each with a message id
// of its own, and ends where the run ends or pauses (agent.Stops). The
// Assembler fills in what the live events missed from the persisted steps:
// a reply already written (a retry) arrives as its steps alone, and an
// ephemeral event lost in transit is in its step too. It is pure logic,
// used by one goroutine.
type Assembler struct {
	sink    Sink
	started bool
	ended   bool
	runID   string
	// step is the message id of the step being passed on; text its text
	// passed on so far.
	step  string
	text  strings.Builder
	tools map[string]*toolState
	order []string // tool call ids, in the order they started
	// known are the calls whose outcome the client has (its own results):
	// their results are not passed on again.
	known map[string]bool
}

type toolState struct {
	args     strings.Builder
	ended    bool
	result   bool
	approval bool
	decided  bool
}

// NewAssembler returns an Assembler that calls sink.
func NewAssembler(sink Sink) *Assembler {
	return &Assembler{sink: sink, tools: map[string]*toolState{}}
}

// Continue makes the Assembler pass on the rest of a run that the client
// showed up to its pause, after the client's answers: the sink is Started
// without a message id (the message goes on), and the run's next step
// begins with Step. The results of the calls named in known, which the
// client has, are not passed on.
func (a *Assembler) Continue(known ...string) {
	a.started = true
	for _, id := range known {
		if a.known == nil {
			a.known = map[string]bool{}
		}
		a.known[id] = true
	}
	a.sink.Start("")
}

// Ended reports whether Finish or Fail was called.
func (a *Assembler) Ended() bool { return a.ended }

// Event passes one event of the reply on. A step that ends or pauses the
// run ends the sequence.
func (a *Assembler) Event(ev *agentv1.AgentEvent) { a.event(ev, agent.Stops(ev)) }

// Pass passes one event of the reply on without ending the sequence, even
// if it is a step that paused the run: for a door that replays a run from
// the log and ends it itself (Finish).
func (a *Assembler) Pass(ev *agentv1.AgentEvent) { a.event(ev, false) }

// event passes ev on; last says that it ends the reply (see Relay: a
// reply followed from a later step passes earlier pauses on).
func (a *Assembler) event(ev *agentv1.AgentEvent, last bool) {
	if a.ended {
		return
	}
	switch k := ev.GetKind().(type) {
	case *agentv1.AgentEvent_RunStarted:
		a.runStarted(k.RunStarted)
	case *agentv1.AgentEvent_StepStarted:
		a.stepTo(k.StepStarted.GetMessageId())
	case *agentv1.AgentEvent_TextDelta:
		a.stepTo(k.TextDelta.GetMessageId())
		if d := k.TextDelta.GetDelta(); d != "" {
			a.text.WriteString(d)
			a.sink.Text(d)
		}
	case *agentv1.AgentEvent_ToolCallStart:
		tc := k.ToolCallStart
		a.stepTo(tc.GetMessageId())
		if a.tools[tc.GetToolCallId()] != nil {
			return
		}
		a.addTool(tc.GetToolCallId())
		a.sink.ToolStart(tc.GetToolCallId(), tc.GetName())
	case *agentv1.AgentEvent_ToolCallArgs:
		// Events of a call whose start was lost wait for the step, which
		// has the whole call.
		if t := a.tools[k.ToolCallArgs.GetToolCallId()]; t != nil && !t.ended && k.ToolCallArgs.GetDelta() != "" {
			t.args.WriteString(k.ToolCallArgs.GetDelta())
			a.sink.ToolArgs(k.ToolCallArgs.GetToolCallId(), k.ToolCallArgs.GetDelta())
		}
	case *agentv1.AgentEvent_ToolCallEnd:
		a.endTool(k.ToolCallEnd.GetToolCallId())
	case *agentv1.AgentEvent_ToolCallResult:
		a.result(k.ToolCallResult)
	case *agentv1.AgentEvent_ToolApprovalRequest:
		a.approval(k.ToolApprovalRequest)
	case *agentv1.AgentEvent_ToolCallDecision:
		d := k.ToolCallDecision
		if t := a.tools[d.GetToolCallId()]; t != nil && t.approval && !t.decided {
			t.decided = true
			a.sink.Decided(d)
		}
	case *agentv1.AgentEvent_Message:
		if k.Message.GetRole() == agentv1.Role_ROLE_ASSISTANT {
			a.stepMessage(k.Message, last)
		}
	case *agentv1.AgentEvent_RunError:
		a.Fail(k.RunError.GetCode(), k.RunError.GetMessage())
	}
}

// Finish ends the sequence with reply, unless it has ended: for a run
// whose end the door knows without a follower (a run that still waits).
func (a *Assembler) Finish(reply *agentv1.Message) {
	if a.ended {
		return
	}
	if !a.started {
		a.started = true
		a.sink.Start(reply.GetMessageId())
	}
	for _, id := range a.order {
		a.endTool(id)
	}
	a.ended = true
	a.sink.Finish(reply)
}

// Fail ends the sequence with an error, unless it has ended.
func (a *Assembler) Fail(code, message string) {
	if a.ended {
		return
	}
	a.ended = true
	a.sink.Fail(code, message)
}

func (a *Assembler) runStarted(rs *agentv1.RunStarted) {
	if a.started && rs.GetRunId() == a.runID {
		return
	}
	restart := a.started && a.runID != ""
	a.runID = rs.GetRunId()
	if !restart {
		a.stepTo(rs.GetMessageId())
		return
	}
	// The run was taken over after its writer died: close what the first
	// attempt left open; the new run writes the reply anew.
	for _, id := range a.order {
		a.endTool(id)
	}
	clear(a.tools)
	a.order = a.order[:0]
	a.text.Reset()
	a.step = rs.GetMessageId()
	a.sink.Start(a.step)
}

// stepTo makes messageID the step being passed on: the first one starts
// the sequence, another one begins the next step (its step_started was
// lost, or the step is read from the log).
func (a *Assembler) stepTo(messageID string) {
	switch {
	case !a.started:
		a.started = true
		a.step = messageID
		a.sink.Start(messageID)
	case messageID == "" || messageID == a.step:
	default:
		for _, id := range a.order {
			a.endTool(id) // a call of the step before whose end was lost
		}
		a.step = messageID
		a.text.Reset()
		a.sink.Step(messageID)
	}
}

func (a *Assembler) addTool(id string) *toolState {
	t := &toolState{}
	a.tools[id] = t
	a.order = append(a.order, id)
	return t
}

func (a *Assembler) endTool(id string) {
	if t := a.tools[id]; t != nil && !t.ended {
		t.ended = true
		a.sink.ToolEnd(id)
	}
}

// result passes a call's result on: of a call of this sequence, after its
// end; of an earlier step's call the sequence did not start, as it is
// (the client shows the call); of a call of the step being written whose
// start was lost, not yet (the step brings the whole call).
func (a *Assembler) result(r *agentv1.ToolCallResult) {
	id := r.GetToolCallId()
	t := a.tools[id]
	switch {
	case t != nil && t.result:
		return
	case a.known[id]:
	case t != nil:
		a.endTool(id)
		a.outcome(id, r.GetContent(), r.GetIsError(), r.GetState())
	case r.GetMessageId() != "" && r.GetMessageId() != a.step:
		if !a.started {
			a.started = true
			a.sink.Start("")
		}
		a.outcome(id, r.GetContent(), r.GetIsError(), r.GetState())
	default:
		return
	}
	if t == nil {
		t = a.addTool(id)
		t.ended = true
	}
	t.result = true
}

// outcome passes a call's result on as its kind of outcome.
func (a *Assembler) outcome(id, content string, isError bool, state agentv1.ToolCallState) {
	if isError || state == agentv1.ToolCallState_TOOL_CALL_STATE_DENIED || state == agentv1.ToolCallState_TOOL_CALL_STATE_CLOSED {
		if state == agentv1.ToolCallState_TOOL_CALL_STATE_UNSPECIFIED || state == agentv1.ToolCallState_TOOL_CALL_STATE_DONE {
			state = agentv1.ToolCallState_TOOL_CALL_STATE_ERROR
		}
		a.sink.ToolError(id, content, state)
		return
	}
	a.sink.ToolResult(id, content)
}

// approval passes on an approval request for a call of the sequence;
// one for a call whose start was lost waits for its step.
func (a *Assembler) approval(req *agentv1.ToolApprovalRequest) {
	t := a.tools[req.GetToolCallId()]
	if t == nil || t.approval || t.result {
		return
	}
	a.endTool(req.GetToolCallId())
	t.approval = true
	a.sink.Approval(req)
}

// stepMessage passes on a persisted step, after what the live events did
// not carry of it: the rest of its text, and its tool calls, or the parts
// of them, that were not seen, with their results and approval requests.
// A step that ends the reply (last) ends the sequence.
func (a *Assembler) stepMessage(m *agentv1.Message, last bool) {
	a.stepTo(m.GetMessageId())
	if rest, ok := strings.CutPrefix(m.GetText(), a.text.String()); ok && rest != "" {
		a.text.WriteString(rest)
		a.sink.Text(rest)
	}
	held := map[string]*agentv1.Interrupt{}
	for _, i := range m.GetInterrupts() {
		held[i.GetToolCallId()] = i
	}
	for _, tc := range m.GetToolCalls() {
		id := tc.GetToolCallId()
		t := a.tools[id]
		if t == nil {
			t = a.addTool(id)
			a.sink.ToolStart(id, tc.GetName())
		}
		if !t.ended {
			if rest, ok := strings.CutPrefix(tc.GetArguments(), t.args.String()); ok && rest != "" {
				t.args.WriteString(rest)
				a.sink.ToolArgs(id, rest)
			}
			a.endTool(id)
		}
		switch {
		case t.result || a.known[id]:
		case hasResult(tc):
			t.result = true
			a.outcome(id, tc.GetResult(), tc.GetIsError(), tc.GetState())
		case tc.GetState() == agentv1.ToolCallState_TOOL_CALL_STATE_AWAITING_APPROVAL && !t.approval:
			req := &agentv1.ToolApprovalRequest{RunId: m.GetRunId(), MessageId: m.GetMessageId(), ToolCallId: id,
				ApprovalId: tc.GetApprovalId(), Name: tc.GetName(), Reason: "tool_call"}
			if i := held[id]; i != nil {
				req.InterruptId, req.Reason, req.Message = i.GetInterruptId(), i.GetReason(), i.GetMessage()
			}
			a.approval(req)
		}
	}
	for _, id := range a.order {
		a.endTool(id) // calls the step does not list, should there be any
	}
	a.sink.Persisted(m)
	if last {
		a.ended = true
		a.sink.Finish(m)
	}
}

// hasResult reports whether a call, as its step has it, has its result.
func hasResult(c *agentv1.ToolCall) bool {
	switch c.GetState() {
	case agentv1.ToolCallState_TOOL_CALL_STATE_UNSPECIFIED:
		return c.GetResult() != ""
	case agentv1.ToolCallState_TOOL_CALL_STATE_PENDING, agentv1.ToolCallState_TOOL_CALL_STATE_AWAITING_APPROVAL:
		return false
	}
	return true
}
