package engine

import (
	"context"
	"sort"

	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
)

// The memory engine's Log.

// AppendUser implements Log.
func (m *Memory) AppendUser(ctx context.Context, agentID string, ev *agentv1.AgentEvent, opts AppendOptions) (Appended, error) {
	if err := m.enter(ctx); err != nil {
		return Appended{}, err
	}
	defer m.mu.Unlock()
	a := m.agentLocked(agentID)
	key := opts.IdempotencyKey
	if key != "" {
		if prev, ok := a.idem[key]; ok {
			return Appended{Event: prev, Duplicate: true}, nil
		}
	}
	if a.paused != nil {
		m.closeLocked(agentID, a, false)
	}
	first := a.user <= a.answered && a.resume == 0 // no message waits before this one
	stored := m.appendLocked(agentID, a, ev)
	a.user = stored.Seq
	if a.dueSince.IsZero() {
		a.dueSince = m.cfg.Now()
	}
	if key != "" {
		a.idem[key] = stored
	}
	res := Appended{Event: stored}
	if c := opts.Claim; c.TTL > 0 {
		if lease, ok := m.acquireLocked(agentID, c.TTL); ok {
			res.Work = &Work{Lease: lease, Page: m.workLocked(a, c)}
			if opts.Begin.GetRunStarted() != nil && first {
				res.Work.Begun = begun(opts.Begin, stored)
				a.run = &memRun{id: RunID(res.Work.Begun), started: res.Work.Begun}
				m.fanOutLocked(agentID, res.Work.Begun)
			}
		}
	}
	return res, nil
}

// begun is the run_started an append began the run of msg with
// (AppendOptions.Begin, a run_started): begin, answering msg, in msg's
// log. begin is not modified.
func begun(begin, msg *agentv1.AgentEvent) *agentv1.AgentEvent {
	rs := begin.GetRunStarted()
	ev := cloneEvent(begin)
	ev.Seq, ev.AgentId, ev.Epoch = 0, msg.GetAgentId(), msg.GetEpoch()
	ev.Kind = &agentv1.AgentEvent_RunStarted{RunStarted: &agentv1.RunStarted{
		RunId: rs.GetRunId(), MessageId: rs.GetMessageId(), ReplyToSeq: msg.GetSeq()}}
	return ev
}

// AppendReply implements Log.
func (m *Memory) AppendReply(ctx context.Context, agentID string, ev *agentv1.AgentEvent, answers uint64, lease Lease, next Claim) (Appended, error) {
	res, err := m.AppendRun(ctx, agentID, []*agentv1.AgentEvent{ev}, RunAppend{Lease: lease, Answers: answers, End: RunEnds, Next: next})
	if err != nil {
		return Appended{}, err
	}
	return Appended{Event: res.Events[0], Work: res.Work}, nil
}

// AppendRun implements Log.
func (m *Memory) AppendRun(ctx context.Context, agentID string, evs []*agentv1.AgentEvent, opts RunAppend) (RunAppended, error) {
	if err := m.enter(ctx); err != nil {
		return RunAppended{}, err
	}
	defer m.mu.Unlock()
	if !m.leaseHeldLocked(opts.Lease) {
		return RunAppended{}, ErrLeaseLost
	}
	a, ok := m.agents[agentID]
	if !ok {
		return RunAppended{}, ErrNotFound
	}
	s := opts.Answers
	if s <= a.answered && (a.resume == 0 || s != a.resume) {
		return RunAppended{}, ErrAlreadyAnswered
	}
	a.run = nil // the run's progress is written, or over
	var res RunAppended
	for _, ev := range evs {
		res.Events = append(res.Events, m.appendLocked(agentID, a, ev))
	}
	if opts.End == RunGoesOn {
		return res, nil
	}
	a.answered = max(a.answered, s)
	if a.resume == s {
		a.resume = 0
	}
	if opts.End == RunPauses {
		a.paused = newMemPaused(s, opts)
		if a.user > s {
			m.closeLocked(agentID, a, false)
			res.Closed = true
		}
	}
	if opts.Next.TTL > 0 {
		res.Work = m.settleLocked(a, opts.Lease, s, opts.Next)
	}
	return res, nil
}

// Read implements Log.
func (m *Memory) Read(ctx context.Context, agentID string, after uint64, limit int) (Page, error) {
	if err := m.enter(ctx); err != nil {
		return Page{}, err
	}
	defer m.mu.Unlock()
	a, ok := m.agents[agentID]
	if !ok {
		return Page{}, nil
	}
	return a.read(after, limit), nil
}

