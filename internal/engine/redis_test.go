package engine_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/agentgate/agentgate/internal/engine"
	"github.com/agentgate/agentgate/internal/engine/enginetest"
	"github.com/agentgate/agentgate/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// newRedis connects an engine to srv under prefix. Tests share one server
// and tell their data apart by prefix.
func newRedis(t *testing.T, srv *redistest.Server, prefix, replica string, cfg engine.Config) *engine.Redis {
	t.Helper()
	e, err := engine.NewRedis(t.Context(), engine.RedisConfig{
		URL:               srv.URL(),
		Config:            cfg,
		KeyPrefix:         prefix,
		ReplicaID:         replica,
		OperationTimeout:  time.Second,
		HeartbeatInterval: time.Second,
		Logger:            slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatalf("NewRedis: %v", err)
	}
	t.Cleanup(func() { _ = e.Close() })
	return e
}

func uniquePrefix() string { return "test:" + rand.Text()[:12] + ":" }

func TestRedis(t *testing.T) {
	srv := redistest.Start(t)
	enginetest.Run(t, func(t *testing.T, cfg engine.Config) engine.Engine {
		return newRedis(t, srv, uniquePrefix(), "solo", cfg)
	})
}

func TestRedisShared(t *testing.T) {
	srv := redistest.Start(t)
	enginetest.RunShared(t, func(t *testing.T, cfg engine.Config) (engine.Engine, engine.Engine) {
		prefix := uniquePrefix()
		return newRedis(t, srv, prefix, "a", cfg), newRedis(t, srv, prefix, "b", cfg)
	})
}

func TestNewRedisRefusesBadURLAndUnreachableRedis(t *testing.T) {
	if _, err := engine.NewRedis(t.Context(), engine.RedisConfig{URL: "http://example.com"}); err == nil {
		t.Fatal("NewRedis accepted an http:// URL")
	}
	srv := redistest.Start(t)
	srv.Stop()
	start := time.Now()
	_, err := engine.NewRedis(t.Context(), engine.RedisConfig{URL: srv.URL(), OperationTimeout: time.Second})
	if !errors.Is(err, engine.ErrUnavailable) {
		t.Fatalf("NewRedis with Redis down: %v, want ErrUnavailable", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("NewRedis took %v to fail", d)
	}
}

// TestRedisOutage stops Redis under a running engine: calls fail with
// ErrUnavailable within their deadline, subscriptions end with
// ErrUnavailable, Ping fails; when Redis is back, everything works again
// without any action, including new subscriptions.
func TestRedisOutage(t *testing.T) {
	srv := redistest.Start(t)
	e := newRedis(t, srv, uniquePrefix(), "solo", engine.Config{})
	ctx := t.Context()
	sub, err := e.Subscribe(ctx, "a", engine.SubscribeOptions{})
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	defer sub.Close()
	if _, err := e.AppendUser(ctx, "a", userEvent("before"), engine.AppendOptions{}); err != nil {
		t.Fatalf("AppendUser: %v", err)
	}

	srv.Stop()

	if err := waitEnd(sub); !errors.Is(err, engine.ErrUnavailable) {
		t.Fatalf("subscription ended with %v, want ErrUnavailable", err)
	}
	calls := map[string]func(context.Context) error{
		"Ping": e.Ping,
		"AppendUser": func(ctx context.Context) error {
			_, err := e.AppendUser(ctx, "a", userEvent("during"), engine.AppendOptions{})
			return err
		},
		"Read": func(ctx context.Context) error {
			_, err := e.Read(ctx, "a", 0, 10)
			return err
		},
		"Subscribe": func(ctx context.Context) error {
			s, err := e.Subscribe(ctx, "a", engine.SubscribeOptions{})
			if err == nil {
				s.Close()
			}
			return err
		},
		"PublishRun": func(ctx context.Context) error {
			return e.PublishRun(ctx, engine.Lease{AgentID: "a"}, &agentv1.AgentEvent{})
		},
		"AcquireLease": func(ctx context.Context) error {
			_, _, err := e.AcquireLease(ctx, "a", time.Second)
			return err
		},
		"Stat": func(ctx context.Context) error {
			_, err := e.Stat(ctx, "a")
			return err
		},
	}
	for name, call := range calls {
		const deadline = 500 * time.Millisecond
		cctx, cancel := context.WithTimeout(ctx, deadline)
		start := time.Now()
		err := call(cctx)
		took := time.Since(start)
		cancel()
		if !errors.Is(err, engine.ErrUnavailable) {
			t.Fatalf("%s during the outage: %v, want ErrUnavailable", name, err)
		}
		if took > deadline+250*time.Millisecond {
			t.Fatalf("%s took %v, beyond its %v deadline", name, took, deadline)
		}
	}

	srv.Restart()

	waitFor(t, "Ping succeeds after Redis is back", func() bool { return e.Ping(ctx) == nil })
	var after engine.Subscription
	waitFor(t, "Subscribe succeeds after Redis is back", func() bool {
		after, err = e.Subscribe(ctx, "a", engine.SubscribeOptions{})
		return err == nil
	})
	defer after.Close()
	res, err := e.AppendUser(ctx, "a", userEvent("after"), engine.AppendOptions{})
	stored := res.Event
	if err != nil {
		t.Fatalf("AppendUser after Redis is back: %v", err)
	}
	if stored.GetSeq() != 1 {
		t.Fatalf("seq %d after the restart, want 1 (the restarted Redis is empty)", stored.GetSeq())
	}
	select {
	case <-after.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("the new subscription received nothing")
	}
	if ev, ok := after.Next(); !ok || ev.GetSeq() != stored.GetSeq() {
		t.Fatalf("the new subscription got %v, %v; want seq %d", ev, ok, stored.GetSeq())
	}
	if st, err := e.Stat(ctx, "a"); err != nil || st.Subscribers != 1 {
		t.Fatalf("Stat after the outage: Subscribers %d, err %v; want 1 (the new subscription)", st.Subscribers, err)
	}
}

// TestRedisOutageSharedRecovery checks that two replicas find each other's
// events again after an outage.
func TestRedisOutageSharedRecovery(t *testing.T) {
	srv := redistest.Start(t)
	prefix := uniquePrefix()
	a := newRedis(t, srv, prefix, "a", engine.Config{})
	b := newRedis(t, srv, prefix, "b", engine.Config{})
	ctx := t.Context()

	srv.Restart()

	var sub engine.Subscription
	waitFor(t, "Subscribe on b succeeds after the restart", func() bool {
		var err error
		sub, err = b.Subscribe(ctx, "x", engine.SubscribeOptions{})
		return err == nil
	})
	defer sub.Close()
	var stored *agentv1.AgentEvent
	waitFor(t, "AppendUser on a succeeds after the restart", func() bool {
		res, err := a.AppendUser(ctx, "x", userEvent("hello"), engine.AppendOptions{})
		stored = res.Event
		return err == nil
	})
	select {
	case <-sub.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("b's subscription received nothing from a")
	}
	if ev, ok := sub.Next(); !ok || ev.GetSeq() != stored.GetSeq() {
		t.Fatalf("b got %v, %v; want seq %d", ev, ok, stored.GetSeq())
	}
	waitFor(t, "Stat on a counts b's subscriber", func() bool {
		st, err := a.Stat(ctx, "x")
		return err == nil && st.Subscribers == 1
	})
}

// TestRedisSubscriberCountsFollowLiveness checks the bookkeeping behind
// Stat.Subscribers (see presence) by editing Redis behind the engine's
// back: a count left by a replica that died is ignored and cleaned up, and a
// replica whose liveness key vanished (as after a Redis restart)
// re-registers its counts under a new epoch by itself.
func TestRedisSubscriberCountsFollowLiveness(t *testing.T) {
	srv := redistest.Start(t)
	prefix := uniquePrefix()
	e, err := engine.NewRedis(t.Context(), engine.RedisConfig{
		URL: srv.URL(), KeyPrefix: prefix, ReplicaID: "r",
		HeartbeatInterval: 20 * time.Millisecond,
		Logger:            slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatalf("NewRedis: %v", err)
	}
	defer e.Close()
	opts, err := redis.ParseURL(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	ctx := t.Context()
	subsKey := prefix + "{agent:x}:subs"

	if _, err := e.AppendUser(ctx, "x", userEvent("hi"), engine.AppendOptions{}); err != nil {
		t.Fatalf("AppendUser: %v", err)
	}
	sub, err := e.Subscribe(ctx, "x", engine.SubscribeOptions{})
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	defer sub.Close()
	fields, err := rdb.HKeys(ctx, subsKey).Result()
	if err != nil || len(fields) != 1 {
		t.Fatalf("subs hash fields %v, %v; want this replica's epoch", fields, err)
	}
	epoch := fields[0]

	if err := rdb.HSet(ctx, subsKey, "ghost/crashed", 5).Err(); err != nil {
		t.Fatal(err)
	}
	if st, err := e.Stat(ctx, "x"); err != nil || st.Subscribers != 1 {
		t.Fatalf("Stat with a dead replica's count: Subscribers %d, err %v; want 1", st.Subscribers, err)
	}
	if ok, _ := rdb.HExists(ctx, subsKey, "ghost/crashed").Result(); ok {
		t.Fatal("the dead replica's count was not cleaned up")
	}

	if err := rdb.Del(ctx, prefix+"replica:"+epoch).Err(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the replica re-registers its count under a new epoch", func() bool {
		st, err := e.Stat(ctx, "x") // also deletes the old epoch's field
		if err != nil || st.Subscribers != 1 {
			return false
		}
		fields, err := rdb.HKeys(ctx, subsKey).Result()
		return err == nil && len(fields) == 1 && fields[0] != epoch
	})
}

// TestRedisShortDeadlinesSpareOtherSubscriptions subscribes many times with
// deadlines that run out around the SUBSCRIBE: the pub/sub connection is
// shared, so a caller's deadline must never break it for the others.
func TestRedisShortDeadlinesSpareOtherSubscriptions(t *testing.T) {
	srv := redistest.Start(t)
	e := newRedis(t, srv, uniquePrefix(), "solo", engine.Config{})
	ctx := t.Context()
	keep, err := e.Subscribe(ctx, "keep", engine.SubscribeOptions{})
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	defer keep.Close()
	for i := range 300 {
		sctx, cancel := context.WithTimeout(ctx, time.Duration(i%60)*5*time.Microsecond)
		if s, err := e.Subscribe(sctx, fmt.Sprint("brief", i), engine.SubscribeOptions{}); err == nil {
			s.Close()
		}
		cancel()
	}
	if _, err := e.AppendUser(ctx, "keep", userEvent("still here"), engine.AppendOptions{}); err != nil {
		t.Fatalf("AppendUser: %v", err)
	}
	ev, ok := keep.Next()
	if !ok {
		t.Fatalf("the long-lived subscription lost its event (ended: %v)", keep.Err())
	}
	if ev.GetMessage().GetText() != "still here" {
		t.Fatalf("got %v", ev)
	}
}

func userEvent(text string) *agentv1.AgentEvent {
	return &agentv1.AgentEvent{Kind: &agentv1.AgentEvent_Message{Message: &agentv1.Message{
		Role: agentv1.Role_ROLE_USER, Text: text,
	}}}
}

// waitEnd drains sub until it ends and returns why.
func waitEnd(sub engine.Subscription) error {
	timeout := time.After(10 * time.Second)
	for {
		for {
			if _, ok := sub.Next(); !ok {
				break
			}
		}
		select {
		case _, open := <-sub.Ready():
			if !open {
				for {
					if _, ok := sub.Next(); !ok {
						return sub.Err()
					}
				}
			}
		case <-timeout:
			return errors.New("subscription did not end")
		}
	}
}

// waitFor polls cond until it holds. It is only used to wait for the engine
// to reconnect after a restart, which it does on its own schedule.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 15s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
