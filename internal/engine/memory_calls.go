package engine

import (
	"context"
	"slices"

	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// The memory engine's paused runs: what a run waits for, its answers, and
// its closing.

// memPaused is a paused run: what it waits for, by key, and how it is
// closed.
type memPaused struct {
	seq     uint64 // the user message the run answers
	runID   string
	pending map[string]Pending
	closing *agentv1.AgentEvent
}

func newMemPaused(seq uint64, opts RunAppend) *memPaused {
	p := &memPaused{seq: seq, runID: opts.RunID, pending: make(map[string]Pending, len(opts.Pending)), closing: opts.Closing}
	for _, pc := range opts.Pending {
		p.pending[pc.Key] = pc
	}
	return p
}

// closeLocked closes a's paused run: the closing results of what is still
// pending (cancelled: CancelRun's, else a user message's), in the order of
// the step's calls, then the message that ends the run, each stamped now.
func (m *Memory) closeLocked(agentID string, a *memAgent, cancelled bool) {
	p := a.paused
	a.paused = nil
	left := make([]Pending, 0, len(p.pending))
	for _, pc := range p.pending {
		left = append(left, pc)
	}
	slices.SortFunc(left, func(x, y Pending) int { return x.Call.Order - y.Call.Order })
	now := timestamppb.New(m.cfg.Now())
	for _, pc := range left {
		ev := pc.MovedOn
		if cancelled {
			ev = pc.Cancelled
		}
		if ev != nil {
			m.appendLocked(agentID, a, stamped(ev, now))
		}
	}
	if p.closing != nil {
		m.appendLocked(agentID, a, stamped(p.closing, now))
	}
}

// stamped is ev with create_time now.
func stamped(ev *agentv1.AgentEvent, now *timestamppb.Timestamp) *agentv1.AgentEvent {
	c := cloneEvent(ev)
	c.CreateTime = now
	return c
}

// closePausedLocked is CancelRun of a paused run: it is closed, if it is
// runID (or runID is empty).
func (m *Memory) closePausedLocked(agentID, runID string) (string, error) {
	a, ok := m.agents[agentID]
	if !ok || a.paused == nil || (runID != "" && a.paused.runID != runID) {
		return "", ErrNoRun
	}
	id := a.paused.runID
	m.closeLocked(agentID, a, true)
	return id, nil
}

// PendingCall implements Runs.
func (m *Memory) PendingCall(ctx context.Context, agentID, key string) (PendingCall, bool, error) {
	if err := m.enter(ctx); err != nil {
		return PendingCall{}, false, err
	}
	defer m.mu.Unlock()
	a, ok := m.agents[agentID]
	if !ok || a.paused == nil {
		return PendingCall{}, false, nil
	}
	pc, ok := a.paused.pending[key]
	return pc.Call, ok, nil
}

// AnswerCall implements Runs.
func (m *Memory) AnswerCall(ctx context.Context, agentID string, ans Answer) (Answered, error) {
	if err := m.enter(ctx); err != nil {
		return Answered{}, err
	}
	defer m.mu.Unlock()
	a, ok := m.agents[agentID]
	if !ok || a.paused == nil {
		return Answered{}, ErrNotPending
	}
	pc, ok := a.paused.pending[ans.Key]
	switch {
	case !ok:
		return Answered{}, ErrNotPending
	case pc.Call.Kind != ans.Kind && pc.Call.Kind == PendingResult:
		return Answered{}, ErrAwaitsResult
	case pc.Call.Kind != ans.Kind:
		return Answered{}, ErrAwaitsDecision
	case ans.ApprovalID != "" && ans.ApprovalID != pc.Call.ApprovalID:
		return Answered{}, ErrApprovalMismatch
	}
	var res Answered
	for _, ev := range ans.Events {
		res.Events = append(res.Events, m.appendLocked(agentID, a, ev))
	}
	delete(a.paused.pending, ans.Key)
	if len(a.paused.pending) > 0 {
		return res, nil
	}
	a.resume = a.paused.seq
	a.paused = nil
	res.Resumed = true
	if a.dueSince.IsZero() {
		a.dueSince = m.cfg.Now()
	}
	if c := ans.Claim; c.TTL > 0 {
		if lease, ok := m.acquireLocked(agentID, c.TTL); ok {
			res.Work = &Work{Lease: lease, Page: m.workLocked(a, c)}
		}
	}
	return res, nil
}
