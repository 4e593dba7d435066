package engine

import (
	"context"
	"strings"

	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
)

// The memory engine's Runs.

// PublishRun implements Runs.
func (m *Memory) PublishRun(ctx context.Context, lease Lease, ev *agentv1.AgentEvent) error {
	if err := m.enter(ctx); err != nil {
		return err
	}
	defer m.mu.Unlock()
	if a, ok := m.agents[lease.AgentID]; ok {
		switch {
		case BeginsStep(ev) && m.leaseHeldLocked(lease):
			a.run = &memRun{id: RunID(ev), started: ev}
		case !BeginsStep(ev) && a.run != nil && a.run.id == RunID(ev):
			a.run.add(ev)
		}
	}
	m.fanOutLocked(lease.AgentID, ev)
	return nil
}

// Run implements Runs.
func (m *Memory) Run(ctx context.Context, agentID string) ([]*agentv1.AgentEvent, error) {
	if err := m.enter(ctx); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	if r := m.runLocked(agentID); r != nil {
		return r.events(), nil
	}
	return nil, nil
}

// runLocked is the active run's progress, or nil. A run outlives its writer
// only as long as the lease it was written under.
func (m *Memory) runLocked(agentID string) *memRun {
	a, ok := m.agents[agentID]
	if !ok || a.run == nil {
		return nil
	}
	if !m.heldLocked(agentID) {
		a.run = nil
		return nil
	}
	return a.run
}

// CancelRun implements Runs.
func (m *Memory) CancelRun(ctx context.Context, agentID, runID string) (string, error) {
	if err := m.enter(ctx); err != nil {
		return "", err
	}
	defer m.mu.Unlock()
	run := m.runLocked(agentID)
	if run == nil {
		return m.closePausedLocked(agentID, runID)
	}
	if runID != "" && run.id != runID {
		return "", ErrNoRun
	}
	if l := m.subs[agentID]; l != nil {
		l.cancel(run.id)
	}
	return run.id, nil
}

// memRun is the memory engine's progress of one run, folded as Runs.Run
// returns it: the run_started, the text so far in one builder, and the
// tool call events in order, with each call's arguments in one builder. A
// delta costs its bytes and no event of its own, so a reply streamed in a
// million one-character deltas takes a MiB here, not a million events.
type memRun struct {
	id      string
	started *agentv1.AgentEvent
	text    strings.Builder
	textEv  *agentv1.AgentEvent   // the newest text delta folded in, nil before the first
	tools   []*agentv1.AgentEvent // tool call events; nil where folded arguments go
	args    []*memArgs            // the folded arguments, in the order of their calls
	argsOf  map[string]*memArgs   // the same, by tool call id; nil until the first
}

// memArgs is one tool call's arguments folded: their place in tools, the
// text so far and the newest delta folded in.
type memArgs struct {
	at   int
	text strings.Builder
	ev   *agentv1.AgentEvent
}

// add folds ev, an event of the run after its run_started, into r.
func (r *memRun) add(ev *agentv1.AgentEvent) {
	switch k := ev.GetKind().(type) {
	case *agentv1.AgentEvent_TextDelta:
		r.text.WriteString(k.TextDelta.GetDelta())
		r.textEv = ev
	case *agentv1.AgentEvent_ToolCallArgs:
		a := r.callArgs(k.ToolCallArgs.GetToolCallId())
		a.text.WriteString(k.ToolCallArgs.GetDelta())
		a.ev = ev
	default:
		r.tools = append(r.tools, ev)
	}
}

// callArgs returns the folded arguments of the tool call id, making room
// for them after the run's tool call events so far.
func (r *memRun) callArgs(id string) *memArgs {
	if a := r.argsOf[id]; a != nil {
		return a
	}
	if r.argsOf == nil {
		r.argsOf = make(map[string]*memArgs)
	}
	a := &memArgs{at: len(r.tools)}
	r.argsOf[id] = a
	r.args = append(r.args, a)
	r.tools = append(r.tools, nil)
	return a
}

// events is the run as Runs.Run returns it.
func (r *memRun) events() []*agentv1.AgentEvent {
	out := make([]*agentv1.AgentEvent, 0, 2+len(r.tools))
	out = append(out, r.started)
	if r.textEv != nil {
		d := r.textEv.GetTextDelta()
		ev := folded(r.textEv)
		ev.Kind = &agentv1.AgentEvent_TextDelta{TextDelta: &agentv1.TextDelta{
			RunId: d.GetRunId(), MessageId: d.GetMessageId(), Delta: r.text.String(),
		}}
		out = append(out, ev)
	}
	tools := len(out)
	out = append(out, r.tools...)
	for _, a := range r.args {
		d := a.ev.GetToolCallArgs()
		ev := folded(a.ev)
		ev.Kind = &agentv1.AgentEvent_ToolCallArgs{ToolCallArgs: &agentv1.ToolCallArgs{
			RunId: d.GetRunId(), ToolCallId: d.GetToolCallId(), Delta: a.text.String(),
		}}
		out[tools+a.at] = ev
	}
	return out
}

// folded starts the event that stands for the deltas up to last: last's
// own fields; the caller sets the kind.
func folded(last *agentv1.AgentEvent) *agentv1.AgentEvent {
	return &agentv1.AgentEvent{AgentId: last.GetAgentId(), CreateTime: last.GetCreateTime(), Epoch: last.GetEpoch(), RunSeq: last.GetRunSeq()}
}
