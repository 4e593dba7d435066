package engine_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/agentgate/agentgate/internal/engine"
	"github.com/agentgate/agentgate/internal/engine/enginetest"
)

// A Starting engine, once connected, is the engine it was handed: the
// contract suite holds through it.
func TestStartingConnected(t *testing.T) {
	enginetest.Run(t, func(t *testing.T, cfg engine.Config) engine.Engine {
		s := engine.NewStarting()
		if !s.Connected(engine.NewMemory(cfg)) {
			t.Fatal("Connected refused an open Starting")
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	})
}

// Before it is connected, every call fails at once with ErrUnavailable
// and ErrStarting, and Ping says why the last attempt failed.
func TestStartingRefusesUntilConnected(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s := engine.NewStarting()
	s.Failed(errors.New("dial tcp 127.0.0.1:1: connection refused"))
	ev := &agentv1.AgentEvent{}
	lease := engine.Lease{AgentID: "a", Token: "t"}
	calls := map[string]error{}
	_, calls["AppendUser"] = s.AppendUser(ctx, "a", ev, engine.AppendOptions{})
	_, calls["AppendReply"] = s.AppendReply(ctx, "a", ev, 1, lease, engine.Claim{})
	_, calls["Settle"] = s.Settle(ctx, lease, 0, engine.Claim{})
	_, calls["Due"] = s.Due(ctx, 10)
	calls["PublishRun"] = s.PublishRun(ctx, lease, ev)
	_, calls["Run"] = s.Run(ctx, "a")
	_, calls["CancelRun"] = s.CancelRun(ctx, "a", "")
	_, calls["Read"] = s.Read(ctx, "a", 0, 10)
	_, calls["Subscribe"] = s.Subscribe(ctx, "a", engine.SubscribeOptions{})
	_, calls["SubscribeCancels"] = s.SubscribeCancels(ctx, "a", func(string) {})
	_, calls["Stat"] = s.Stat(ctx, "a")
	_, calls["List"] = s.List(ctx, "", 10)
	calls["Delete"] = s.Delete(ctx, "a")
	_, _, calls["AcquireLease"] = s.AcquireLease(ctx, "a", time.Second)
	calls["RenewLease"] = s.RenewLease(ctx, lease, time.Second)
	calls["ReleaseLease"] = s.ReleaseLease(ctx, lease)
	calls["Ping"] = s.Ping(ctx)
	for name, err := range calls {
		if !errors.Is(err, engine.ErrUnavailable) || !errors.Is(err, engine.ErrStarting) {
			t.Errorf("%s before connecting: %v, want ErrUnavailable and ErrStarting", name, err)
		}
	}
	if err := s.Ping(ctx); err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("Ping: %v, want the last cause", err)
	}
}

// Closing a Starting engine before it connects closes the engine it is
// handed later, so that a shutdown during start leaks no connection.
func TestStartingClosedBeforeConnected(t *testing.T) {
	t.Parallel()
	s := engine.NewStarting()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	m := engine.NewMemory(engine.Config{})
	if s.Connected(m) {
		t.Fatal("Connected accepted an engine after Close")
	}
	if err := m.Ping(context.Background()); !errors.Is(err, engine.ErrClosed) {
		t.Fatalf("the engine handed over after Close: Ping %v, want ErrClosed", err)
	}
	if err := s.Ping(context.Background()); !errors.Is(err, engine.ErrClosed) {
		t.Fatalf("Ping after Close: %v, want ErrClosed", err)
	}
}