// read is the page of a's log after seq after, at most limit events.
func (a *memAgent) read(after uint64, limit int) Page {
	p := Page{FirstSeq: a.first, LastSeq: a.last, Answered: a.answered, Resume: a.resume, Epoch: a.epoch}
	if len(a.events) == 0 || after >= a.last || limit <= 0 {
		return p
	}
	start := 0
	if after >= a.first {
		start = int(after - a.first + 1)
	}
	end := start + min(limit, len(a.events)-start)
	p.Events = append([]*agentv1.AgentEvent(nil), a.events[start:end]...)
	return p
}

// Stat implements Log.
func (m *Memory) Stat(ctx context.Context, agentID string) (Stat, error) {
	if err := m.enter(ctx); err != nil {
		return Stat{}, err
	}
	defer m.mu.Unlock()
	a, ok := m.agents[agentID]
	if !ok {
		return Stat{}, ErrNotFound
	}
	return m.statLocked(agentID, a), nil
}

// List implements Log.
func (m *Memory) List(ctx context.Context, after string, limit int) ([]Stat, error) {
	if err := m.enter(ctx); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	ids := make([]string, 0, len(m.agents))
	for id := range m.agents {
		if id > after {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	if len(ids) > limit {
		ids = ids[:max(limit, 0)]
	}
	out := make([]Stat, 0, len(ids))
	for _, id := range ids {
		out = append(out, m.statLocked(id, m.agents[id]))
	}
	return out, nil
}

// Delete implements Log.
func (m *Memory) Delete(ctx context.Context, agentID string) error {
	if err := m.enter(ctx); err != nil {
		return err
	}
	defer m.mu.Unlock()
	if _, ok := m.agents[agentID]; !ok {
		return ErrNotFound
	}
	delete(m.agents, agentID)
	delete(m.leases, agentID)
	if l := m.subs[agentID]; l != nil {
		l.endAll(ErrDeleted)
	}
	return nil
}

func (m *Memory) agentLocked(agentID string) *memAgent {
	a, ok := m.agents[agentID]
	if !ok {
		now := m.cfg.Now()
		a = &memAgent{epoch: NewEpoch(), idem: make(map[string]*agentv1.AgentEvent), created: now, lastActive: now}
		m.agents[agentID] = a
	}
	return a
}

// appendLocked stamps ev with the next seq, stores it, trims the log and
// delivers it. ev is cloned so the caller's value stays untouched.
func (m *Memory) appendLocked(agentID string, a *memAgent, ev *agentv1.AgentEvent) *agentv1.AgentEvent {
	stored := cloneEvent(ev)
	a.last++
	stored.Seq = a.last
	stored.AgentId = agentID
	stored.Epoch = a.epoch
	if len(a.events) == 0 {
		a.first = stored.Seq
	}
	a.events = append(a.events, stored)
	if over := len(a.events) - m.cfg.HistoryLimit; over > 0 {
		clear(a.events[:over]) // let the trimmed events be collected
		a.events = a.events[over:]
		a.first = a.events[0].Seq
	}
	a.lastActive = m.cfg.Now()
	m.fanOutLocked(agentID, stored)
	return stored
}

func (m *Memory) statLocked(agentID string, a *memAgent) Stat {
	var n int64
	if l := m.subs[agentID]; l != nil {
		n = l.clients()
	}
	return Stat{
		AgentID:     agentID,
		FirstSeq:    a.first,
		LastSeq:     a.last,
		Answered:    a.answered,
		Subscribers: n,
		Created:     a.created,
		LastActive:  a.lastActive,
		Epoch:       a.epoch,
	}
}

// cloneEvent copies ev's own fields, so that the engine can set the seq and
// agent id of what it stores without touching the caller's event. The kind
// and the timestamp are shared, not copied: events are not changed once
// made, and a deep proto.Clone (reflection, and a stack that grows for it)
// was a tenth of the CPU of a SendMessage. TestCloneEventKeepsEveryField
// fails if AgentEvent gains a field that this misses.
func cloneEvent(ev *agentv1.AgentEvent) *agentv1.AgentEvent {
	c := &agentv1.AgentEvent{Seq: ev.Seq, AgentId: ev.AgentId, CreateTime: ev.CreateTime, Epoch: ev.Epoch, RunSeq: ev.RunSeq, Kind: ev.Kind}
	if u := ev.ProtoReflect().GetUnknown(); len(u) > 0 {
		c.ProtoReflect().SetUnknown(u)
	}
	return c
}
