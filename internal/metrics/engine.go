package metrics

import (
	"context"
	"errors"
	"time"

	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/agentgate/agentgate/internal/engine"
)

// Engine wraps an engine.Engine to count the events written and the
// operations that failed. Everything else passes through.
func (m *Metrics) Engine(e engine.Engine) engine.Engine { return &countingEngine{Engine: e, m: m} }

type countingEngine struct {
	engine.Engine
	m *Metrics
}

func (c *countingEngine) fail(op string, err error) error {
	if err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
		c.m.EngineErrors.WithLabelValues(op).Inc()
	}
	return err
}

func (c *countingEngine) AppendUser(ctx context.Context, agentID string, ev *agentv1.AgentEvent, key string) (*agentv1.AgentEvent, bool, error) {
	stored, dup, err := c.Engine.AppendUser(ctx, agentID, ev, key)
	if err == nil && !dup {
		c.m.Events.WithLabelValues("user").Inc()
	}
	return stored, dup, c.fail("append_user", err)
}

func (c *countingEngine) AppendReply(ctx context.Context, agentID string, ev *agentv1.AgentEvent, answers uint64, lease engine.Lease) (*agentv1.AgentEvent, error) {
	stored, err := c.Engine.AppendReply(ctx, agentID, ev, answers, lease)
	if err == nil {
		c.m.Events.WithLabelValues("reply").Inc()
	}
	return stored, c.fail("append_reply", err)
}

func (c *countingEngine) Read(ctx context.Context, agentID string, after uint64, limit int) (engine.Page, error) {
	p, err := c.Engine.Read(ctx, agentID, after, limit)
	return p, c.fail("read", err)
}

func (c *countingEngine) Subscribe(ctx context.Context, agentID string, opts engine.SubscribeOptions) (engine.Subscription, error) {
	s, err := c.Engine.Subscribe(ctx, agentID, opts)
	return s, c.fail("subscribe", err)
}

func (c *countingEngine) SubscribeCancels(ctx context.Context, agentID string, onCancel func(runID string)) (engine.Subscription, error) {
	s, err := c.Engine.SubscribeCancels(ctx, agentID, onCancel)
	return s, c.fail("subscribe", err)
}

func (c *countingEngine) AcquireLease(ctx context.Context, agentID string, ttl time.Duration) (engine.Lease, bool, error) {
	l, ok, err := c.Engine.AcquireLease(ctx, agentID, ttl)
	return l, ok, c.fail("lease", err)
}

func (c *countingEngine) Ping(ctx context.Context) error {
	return c.fail("ping", c.Engine.Ping(ctx))
}

func (c *countingEngine) PublishRun(ctx context.Context, lease engine.Lease, ev *agentv1.AgentEvent) error {
	err := c.Engine.PublishRun(ctx, lease, ev)
	if err == nil {
		c.m.Events.WithLabelValues("ephemeral").Inc()
	}
	return c.fail("publish", err)
}

func (c *countingEngine) Run(ctx context.Context, agentID string) ([]*agentv1.AgentEvent, error) {
	evs, err := c.Engine.Run(ctx, agentID)
	return evs, c.fail("run", err)
}

func (c *countingEngine) CancelRun(ctx context.Context, agentID, runID string) (string, error) {
	id, err := c.Engine.CancelRun(ctx, agentID, runID)
	if errors.Is(err, engine.ErrNoRun) {
		return id, err
	}
	return id, c.fail("cancel_run", err)
}
