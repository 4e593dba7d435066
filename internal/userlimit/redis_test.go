package userlimit_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentgate/agentgate/internal/redistest"
	"github.com/agentgate/agentgate/internal/userlimit"
	"github.com/agentgate/agentgate/internal/userlimit/userlimittest"
	"github.com/redis/go-redis/v9"
)

// newClient is a client as the engine makes one: no retries, the
// context's deadline bounding each command.
func newClient(t testing.TB, srv *redistest.Server) *redis.Client {
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr(), MaxRetries: -1, ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// newRedis makes a limiter that the test closes when it ends.
func newRedis(t testing.TB, rdb *redis.Client, cfg userlimit.RedisConfig) *userlimit.Redis {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	l, err := userlimit.NewRedis(rdb, cfg)
	if err != nil {
		t.Fatalf("NewRedis: %v", err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

// uniquePrefix keeps the keys of tests that share a server apart.
func uniquePrefix() string { return "test:" + rand.Text()[:12] + ":" }

func TestRedis(t *testing.T) {
	srv := redistest.Start(t)
	rdb := newClient(t, srv)
	userlimittest.Run(t, func(t *testing.T, opts userlimittest.Options) userlimit.Limiter {
		// The heartbeat runs, rarely: the suite never moves the clock
		// near a connection's time to live.
		return newRedis(t, rdb, userlimit.RedisConfig{KeyPrefix: uniquePrefix(), Now: opts.Now, HeartbeatInterval: 10 * time.Second})
	})
}

func TestRedisShared(t *testing.T) {
	srv := redistest.Start(t)
	const every = 10 * time.Second
	userlimittest.RunShared(t, func(t *testing.T, opts userlimittest.Options) (a, b userlimittest.Replica, ttl time.Duration) {
		cfg := userlimit.RedisConfig{KeyPrefix: uniquePrefix(), Now: opts.Now, HeartbeatInterval: every, ManualHeartbeat: true}
		// Each replica has its own client, as replicas do.
		ra, rb := newRedis(t, newClient(t, srv), cfg), newRedis(t, newClient(t, srv), cfg)
		return userlimittest.Replica{Limiter: ra, Heartbeat: ra.Heartbeat},
			userlimittest.Replica{Limiter: rb, Heartbeat: rb.Heartbeat}, 3 * every
	})
}

func TestNewRedisRefusesNoClient(t *testing.T) {
	if _, err := userlimit.NewRedis(nil, userlimit.RedisConfig{}); err == nil {
		t.Fatal("NewRedis accepted a nil client")
	}
}

// TestRedisOwnClock runs the limits on Redis's clock (TIME), as
// production does: the time to retry is the interval less the time since
// the burst began, and a connection's deadline is Redis's time plus its
// time to live.
func TestRedisOwnClock(t *testing.T) {
	srv := redistest.Start(t)
	rdb := newClient(t, srv)
	prefix := uniquePrefix()
	l := newRedis(t, rdb, userlimit.RedisConfig{KeyPrefix: prefix, HeartbeatInterval: time.Minute})
	ctx := t.Context()
	rate := userlimit.PerMinute(3)
	start := time.Now()
	for range 3 {
		if ok, _, err := l.Allow(ctx, "alice", rate); !ok || err != nil {
			t.Fatalf("Allow within the burst: %v, %v", ok, err)
		}
	}
	ok, retry, err := l.Allow(ctx, "alice", rate)
	elapsed := time.Since(start)
	if ok || err != nil || retry > rate.Every || retry < rate.Every-elapsed-time.Second {
		t.Fatalf("Allow past the burst: %v, retry after %v, %v; want refused, retry after %v less the %v since the burst began",
			ok, retry, err, rate.Every, elapsed)
	}

	before, err := rdb.Time(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := l.Enter(ctx, "alice", 1); !ok || err != nil {
		t.Fatalf("Enter: %v, %v", ok, err)
	}
	after, err := rdb.Time(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	z, err := rdb.ZRangeWithScores(ctx, prefix+"user-conns:alice", 0, -1).Result()
	if err != nil || len(z) != 1 {
		t.Fatalf("the connections of alice: %v, %v", z, err)
	}
	deadline := time.UnixMicro(int64(z[0].Score))
	ttl := 3 * time.Minute
	if deadline.Before(before.Add(ttl).Truncate(time.Microsecond)) || deadline.After(after.Add(ttl)) {
		t.Fatalf("deadline %v, want Redis's time (%v to %v) plus %v", deadline, before, after, ttl)
	}
}

// TestRedisLeavesNothingBehind checks the keys' lifetimes: the allowance
// expires once full again, the connections key with its latest deadline,
// and releasing (or closing) removes the connections at once.
func TestRedisLeavesNothingBehind(t *testing.T) {
	srv := redistest.Start(t)
	rdb := newClient(t, srv)
	prefix := uniquePrefix()
	clock := userlimittest.NewClock()
	const every = 5 * time.Second
	cfg := userlimit.RedisConfig{KeyPrefix: prefix, Now: clock.Now, HeartbeatInterval: every, ManualHeartbeat: true}
	a, b := newRedis(t, rdb, cfg), newRedis(t, rdb, cfg)
	ctx := t.Context()
	rate := userlimit.Rate{Every: 20 * time.Second, Burst: 5}
	for range 3 {
		if _, _, err := a.Allow(ctx, "alice", rate); err != nil {
			t.Fatal(err)
		}
	}
	// Three messages spent: full again in 60s.
	if ttl := rdb.PTTL(ctx, prefix+"user-rate:alice").Val(); ttl <= 55*time.Second || ttl > time.Minute {
		t.Fatalf("the allowance expires in %v, want when it is full again, 60s", ttl)
	}

	conns := prefix + "user-conns:alice"
	ra, _, err := a.Enter(ctx, "alice", 5)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.Enter(ctx, "alice", 5); err != nil {
		t.Fatal(err)
	}
	if ttl := rdb.PTTL(ctx, conns).Val(); ttl <= 14*time.Second || ttl > 3*every {
		t.Fatalf("the connections expire in %v, want with their deadline, in %v", ttl, 3*every)
	}
	ra()
	if n := rdb.ZCard(ctx, conns).Val(); n != 1 {
		t.Fatalf("%d connections after one of two was released, want 1", n)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if n := rdb.Exists(ctx, conns).Val(); n != 0 {
		t.Fatalf("the connections key exists after every connection ended")
	}
}

// TestRedisHeartbeat runs the heartbeat on its own, on Redis's clock: it
// renews the connections of a live replica, and when the replica loses
// Redis for good (its client closed, as a crash looks to Redis), its
// connection stops counting within the time to live.
func TestRedisHeartbeat(t *testing.T) {
	srv := redistest.Start(t)
	prefix := uniquePrefix()
	const every = 25 * time.Millisecond
	clientA := newClient(t, srv)
	a := newRedis(t, clientA, userlimit.RedisConfig{KeyPrefix: prefix, HeartbeatInterval: every})
	rdb := newClient(t, srv)
	b := newRedis(t, rdb, userlimit.RedisConfig{KeyPrefix: prefix, HeartbeatInterval: every})
	ctx := t.Context()
	if _, ok, err := a.Enter(ctx, "alice", 1); !ok || err != nil {
		t.Fatalf("Enter: %v, %v", ok, err)
	}
	deadline := func() float64 {
		z, err := rdb.ZRangeWithScores(ctx, prefix+"user-conns:alice", 0, -1).Result()
		if err != nil || len(z) > 1 {
			t.Fatalf("the connections of alice: %v, %v", z, err)
		}
		if len(z) == 0 {
			return 0
		}
		return z[0].Score
	}
	// Three renewals, well past the first deadline; b is refused
	// throughout.
	last := deadline()
	for range 3 {
		poll(t, func() bool { return deadline() > last })
		last = deadline()
		if release, ok, err := b.Enter(ctx, "alice", 1); ok || err != nil {
			t.Fatalf("Enter on b while a renews its connection: %v, %v", ok, err)
			release()
		}
	}
	// a loses Redis: its connection expires unrenewed, within 3 intervals.
	_ = clientA.Close()
	killed := time.Now()
	poll(t, func() bool {
		release, ok, err := b.Enter(ctx, "alice", 1)
		if err != nil {
			t.Fatalf("Enter on b: %v", err)
		}
		if ok {
			release()
		}
		return ok
	})
	if waited := time.Since(killed); waited > 3*every+2*time.Second {
		t.Fatalf("a dead replica's connection counted for %v, want at most about %v", waited, 3*every)
	}
}

// poll waits until cond holds, checking every few milliseconds: for
// deadlines that pass in real time. It fails the test after 10 seconds.
func poll(t *testing.T, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	limit := time.After(10 * time.Second)
	for !cond() {
		select {
		case <-tick.C:
		case <-limit:
			t.Fatal("condition not met within 10s")
		}
	}
}

// TestRedisOutage stops Redis under two replicas: each keeps the limits on
// its own (neither refusing everyone nor letting a flood through), logs
// it once, and when Redis is back the first heartbeat registers the
// connections opened meanwhile, so that the limits are shared again.
func TestRedisOutage(t *testing.T) {
	srv := redistest.Start(t)
	prefix := uniquePrefix()
	clock := userlimittest.NewClock()
	var logs syncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	cfg := userlimit.RedisConfig{KeyPrefix: prefix, Now: clock.Now, HeartbeatInterval: 10 * time.Second, ManualHeartbeat: true,
		OperationTimeout: 500 * time.Millisecond, Logger: logger}
	a := newRedis(t, newClient(t, srv), cfg)
	cfg.Logger = nil
	b := newRedis(t, newClient(t, srv), cfg)
	ctx := t.Context()
	rate := userlimit.Rate{Every: 10 * time.Second, Burst: 2}

	srv.Stop()
	for i := range 2 {
		if ok, _, err := a.Allow(ctx, "alice", rate); !ok || err != nil {
			t.Fatalf("message %d without Redis: %v, %v; want allowed by the replica", i+1, ok, err)
		}
	}
	if ok, retry, err := a.Allow(ctx, "alice", rate); ok || retry != rate.Every || err != nil {
		t.Fatalf("a message past the burst without Redis: %v, %v, %v; want refused by the replica", ok, retry, err)
	}
	for i := range 2 {
		if _, ok, err := a.Enter(ctx, "alice", 2); !ok || err != nil {
			t.Fatalf("connection %d without Redis: %v, %v; want admitted by the replica", i+1, ok, err)
		}
	}
	if _, ok, err := a.Enter(ctx, "alice", 2); ok || err != nil {
		t.Fatalf("a connection past max without Redis: %v, %v; want refused by the replica", ok, err)
	}
	if err := a.Heartbeat(ctx); err == nil {
		t.Fatal("Heartbeat without Redis succeeded")
	}

	srv.Restart() // empty: it lost the scripts and every key
	poll(t, func() bool { return a.Heartbeat(ctx) == nil })
	if _, ok, err := b.Enter(ctx, "alice", 2); ok || err != nil {
		t.Fatalf("Enter on b after the outage: %v, %v; want refused, a's two connections registered again", ok, err)
	}
	// The limits are shared again: a asks Redis, and so does b.
	for range 2 {
		if ok, _, err := a.Allow(ctx, "bob", rate); !ok || err != nil {
			t.Fatalf("Allow on a after the outage: %v, %v", ok, err)
		}
	}
	if ok, _, err := b.Allow(ctx, "bob", rate); ok || err != nil {
		t.Fatalf("Allow on b after a spent bob's burst: %v, %v; want refused", ok, err)
	}
	out := logs.String()
	if strings.Count(out, "redis does not answer") != 1 || strings.Count(out, "redis answers again") != 1 {
		t.Fatalf("want one line when Redis stopped answering and one when it answered again; logged:\n%s", out)
	}
}

// syncBuffer is a bytes.Buffer for a logger that several goroutines use.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestRedisHangs bounds a call when Redis does not answer: by the
// caller's deadline if it comes first (the call fails with it), otherwise
// by OperationTimeout, past which the replica decides on its own.
func TestRedisHangs(t *testing.T) {
	srv := redistest.Start(t)
	rdb := newClient(t, srv)
	cfg := userlimit.RedisConfig{KeyPrefix: uniquePrefix(), HeartbeatInterval: time.Minute, OperationTimeout: 300 * time.Millisecond}
	l := newRedis(t, rdb, cfg)
	other := newRedis(t, newClient(t, srv), cfg)
	// CLIENT PAUSE holds every other client's commands.
	if err := rdb.Do(t.Context(), "CLIENT", "PAUSE", "2000", "ALL").Err(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, _, err := l.Allow(ctx, "alice", userlimit.PerMinute(1))
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > time.Second {
		t.Fatalf("Allow while Redis hangs: %v after %v; want the caller's deadline", err, time.Since(start))
	}
	start = time.Now()
	ok, _, err := other.Allow(t.Context(), "alice", userlimit.PerMinute(1))
	if !ok || err != nil || time.Since(start) > time.Second {
		t.Fatalf("Allow while Redis hangs: %v, %v after %v; want allowed by the replica after %v", ok, err, time.Since(start), cfg.OperationTimeout)
	}
}

// TestRedisReleaseDuringHeartbeats opens and releases connections while
// heartbeats run: a renewal that was on its way when a connection was
// released must not bring it back, so once every connection ended, Redis
// holds none.
func TestRedisReleaseDuringHeartbeats(t *testing.T) {
	srv := redistest.Start(t)
	rdb := newClient(t, srv)
	prefix := uniquePrefix()
	l := newRedis(t, rdb, userlimit.RedisConfig{KeyPrefix: prefix, HeartbeatInterval: time.Minute, ManualHeartbeat: true})
	ctx := t.Context()
	done := make(chan struct{})
	var beats sync.WaitGroup
	beats.Go(func() {
		for {
			select {
			case <-done:
				return
			default:
			}
			if err := l.Heartbeat(ctx); err != nil {
				t.Errorf("Heartbeat: %v", err)
				return
			}
		}
	})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				release, ok, err := l.Enter(ctx, "alice", 1000)
				if !ok || err != nil {
					t.Errorf("Enter: %v, %v", ok, err)
					return
				}
				release()
			}
		})
	}
	wg.Wait()
	close(done)
	beats.Wait()
	if n := rdb.ZCard(ctx, prefix+"user-conns:alice").Val(); n != 0 {
		t.Fatalf("%d connections left in Redis after all were released", n)
	}
}
