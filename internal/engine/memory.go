package engine

import (
	"context"
	"crypto/rand"
	"sort"
	"sync"
	"time"

	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
)

var _ Engine = (*Memory)(nil)

// Memory is the embedded engine: every log lives in this process, so it
// serves one replica only. It is the default when no REDIS_URL is set.
//
// One mutex guards all state. Appends and fan-out (each agent's localSubs)
// happen under it, which is what makes delivery order equal seq order; the
// work done under the lock is a slice append and a non-blocking channel
// send per subscriber.
type Memory struct {
	cfg Config

	mu     sync.Mutex
	agents map[string]*memAgent
	subs   map[string]*localSubs[*memSub]
	leases map[string]memLease
	closed bool
}

type memAgent struct {
	epoch      string
	events     []*agentv1.AgentEvent // the retained log; events[i].Seq == first+i
	run        *memRun               // the active run's progress, or nil (see Engine.Run)
	first      uint64
	last       uint64
	answered   uint64
	idem       map[string]*agentv1.AgentEvent
	created    time.Time
	lastActive time.Time
}

type memLease struct {
	token   string
	expires time.Time
}

// NewMemory returns an empty in-memory engine.
func NewMemory(cfg Config) *Memory {
	return &Memory{
		cfg:    cfg.WithDefaults(),
		agents: make(map[string]*memAgent),
		subs:   make(map[string]*localSubs[*memSub]),
		leases: make(map[string]memLease),
	}
}

// AppendUser implements Engine.
func (m *Memory) AppendUser(ctx context.Context, agentID string, ev *agentv1.AgentEvent, idemKey string) (*agentv1.AgentEvent, bool, error) {
	if err := m.enter(ctx); err != nil {
		return nil, false, err
	}
	defer m.mu.Unlock()
	a := m.agentLocked(agentID)
	if idemKey != "" {
		if prev, ok := a.idem[idemKey]; ok {
			return prev, true, nil
		}
	}
	stored := m.appendLocked(agentID, a, ev)
	if idemKey != "" {
		a.idem[idemKey] = stored
	}
	return stored, false, nil
}

// AppendReply implements Engine.
func (m *Memory) AppendReply(ctx context.Context, agentID string, ev *agentv1.AgentEvent, answers uint64, lease Lease) (*agentv1.AgentEvent, error) {
	if err := m.enter(ctx); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	if !m.leaseHeldLocked(lease) {
		return nil, ErrLeaseLost
	}
	a, ok := m.agents[agentID]
	if !ok {
		return nil, ErrNotFound
	}
	if answers <= a.answered {
		return nil, ErrAlreadyAnswered
	}
	a.run = nil // the reply ends the run
	stored := m.appendLocked(agentID, a, ev)
	a.answered = answers
	return stored, nil
}

// PublishRun implements Engine.
func (m *Memory) PublishRun(ctx context.Context, lease Lease, ev *agentv1.AgentEvent) error {
	if err := m.enter(ctx); err != nil {
		return err
	}
	defer m.mu.Unlock()
	if a, ok := m.agents[lease.AgentID]; ok {
		switch {
		case ev.GetRunStarted() != nil && m.leaseHeldLocked(lease):
			a.run = &memRun{id: RunID(ev), started: ev}
		case ev.GetRunStarted() == nil && a.run != nil && a.run.id == RunID(ev):
			a.run.add(ev)
		}
	}
	m.fanOutLocked(lease.AgentID, ev)
	return nil
}

// Run implements Engine.
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
	if l, ok := m.leases[agentID]; !ok || !m.cfg.Now().Before(l.expires) {
		a.run = nil
		return nil
	}
	return a.run
}

// CancelRun implements Engine.
func (m *Memory) CancelRun(ctx context.Context, agentID, runID string) (string, error) {
	if err := m.enter(ctx); err != nil {
		return "", err
	}
	defer m.mu.Unlock()
	run := m.runLocked(agentID)
	if run == nil || (runID != "" && run.id != runID) {
		return "", ErrNoRun
	}
	if l := m.subs[agentID]; l != nil {
		l.cancel(run.id)
	}
	return run.id, nil
}

