package door

import (
	"fmt"
	"slices"

	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/agentgate/agentgate/internal/agent"
	"github.com/agentgate/agentgate/internal/edge"
	"google.golang.org/protobuf/proto"
)

// Answer is one answer that a door request carries to what a paused run
// waits for: a client tool's result (an AG-UI tool message, an AI SDK tool
// part with its output), or a person's decision on an approval request (an
// AG-UI resume entry, an AI SDK tool part whose approval was responded
// to).
type Answer struct {
	// Where names the answer in the request, for errors: "messages[3]".
	Where string
	// ToolCallID is the call answered; empty only for a decision on an
	// upstream interrupt that holds no call (InterruptID).
	ToolCallID string
	// Output is a result's output, or with IsError why the tool failed.
	Output  string
	IsError bool
	// Decide makes the answer a decision: Approve or not, with Reason, on
	// the approval request ApprovalID (required to match the server's,
	// when set).
	Decide      bool
	Approve     bool
	Reason      string
	ApprovalID  string
	InterruptID string
}

// Answered is what the answers of a request did.
type Answered struct {
	// Reply follows the run the answers let go on (or that the original
	// of a repeated answer let go on), from there to its next pause or its
	// end; nil while the run still waits. The caller closes it.
	Reply *agent.Follower
	// Appended are the answers' own events, in order (for a duplicate, the
	// original ones): a denial's result among them, which the follower
	// starts after.
	Appended []*agentv1.AgentEvent
	// Paused is the run as it waits now, when Reply is nil; nil too if no
	// run waits (the answers were old and the run ended meanwhile).
	Paused *agent.PausedRun
}

// Answer submits the request's answers to agentID's paused run, in order
// (SubmitToolResult, DecideToolCall), each with Follow: the one that lets
// the run go on comes with its follower. Answers are not messages: they do
// not count against USER_MESSAGE_RATE, since a run is as long (MAX_STEPS)
// whether its tools are the server's or the client's, and a message
// started it. A decision records the caller as who decided. The first
// refusal is answered (Refuse), naming the answer, and reported as false;
// the answers before it are kept, as SubmitToolResult would keep them.
func (x *Exchange) Answer(agentID string, answers []Answer) (Answered, bool) {
	ctx := x.r.Context()
	var out Answered
	dup := true
	for _, a := range answers {
		var res agent.Answer
		var err error
		if a.Decide {
			res, err = x.c.Service.DecideToolCall(ctx, agent.Decision{
				AgentID: agentID, ToolCallID: a.ToolCallID, InterruptID: a.InterruptID, Approve: a.Approve,
				Reason: a.Reason, ApprovalID: a.ApprovalID, DecidedBy: edge.IdentityFrom(ctx).Name(), Follow: true,
			})
		} else {
			res, err = x.c.Service.SubmitToolResult(ctx, agent.ToolResult{
				AgentID: agentID, ToolCallID: a.ToolCallID, Output: a.Output, IsError: a.IsError, Follow: true,
			})
		}
		if err != nil {
			if out.Reply != nil {
				out.Reply.Close()
			}
			e := *ErrorOf(err)
			e.Message = fmt.Sprintf("%s: %s", a.Where, e.Message)
			x.Refuse(&e)
			return Answered{}, false
		}
		dup = dup && res.Duplicate
		out.Appended = append(out.Appended, res.Appended...)
		if res.Follower != nil {
			if out.Reply != nil {
				out.Reply.Close() // a repeated answer's; this one's goes on from later
			}
			out.Reply = res.Follower
		}
	}
	x.Rec.Duplicate = dup
	if out.Reply != nil {
		return out, true
	}
	p, err := x.c.Service.Paused(ctx, agentID)
	if err != nil {
		x.Refuse(ErrorOf(err))
		return Answered{}, false
	}
	out.Paused = p
	return out, true
}

// Continue starts asm on the rest of the run the answers answered, which
// the client showed up to its pause (Assembler.Continue, with the calls
// whose results the client has), passes on the answers' own events (a
// denial's result) and returns what the door streams on: the follower of
// the run, or, without one, the step to end with (WaitingStep; nil if no
// run waits). The caller closes the follower.
func (res Answered) Continue(asm *Assembler, known ...string) (*agent.Follower, *agentv1.Message) {
	asm.Continue(known...)
	for _, ev := range res.Appended {
		asm.Event(ev)
	}
	if res.Reply != nil || res.Paused == nil {
		return res.Reply, nil
	}
	return nil, WaitingStep(res.Paused)
}

// WaitingStep is the step that paused p's run as it stands now: each call
// answered since in state DONE, ERROR or DENIED as its answer made it, so
// that only the calls and interrupts p still waits for wait. A translator
// ends a stream with it (Finish) to say what the run waits for.
func WaitingStep(p *agent.PausedRun) *agentv1.Message {
	m := proto.CloneOf(p.Step)
	calls := map[string]bool{}
	interrupts := map[string]bool{}
	for _, w := range p.Waiting {
		if w.ToolCallID != "" {
			calls[w.ToolCallID] = true
		}
		if w.Interrupt != nil {
			interrupts[w.Interrupt.GetInterruptId()] = true
		}
	}
	for _, c := range m.GetToolCalls() {
		waits := c.GetState() == agentv1.ToolCallState_TOOL_CALL_STATE_PENDING || c.GetState() == agentv1.ToolCallState_TOOL_CALL_STATE_AWAITING_APPROVAL
		if waits && !calls[c.GetToolCallId()] {
			c.State = answeredState(p, c.GetToolCallId())
		}
	}
	m.Interrupts = slices.DeleteFunc(m.Interrupts, func(i *agentv1.Interrupt) bool { return !interrupts[i.GetInterruptId()] })
	return m
}

// answeredState is the state the answers in p's events gave call id.
func answeredState(p *agent.PausedRun, id string) agentv1.ToolCallState {
	state := agentv1.ToolCallState_TOOL_CALL_STATE_DONE
	for _, ev := range p.Events {
		if r := ev.GetToolCallResult(); r.GetToolCallId() == id && r.GetState() != agentv1.ToolCallState_TOOL_CALL_STATE_UNSPECIFIED {
			state = r.GetState()
		}
	}
	return state
}
