package engine

import (
	"context"
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
// send per subscriber. Its parts are in memory_log.go, memory_leases.go,
// memory_run.go and memory_calls.go (paused runs); the subscriptions below.
type Memory struct {
	cfg Config

	mu     sync.Mutex
	agents map[string]*memAgent
	subs   map[string]*localSubs[*memSub]
	leases map[string]memLease
	closed bool
}

type memAgent struct {
	epoch    string
	events   []*agentv1.AgentEvent // the retained log; events[i].Seq == first+i
	run      *memRun               // the active run's progress, or nil (see Runs.Run)
	first    uint64
	last     uint64
	answered uint64
	// user is the seq of the newest user message: messages wait for a
	// reply while it is greater than answered.
	user uint64
	// dueSince is when the agent's waiting work began, zero when none
	// waits (see Leases.Due).
	dueSince time.Time
	// resume is the seq of the message whose run goes on, 0 if none;
	// paused is that of the paused run, with what it waits for (see
	// memory_calls.go).
	resume     uint64
	paused     *memPaused
	idem       map[string]*agentv1.AgentEvent
	created    time.Time
	lastActive time.Time
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

// Subscribe implements Broker.
func (m *Memory) Subscribe(ctx context.Context, agentID string, opts SubscribeOptions) (Subscription, error) {
	if err := m.enter(ctx); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	s := &memSub{localSub: localSub{Queue: NewQueue(m.cfg.SubscriberBuffer, opts), internal: opts.Internal}, m: m, agentID: agentID}
	m.localLocked(agentID).add(s)
	return s, nil
}

// SubscribeCancels implements Broker.
func (m *Memory) SubscribeCancels(ctx context.Context, agentID string, onCancel func(runID string)) (Subscription, error) {
	if err := m.enter(ctx); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	s := &memSub{localSub: localSub{Queue: NewQueue(1, SubscribeOptions{}), internal: true}, m: m, agentID: agentID}
	m.localLocked(agentID).addCanceller(s, onCancel)
	return s, nil
}

// localLocked is the agent's local subscriptions, made on first use.
func (m *Memory) localLocked(agentID string) *localSubs[*memSub] {
	l := m.subs[agentID]
	if l == nil {
		l = newLocalSubs[*memSub]()
		m.subs[agentID] = l
	}
	return l
}

// Ping implements Store: memory is always reachable until closed.
func (m *Memory) Ping(context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	return nil
}

// Close implements Store.
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

func (m *Memory) fanOutLocked(agentID string, ev *agentv1.AgentEvent) {
	if l := m.subs[agentID]; l != nil {
		l.deliver(ev)
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
