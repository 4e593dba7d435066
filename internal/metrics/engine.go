package metrics

import (
	"context"
	"errors"
	"time"

	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/agentgate/agentgate/internal/engine"
)

// Engine wraps each part of e whose work is counted: the events the log
// and the runs write, by kind, and the operations of every part that
// failed, by operation. The rest of each part passes through.
func (m *Metrics) Engine(e engine.Engine) engine.Engine {
	return engine.Parts{
		Log:    countingLog{e, m},
		Leases: countingLeases{e, m},
		Runs:   countingRuns{e, m},
		Broker: countingBroker{e, m},
		Store:  countingStore{e, m},
	}
}

// fail counts err, unless it is nil or the caller's own cancellation.
func (m *Metrics) fail(op string, err error) error {
	if err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
		m.EngineErrors.WithLabelValues(op).Inc()
	}
	return err
}

// countingLog counts the user messages and replies appended, and the
// appends and reads that failed.
type countingLog struct {
	engine.Log
	m *Metrics
}

func (c countingLog) AppendUser(ctx context.Context, agentID string, ev *agentv1.AgentEvent, opts engine.AppendOptions) (engine.Appended, error) {
	res, err := c.Log.AppendUser(ctx, agentID, ev, opts)
	if err == nil && !res.Duplicate {
		c.m.Events.WithLabelValues("user").Inc()
	}
	return res, c.m.fail("append_user", err)
}

func (c countingLog) AppendReply(ctx context.Context, agentID string, ev *agentv1.AgentEvent, answers uint64, lease engine.Lease, next engine.Claim) (engine.Appended, error) {
	res, err := c.Log.AppendReply(ctx, agentID, ev, answers, lease, next)
	if err == nil {
		c.m.Events.WithLabelValues("reply").Inc()
	}
	return res, c.m.fail("append_reply", err)
}

func (c countingLog) AppendRun(ctx context.Context, agentID string, evs []*agentv1.AgentEvent, opts engine.RunAppend) (engine.RunAppended, error) {
	res, err := c.Log.AppendRun(ctx, agentID, evs, opts)
	if err == nil {
		c.m.countRun(res.Events)
	}
	return res, c.m.fail("append_run", err)
}

// countRun counts the persisted events of a run: its steps and run errors
// as replies, the tool call results and decisions as tool events.
func (m *Metrics) countRun(evs []*agentv1.AgentEvent) {
	for _, ev := range evs {
		kind := "reply"
		if ev.GetToolCallResult() != nil || ev.GetToolCallDecision() != nil {
			kind = "tool"
		}
		m.Events.WithLabelValues(kind).Inc()
	}
}

func (c countingLog) Read(ctx context.Context, agentID string, after uint64, limit int) (engine.Page, error) {
	p, err := c.Log.Read(ctx, agentID, after, limit)
	return p, c.m.fail("read", err)
}

// countingLeases counts the lease operations that failed (a lease lost is
// not a failure of the store).
type countingLeases struct {
	engine.Leases
	m *Metrics
}

func (c countingLeases) AcquireLease(ctx context.Context, agentID string, ttl time.Duration) (engine.Lease, bool, error) {
	l, ok, err := c.Leases.AcquireLease(ctx, agentID, ttl)
	return l, ok, c.m.fail("lease", err)
}

func (c countingLeases) Settle(ctx context.Context, lease engine.Lease, seen uint64, next engine.Claim) (*engine.Work, error) {
	w, err := c.Leases.Settle(ctx, lease, seen, next)
	if errors.Is(err, engine.ErrLeaseLost) {
		return w, err
	}
	return w, c.m.fail("lease", err)
}

func (c countingLeases) Due(ctx context.Context, limit int) ([]string, error) {
	ids, err := c.Leases.Due(ctx, limit)
	return ids, c.m.fail("due", err)
}

// countingRuns counts the ephemeral events published, and the run
// operations that failed.
type countingRuns struct {
	engine.Runs
	m *Metrics
}

func (c countingRuns) PublishRun(ctx context.Context, lease engine.Lease, ev *agentv1.AgentEvent) error {
	err := c.Runs.PublishRun(ctx, lease, ev)
	if err == nil {
		c.m.Events.WithLabelValues("ephemeral").Inc()
	}
	return c.m.fail("publish", err)
}

func (c countingRuns) Run(ctx context.Context, agentID string) ([]*agentv1.AgentEvent, error) {
	evs, err := c.Runs.Run(ctx, agentID)
	return evs, c.m.fail("run", err)
}

func (c countingRuns) AnswerCall(ctx context.Context, agentID string, a engine.Answer) (engine.Answered, error) {
	res, err := c.Runs.AnswerCall(ctx, agentID, a)
	if err == nil {
		c.m.countRun(res.Events)
	}
	switch {
	case errors.Is(err, engine.ErrNotPending), errors.Is(err, engine.ErrAwaitsResult),
		errors.Is(err, engine.ErrAwaitsDecision), errors.Is(err, engine.ErrApprovalMismatch):
		return res, err // refusals of the answer, not failures of the store
	}
	return res, c.m.fail("answer_call", err)
}

func (c countingRuns) CancelRun(ctx context.Context, agentID, runID string) (string, error) {
	id, err := c.Runs.CancelRun(ctx, agentID, runID)
	if errors.Is(err, engine.ErrNoRun) {
		return id, err
	}
	return id, c.m.fail("cancel_run", err)
}

// countingBroker counts the subscriptions that failed.
type countingBroker struct {
	engine.Broker
	m *Metrics
}

func (c countingBroker) Subscribe(ctx context.Context, agentID string, opts engine.SubscribeOptions) (engine.Subscription, error) {
	s, err := c.Broker.Subscribe(ctx, agentID, opts)
	return s, c.m.fail("subscribe", err)
}

func (c countingBroker) SubscribeCancels(ctx context.Context, agentID string, onCancel func(runID string)) (engine.Subscription, error) {
	s, err := c.Broker.SubscribeCancels(ctx, agentID, onCancel)
	return s, c.m.fail("subscribe", err)
}

// countingStore counts the pings that failed.
type countingStore struct {
	engine.Store
	m *Metrics
}

func (c countingStore) Ping(ctx context.Context) error {
	return c.m.fail("ping", c.Store.Ping(ctx))
}