// Read implements Engine.
func (m *Memory) Read(ctx context.Context, agentID string, after uint64, limit int) (Page, error) {
	if err := m.enter(ctx); err != nil {
		return Page{}, err
	}
	defer m.mu.Unlock()
	a, ok := m.agents[agentID]
	if !ok {
		return Page{}, nil
	}
	p := Page{FirstSeq: a.first, LastSeq: a.last, Answered: a.answered, Epoch: a.epoch}
	if len(a.events) == 0 || after >= a.last || limit <= 0 {
		return p, nil
	}
	start := 0
	if after >= a.first {
		start = int(after - a.first + 1)
	}
	end := start + min(limit, len(a.events)-start)
	p.Events = append([]*agentv1.AgentEvent(nil), a.events[start:end]...)
	return p, nil
}

// Subscribe implements Engine.
func (m *Memory) Subscribe(ctx context.Context, agentID string, opts SubscribeOptions) (Subscription, error) {
	return m.subscribe(ctx, agentID, opts, nil)
}

// SubscribeCancels implements Engine.
func (m *Memory) SubscribeCancels(ctx context.Context, agentID string, onCancel func(runID string)) (Subscription, error) {
	return m.subscribe(ctx, agentID, SubscribeOptions{Internal: true}, onCancel)
}

// subscribe registers a subscription: one that hears cancels only if
// onCancel is set.
func (m *Memory) subscribe(ctx context.Context, agentID string, opts SubscribeOptions, onCancel func(runID string)) (Subscription, error) {
	if err := m.enter(ctx); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	s := &memSub{localSub: localSub{Queue: NewQueue(m.cfg.SubscriberBuffer, opts), internal: opts.Internal, onCancel: onCancel}, m: m, agentID: agentID}
	l := m.subs[agentID]
	if l == nil {
		l = newLocalSubs[*memSub]()
		m.subs[agentID] = l
	}
	l.add(s)
	return s, nil
}

// Stat implements Engine.
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

// List implements Engine.
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

// Delete implements Engine.
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

// AcquireLease implements Engine.
func (m *Memory) AcquireLease(ctx context.Context, agentID string, ttl time.Duration) (Lease, bool, error) {
	if err := m.enter(ctx); err != nil {
		return Lease{}, false, err
	}
	defer m.mu.Unlock()
	now := m.cfg.Now()
	if l, ok := m.leases[agentID]; ok && now.Before(l.expires) {
		return Lease{}, false, nil
	}
	l := memLease{token: rand.Text(), expires: now.Add(ttl)}
	m.leases[agentID] = l
	return Lease{AgentID: agentID, Token: l.token}, true, nil
}

// RenewLease implements Engine.
func (m *Memory) RenewLease(ctx context.Context, lease Lease, ttl time.Duration) error {
	if err := m.enter(ctx); err != nil {
		return err
	}
	defer m.mu.Unlock()
	if !m.leaseHeldLocked(lease) {
		return ErrLeaseLost
	}
	m.leases[lease.AgentID] = memLease{token: lease.Token, expires: m.cfg.Now().Add(ttl)}
	return nil
}

// ReleaseLease implements Engine.
func (m *Memory) ReleaseLease(ctx context.Context, lease Lease) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if l, ok := m.leases[lease.AgentID]; ok && l.token == lease.Token {
		delete(m.leases, lease.AgentID)
	}
	return nil
}

// Ping implements Engine: memory is always reachable until closed.
func (m *Memory) Ping(context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	return nil
}

// Close implements Engine.
func (m *Memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil
	}
	m.closed = true
	for _, l := range m.subs {
		l.endAll(ErrClosed)
	}
	return nil
}

// enter locks m for an operation, unless ctx is done or m is closed.
func (m *Memory) enter(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return ErrClosed
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

func (m *Memory) fanOutLocked(agentID string, ev *agentv1.AgentEvent) {
	if l := m.subs[agentID]; l != nil {
		l.deliver(ev)
	}
}

func (m *Memory) leaseHeldLocked(lease Lease) bool {
	l, ok := m.leases[lease.AgentID]
	return ok && l.token == lease.Token && m.cfg.Now().Before(l.expires)
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

// memSub is a Subscription of the memory engine: a queue registered in
// m.subs (guarded by m.mu).
type memSub struct {
	localSub
	m       *Memory
	agentID string
}

// Close implements Subscription.
func (s *memSub) Close() {
	s.m.mu.Lock()
	defer s.m.mu.Unlock()
	s.endLocked(nil)
}

// endLocked ends the queue, recording why, and unregisters it. The queue
// may have ended itself already (overflow).
func (s *memSub) endLocked(err error) {
	s.End(err)
	if l := s.m.subs[s.agentID]; l != nil {
		l.remove(s)
		if l.len() == 0 {
			delete(s.m.subs, s.agentID)
		}
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
