package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
)

// ErrStarting: the engine is not connected yet (Starting). It comes
// wrapped with ErrUnavailable, so callers that handle an outage handle it.
var ErrStarting = errors.New("engine: starting")

// Starting is an Engine that is still being connected: until Connected is
// called with the real engine, every method fails with ErrUnavailable
// (and ErrStarting), without waiting. It lets the server listen at once,
// answer its liveness probe, report "starting" on readiness and refuse
// work with unavailable while, say, Redis is not reachable yet, instead of
// not listening at all: a Kubernetes liveness probe would restart such a
// pod in a loop, and a platform's healthcheck could not tell starting from
// broken.
//
// It is safe for concurrent use. Once connected it forwards every call,
// at the cost of one atomic load.
type Starting struct {
	e atomic.Pointer[Engine]

	mu     sync.Mutex
	cause  error // the last reason the connection failed; guarded by mu
	closed bool  // guarded by mu
}

var _ Engine = (*Starting)(nil)

// NewStarting returns a Starting engine, not connected.
func NewStarting() *Starting { return &Starting{} }

// Connected hands over the real engine: from now on every call goes to
// it. If s was closed meanwhile, e is closed instead, and Connected
// reports false.
func (s *Starting) Connected(e Engine) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		_ = e.Close()
		return false
	}
	s.e.Store(&e)
	return true
}

// Failed records why the latest attempt to connect failed, for Ping.
func (s *Starting) Failed(cause error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cause = cause
}

func (s *Starting) engine() Engine {
	if p := s.e.Load(); p != nil {
		return *p
	}
	return nil
}

// err is what a call fails with before the engine is connected.
func (s *Starting) err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	switch {
	case errors.Is(s.cause, ErrUnavailable):
		return fmt.Errorf("%w: %w", ErrStarting, s.cause)
	case s.cause != nil:
		return fmt.Errorf("%w: %w: %w", ErrUnavailable, ErrStarting, s.cause)
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, ErrStarting)
}

// AppendUser implements Log.
func (s *Starting) AppendUser(ctx context.Context, agentID string, ev *agentv1.AgentEvent, opts AppendOptions) (Appended, error) {
	if e := s.engine(); e != nil {
		return e.AppendUser(ctx, agentID, ev, opts)
	}
	return Appended{}, s.err()
}

// AppendReply implements Log.
func (s *Starting) AppendReply(ctx context.Context, agentID string, ev *agentv1.AgentEvent, answers uint64, lease Lease, next Claim) (Appended, error) {
	if e := s.engine(); e != nil {
		return e.AppendReply(ctx, agentID, ev, answers, lease, next)
	}
	return Appended{}, s.err()
}

// AppendRun implements Log.
func (s *Starting) AppendRun(ctx context.Context, agentID string, evs []*agentv1.AgentEvent, opts RunAppend) (RunAppended, error) {
	if e := s.engine(); e != nil {
		return e.AppendRun(ctx, agentID, evs, opts)
	}
	return RunAppended{}, s.err()
}

// PendingCall implements Runs.
func (s *Starting) PendingCall(ctx context.Context, agentID, key string) (PendingCall, bool, error) {
	if e := s.engine(); e != nil {
		return e.PendingCall(ctx, agentID, key)
	}
	return PendingCall{}, false, s.err()
}

// AnswerCall implements Runs.
func (s *Starting) AnswerCall(ctx context.Context, agentID string, a Answer) (Answered, error) {
	if e := s.engine(); e != nil {
		return e.AnswerCall(ctx, agentID, a)
	}
	return Answered{}, s.err()
}

// PublishRun implements Runs.
func (s *Starting) PublishRun(ctx context.Context, lease Lease, ev *agentv1.AgentEvent) error {
	if e := s.engine(); e != nil {
		return e.PublishRun(ctx, lease, ev)
	}
	return s.err()
}

// Run implements Runs.
func (s *Starting) Run(ctx context.Context, agentID string) ([]*agentv1.AgentEvent, error) {
	if e := s.engine(); e != nil {
		return e.Run(ctx, agentID)
	}
	return nil, s.err()
}

// CancelRun implements Runs.
func (s *Starting) CancelRun(ctx context.Context, agentID, runID string) (string, error) {
	if e := s.engine(); e != nil {
		return e.CancelRun(ctx, agentID, runID)
	}
	return "", s.err()
}

// Read implements Log.
func (s *Starting) Read(ctx context.Context, agentID string, after uint64, limit int) (Page, error) {
	if e := s.engine(); e != nil {
		return e.Read(ctx, agentID, after, limit)
	}
	return Page{}, s.err()
}

// Subscribe implements Broker.
func (s *Starting) Subscribe(ctx context.Context, agentID string, opts SubscribeOptions) (Subscription, error) {
	if e := s.engine(); e != nil {
		return e.Subscribe(ctx, agentID, opts)
	}
	return nil, s.err()
}

// SubscribeCancels implements Broker.
func (s *Starting) SubscribeCancels(ctx context.Context, agentID string, onCancel func(runID string)) (Subscription, error) {
	if e := s.engine(); e != nil {
		return e.SubscribeCancels(ctx, agentID, onCancel)
	}
	return nil, s.err()
}

// Stat implements Log.
func (s *Starting) Stat(ctx context.Context, agentID string) (Stat, error) {
	if e := s.engine(); e != nil {
		return e.Stat(ctx, agentID)
	}
	return Stat{}, s.err()
}

// List implements Log.
func (s *Starting) List(ctx context.Context, after string, limit int) ([]Stat, error) {
	if e := s.engine(); e != nil {
		return e.List(ctx, after, limit)
	}
	return nil, s.err()
}

// Delete implements Log.
func (s *Starting) Delete(ctx context.Context, agentID string) error {
	if e := s.engine(); e != nil {
		return e.Delete(ctx, agentID)
	}
	return s.err()
}

// AcquireLease implements Leases.
func (s *Starting) AcquireLease(ctx context.Context, agentID string, ttl time.Duration) (Lease, bool, error) {
	if e := s.engine(); e != nil {
		return e.AcquireLease(ctx, agentID, ttl)
	}
	return Lease{}, false, s.err()
}

// RenewLease implements Leases.
func (s *Starting) RenewLease(ctx context.Context, lease Lease, ttl time.Duration) error {
	if e := s.engine(); e != nil {
		return e.RenewLease(ctx, lease, ttl)
	}
	return s.err()
}

// ReleaseLease implements Leases.
func (s *Starting) ReleaseLease(ctx context.Context, lease Lease) error {
	if e := s.engine(); e != nil {
		return e.ReleaseLease(ctx, lease)
	}
	return s.err()
}

// Settle implements Leases.
func (s *Starting) Settle(ctx context.Context, lease Lease, seen uint64, next Claim) (*Work, error) {
	if e := s.engine(); e != nil {
		return e.Settle(ctx, lease, seen, next)
	}
	return nil, s.err()
}

// Due implements Leases.
func (s *Starting) Due(ctx context.Context, limit int) ([]string, error) {
	if e := s.engine(); e != nil {
		return e.Due(ctx, limit)
	}
	return nil, s.err()
}

// Ping implements Store.
func (s *Starting) Ping(ctx context.Context) error {
	if e := s.engine(); e != nil {
		return e.Ping(ctx)
	}
	return s.err()
}

// Close implements Store: it closes the real engine if connected, and
// makes a later Connected close the one it is handed.
func (s *Starting) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	if e := s.engine(); e != nil {
		return e.Close()
	}
	return nil
}
