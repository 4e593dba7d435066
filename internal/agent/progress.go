package agent

import (
	"slices"
	"strings"

	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/agentgate/agentgate/internal/engine"
)

// sentRun is what a Follower delivered of one run, counted in bytes where a
// run's events add up (its text, each tool call's arguments), so that
// joining the run again (a resume after a store outage, a door whose
// subscription overflowed) delivers only the rest. Counting bytes rather
// than events is what makes this work whether the engine returns a run's
// progress event by event or folded (see engine.Runs.Run).
type sentRun struct {
	id string
	// msg is the message id of the step delivered: a run's progress is
	// the step being written, and each step starts what was delivered of
	// it anew.
	msg string
	// seq is the newest run_seq delivered: the live events up to it are
	// in what was delivered.
	seq     uint64
	started bool
	text    int
	tools   map[string]*sentTool
}

// sentTool is what was delivered of one tool call.
type sentTool struct {
	started, ended, result, approval bool
	args                             int
}

func (r *sentRun) tool(id string) *sentTool {
	t := r.tools[id]
	if t == nil {
		if r.tools == nil {
			r.tools = map[string]*sentTool{} // most runs call no tool
		}
		t = &sentTool{}
		r.tools[id] = t
	}
	return t
}

// saw records ev, an event of the run, as delivered.
func (r *sentRun) saw(ev *agentv1.AgentEvent) {
	r.seq = max(r.seq, ev.GetRunSeq())
	switch k := ev.GetKind().(type) {
	case *agentv1.AgentEvent_RunStarted:
		r.started, r.msg = true, k.RunStarted.GetMessageId()
	case *agentv1.AgentEvent_StepStarted:
		r.started, r.msg = true, k.StepStarted.GetMessageId()
	case *agentv1.AgentEvent_TextDelta:
		r.text += len(k.TextDelta.GetDelta())
	case *agentv1.AgentEvent_ToolCallStart:
		r.tool(k.ToolCallStart.GetToolCallId()).started = true
	case *agentv1.AgentEvent_ToolCallArgs:
		r.tool(k.ToolCallArgs.GetToolCallId()).args += len(k.ToolCallArgs.GetDelta())
	case *agentv1.AgentEvent_ToolCallEnd:
		r.tool(k.ToolCallEnd.GetToolCallId()).ended = true
	case *agentv1.AgentEvent_ToolCallResult:
		r.tool(k.ToolCallResult.GetToolCallId()).result = true
	case *agentv1.AgentEvent_ToolApprovalRequest:
		r.tool(approvalKey(k.ToolApprovalRequest)).approval = true
	}
}

// approvalKey is what an approval request is tracked by: its call, or
// its interrupt.
func approvalKey(a *agentv1.ToolApprovalRequest) string {
	if id := a.GetToolCallId(); id != "" {
		return id
	}
	return "\x00" + a.GetInterruptId()
}

// stepMessageID is the message id of the step an event begins (see
// engine.BeginsStep).
func stepMessageID(ev *agentv1.AgentEvent) string {
	if s := ev.GetStepStarted(); s != nil {
		return s.GetMessageId()
	}
	return ev.GetRunStarted().GetMessageId()
}

// unsent is what of a run's progress evs (as Runs.Run returns it, folded
// or not) sent has not delivered, in the order a joining client needs it:
// the run_started, the rest of the text as one delta, then the tool call
// events, each call's arguments cut where sent stopped. Every piece keeps
// the run_seq of the newest event in it, so that the live copies of what
// it holds are known as seen.
func unsent(evs []*agentv1.AgentEvent, sent *sentRun, skipDeltas bool) []*agentv1.AgentEvent {
	var (
		out  []*agentv1.AgentEvent
		text strings.Builder
		last *agentv1.AgentEvent // the newest text delta
		args = map[string]int{}  // bytes of each call's arguments passed
	)
	for _, ev := range evs {
		switch k := ev.GetKind().(type) {
		case *agentv1.AgentEvent_RunStarted, *agentv1.AgentEvent_StepStarted:
			if !sent.started {
				out = append(out, ev)
			}
		case *agentv1.AgentEvent_TextDelta:
			text.WriteString(k.TextDelta.GetDelta())
			last = ev
		case *agentv1.AgentEvent_ToolCallArgs:
			id, d := k.ToolCallArgs.GetToolCallId(), k.ToolCallArgs.GetDelta()
			from, had := args[id], sentOf(sent, id).args
			args[id] = from + len(d)
			switch {
			case from+len(d) <= had:
			case from >= had:
				out = append(out, ev)
			default:
				out = append(out, piece(ev, &agentv1.AgentEvent{Kind: &agentv1.AgentEvent_ToolCallArgs{ToolCallArgs: &agentv1.ToolCallArgs{
					RunId: k.ToolCallArgs.GetRunId(), ToolCallId: id, Delta: d[had-from:],
				}}}))
			}
		default:
			if !sentOf(sent, toolCallID(ev)).has(ev) {
				out = append(out, ev)
			}
		}
	}
	if last == nil || skipDeltas || text.Len() <= sent.text {
		return out
	}
	d := last.GetTextDelta()
	whole := piece(last, &agentv1.AgentEvent{Kind: &agentv1.AgentEvent_TextDelta{TextDelta: &agentv1.TextDelta{
		RunId: d.GetRunId(), MessageId: d.GetMessageId(), Delta: text.String()[sent.text:],
	}}})
	// After the run_started or step_started (if it is here), before the
	// tool calls.
	at := 0
	if len(out) > 0 && engine.BeginsStep(out[0]) {
		at = 1
	}
	return slices.Insert(out, at, whole)
}

// sentOf is what was delivered of the tool call id; a zero sentTool if
// nothing was.
func sentOf(r *sentRun, id string) sentTool {
	if t := r.tools[id]; t != nil {
		return *t
	}
	return sentTool{}
}

// has reports whether ev, a tool call's start, end or result, or an
// approval request, was delivered.
func (t sentTool) has(ev *agentv1.AgentEvent) bool {
	switch ev.GetKind().(type) {
	case *agentv1.AgentEvent_ToolCallStart:
		return t.started
	case *agentv1.AgentEvent_ToolCallEnd:
		return t.ended
	case *agentv1.AgentEvent_ToolCallResult:
		return t.result
	case *agentv1.AgentEvent_ToolApprovalRequest:
		return t.approval
	}
	return false
}

// toolCallID is the tool call an event is of, empty if none.
func toolCallID(ev *agentv1.AgentEvent) string {
	switch k := ev.GetKind().(type) {
	case *agentv1.AgentEvent_ToolCallStart:
		return k.ToolCallStart.GetToolCallId()
	case *agentv1.AgentEvent_ToolCallArgs:
		return k.ToolCallArgs.GetToolCallId()
	case *agentv1.AgentEvent_ToolCallEnd:
		return k.ToolCallEnd.GetToolCallId()
	case *agentv1.AgentEvent_ToolCallResult:
		return k.ToolCallResult.GetToolCallId()
	case *agentv1.AgentEvent_ToolApprovalRequest:
		return approvalKey(k.ToolApprovalRequest)
	}
	return ""
}

// piece gives ev, a cut or folded event, the envelope of last, the newest
// event in it.
func piece(last, ev *agentv1.AgentEvent) *agentv1.AgentEvent {
	ev.AgentId, ev.CreateTime, ev.Epoch, ev.RunSeq = last.GetAgentId(), last.GetCreateTime(), last.GetEpoch(), last.GetRunSeq()
	return ev
}
