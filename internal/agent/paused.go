package agent

import (
	"context"

	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/agentgate/agentgate/internal/engine"
)

// This file reads the run that is paused now, for a client that must be
// told what it waits for without following it: a frontend door answers a
// request whose answers left the run still waiting, and replays a paused
// run to a page that reloads.

// PausedRun is a run that waits for answers: a client's results of its
// tools' calls, a person's decisions (see Paused).
type PausedRun struct {
	// ReplyTo is the seq of the user message the run answers; RunID the
	// run.
	ReplyTo uint64
	RunID   string
	// Events are the run's persisted events, in seq order: its steps, and
	// the results and decisions persisted between and after them.
	Events []*agentv1.AgentEvent
	// Step is the step that paused the run, the last of Events' steps;
	// StepSeq its seq.
	Step    *agentv1.Message
	StepSeq uint64
	// Waiting is what the run still waits for, in the order of Step's
	// calls, then of its interrupts that hold no call of it. It is never
	// empty: a run with every answer goes on.
	Waiting []Waiting
}

// Waiting is one answer a paused run waits for.
type Waiting struct {
	// ToolCallID is the call to answer; empty for an upstream interrupt
	// that holds no call.
	ToolCallID string
	// Decision is set when a person's decision is awaited
	// (DecideToolCall); otherwise a client's result is (SubmitToolResult).
	Decision bool
	// ApprovalID is, for a decision, the approval request the server
	// issued.
	ApprovalID string
	// Interrupt is the upstream interrupt a decision answers, if it is
	// one.
	Interrupt *agentv1.Interrupt
}

// Paused returns the agent's run that is paused now, with what it still
// waits for; nil if none is (no run paused, the last one ended, or every
// answer came and the run goes on). It reads the log: what it returns may
// be overtaken at once by an answer or a new message.
func (s *Service) Paused(ctx context.Context, agentID string) (*PausedRun, error) {
	if err := ValidateID(agentID); err != nil {
		return nil, err
	}
	bounds, err := s.log.Read(ctx, agentID, 0, 0)
	if err != nil {
		return nil, s.engineError(ctx, "read history", err)
	}
	seq := bounds.Answered // a paused run counts as an answer
	if seq == 0 {
		return nil, nil
	}
	st := &runState{seq: seq}
	var evs []*agentv1.AgentEvent
	var stepSeq uint64
	for p, err := range pages(ctx, s.log, agentID, seq-1, scanPage) {
		if err != nil {
			return nil, s.engineError(ctx, "read history", err)
		}
		for _, ev := range p.Events {
			steps := len(st.steps)
			st.add([]*agentv1.AgentEvent{ev})
			switch {
			case len(st.steps) > steps:
				evs, stepSeq = append(evs, ev), ev.GetSeq()
			case st.runID != "" && engine.RunID(ev) == st.runID && (ev.GetToolCallResult() != nil || ev.GetToolCallDecision() != nil):
				evs = append(evs, ev)
			}
		}
	}
	if st.ended || len(st.steps) == 0 {
		return nil, nil
	}
	last := st.steps[len(st.steps)-1]
	if !paused(last) {
		return nil, nil
	}
	waiting := st.waiting(last)
	if len(waiting) == 0 {
		return nil, nil
	}
	return &PausedRun{ReplyTo: seq, RunID: st.runID, Events: evs, Step: last, StepSeq: stepSeq, Waiting: waiting}, nil
}

// waiting is what m, the step that paused the run, still waits for: its
// calls without an answer, then its interrupts that hold no call of it
// and have no decision (the order of the run's pending answers).
func (st *runState) waiting(m *agentv1.Message) []Waiting {
	interruptOf := map[string]*agentv1.Interrupt{}
	for _, i := range m.GetInterrupts() {
		if id := i.GetToolCallId(); id != "" {
			interruptOf[id] = i
		}
	}
	var out []Waiting
	covered := map[string]bool{}
	for _, c := range m.GetToolCalls() {
		id := c.GetToolCallId()
		if answered(c) {
			continue
		}
		covered[id] = true
		if c.GetState() == agentv1.ToolCallState_TOOL_CALL_STATE_PENDING {
			if st.results[id] == nil {
				out = append(out, Waiting{ToolCallID: id})
			}
			continue
		}
		if st.decisions[engine.CallKey(id)] == nil && st.results[id] == nil {
			out = append(out, Waiting{ToolCallID: id, Decision: true, ApprovalID: c.GetApprovalId(), Interrupt: interruptOf[id]})
		}
	}
	for _, i := range m.GetInterrupts() {
		id := i.GetToolCallId()
		if id != "" && covered[id] {
			continue
		}
		if st.decisions[decisionKey(id, i.GetInterruptId())] == nil {
			out = append(out, Waiting{ToolCallID: id, Decision: true, ApprovalID: i.GetApprovalId(), Interrupt: i})
		}
	}
	return out
}
