package agent

import (
	"context"

	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/agentgate/agentgate/internal/engine"
	"github.com/agentgate/agentgate/responder"
	"github.com/agentgate/agentgate/tool"
)

// runState is a run as the log holds it: whichever replica goes on with a
// run reads it back from there (loadRun), so that nothing about a run
// lives in a process between its steps.
type runState struct {
	// seq is the user message the run answers; user that message, nil if
	// the history no longer holds it; lent the client tools it lent.
	seq  uint64
	user *agentv1.AgentEvent
	lent []tool.Def
	// runID is the run's id, from its first step ("" before one was
	// persisted); runSeq the run_seq its last step reached.
	runID  string
	runSeq uint64
	// steps are the persisted steps, in order; results and decisions the
	// answers persisted after them, by tool call id and by pending key
	// (nil until one is read: most runs have none).
	steps     []*agentv1.Message
	results   map[string]*agentv1.ToolCallResult
	decisions map[string]*agentv1.ToolCallDecision
	// ended is set when the log holds the run's end.
	ended bool
}

// loadRun reads the run that answers the user message at seq from the
// log: from known, a page read already, when it holds the log from seq on,
// else page by page.
func (s *Service) loadRun(ctx context.Context, agentID string, seq uint64, known engine.Page) (*runState, error) {
	st := &runState{seq: seq}
	if holds(known, seq-1) {
		st.add(known.Events)
	} else {
		for p, err := range pages(ctx, s.log, agentID, seq-1, scanPage) {
			if err != nil {
				return nil, err
			}
			st.add(p.Events)
		}
	}
	if st.user != nil {
		lent, err := ToolDefs(st.user.GetMessage().GetTools())
		if err != nil {
			s.logger.Warn("a message's tools cannot be read; the run goes on without them", "agent", agentID, "seq", seq, "err", err)
		}
		st.lent = lent
	}
	return st, nil
}

// add takes in the events of the run among evs.
func (st *runState) add(evs []*agentv1.AgentEvent) {
	for _, ev := range evs {
		switch k := ev.GetKind().(type) {
		case *agentv1.AgentEvent_Message:
			m := k.Message
			switch {
			case ev.GetSeq() == st.seq && m.GetRole() == agentv1.Role_ROLE_USER:
				st.user = ev
			case m.GetRole() == agentv1.Role_ROLE_ASSISTANT && m.GetReplyToSeq() == st.seq && !st.ended:
				st.runID = m.GetRunId()
				st.runSeq = max(st.runSeq, ev.GetRunSeq())
				st.steps = append(st.steps, m)
				st.ended = m.GetFinishReason() != agentv1.FinishReason_FINISH_REASON_TOOL_CALLS
			}
		case *agentv1.AgentEvent_RunError:
			if k.RunError.GetReplyToSeq() == st.seq {
				st.ended = true
			}
		case *agentv1.AgentEvent_ToolCallResult:
			if r := k.ToolCallResult; st.runID != "" && r.GetRunId() == st.runID {
				if st.results == nil {
					st.results = map[string]*agentv1.ToolCallResult{}
				}
				st.results[r.GetToolCallId()] = r
			}
		case *agentv1.AgentEvent_ToolCallDecision:
			if d := k.ToolCallDecision; st.runID != "" && d.GetRunId() == st.runID {
				if st.decisions == nil {
					st.decisions = map[string]*agentv1.ToolCallDecision{}
				}
				st.decisions[decisionKey(d.GetToolCallId(), d.GetInterruptId())] = d
			}
		}
	}
}

// decisionKey is the pending key a decision answers.
func decisionKey(toolCallID, interruptID string) string {
	if toolCallID != "" {
		return engine.CallKey(toolCallID)
	}
	return engine.InterruptKey(interruptID)
}

// answered reports whether a call, as its step has it, has its result.
func answered(c *agentv1.ToolCall) bool {
	switch c.GetState() {
	case agentv1.ToolCallState_TOOL_CALL_STATE_PENDING, agentv1.ToolCallState_TOOL_CALL_STATE_AWAITING_APPROVAL:
		return false
	case agentv1.ToolCallState_TOOL_CALL_STATE_UNSPECIFIED:
		return c.GetResult() != ""
	}
	return true
}

// hasResult reports whether the run's call id has its result, in its step
// or persisted after it.
func (st *runState) hasResult(id string) bool {
	if _, ok := st.results[id]; ok {
		return true
	}
	for _, m := range st.steps {
		for _, c := range m.GetToolCalls() {
			if c.GetToolCallId() == id && answered(c) {
				return true
			}
		}
	}
	return false
}

// stepOfCall is the message id of the step that made the call id.
func (st *runState) stepOfCall(id string) string {
	for _, m := range st.steps {
		for _, c := range m.GetToolCalls() {
			if c.GetToolCallId() == id {
				return m.GetMessageId()
			}
		}
	}
	return ""
}

// stepMessage is m, a persisted step, as the responder gets it in
// Request.Steps: each call with its result, from the step or persisted
// after it; a call an interrupt holds has none (the upstream answers it).
func (st *runState) stepMessage(m *agentv1.Message) responder.Message {
	out := messageOf(m)
	for i := range out.ToolCalls {
		c := &out.ToolCalls[i]
		if r, ok := st.results[c.ID]; ok {
			c.Result, c.IsError = r.GetContent(), r.GetIsError()
		}
	}
	return out
}

// paused reports whether a step pauses its run: it called tools, and a
// call waits for a result or a decision, or an interrupt for an answer.
func paused(m *agentv1.Message) bool {
	if m.GetFinishReason() != agentv1.FinishReason_FINISH_REASON_TOOL_CALLS {
		return false
	}
	if len(m.GetInterrupts()) > 0 {
		return true
	}
	for _, c := range m.GetToolCalls() {
		if !answered(c) {
			return true
		}
	}
	return false
}

// Stops reports whether ev ends the run it belongs to, or pauses it: a run
// error, or a step (an assistant message) that ended the run or paused it
// (see AgentEvent in event.proto). A step after which the run goes on at
// once does not stop it.
func Stops(ev *agentv1.AgentEvent) bool {
	if ev.GetSeq() == 0 {
		return false
	}
	if ev.GetRunError() != nil {
		return true
	}
	m := ev.GetMessage()
	if m.GetRole() != agentv1.Role_ROLE_ASSISTANT {
		return false
	}
	return m.GetFinishReason() != agentv1.FinishReason_FINISH_REASON_TOOL_CALLS || paused(m)
}

// Ends reports whether ev ends its run: a run error, or a step with
// another finish reason than tool_calls.
func Ends(ev *agentv1.AgentEvent) bool {
	if ev.GetSeq() == 0 {
		return false
	}
	if ev.GetRunError() != nil {
		return true
	}
	m := ev.GetMessage()
	return m.GetRole() == agentv1.Role_ROLE_ASSISTANT && m.GetFinishReason() != agentv1.FinishReason_FINISH_REASON_TOOL_CALLS
}
