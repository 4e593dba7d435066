package userlimit_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/agentgate/agentgate/internal/identity"
	"github.com/agentgate/agentgate/internal/redistest"
	"github.com/agentgate/agentgate/internal/userlimit"
	"github.com/agentgate/agentgate/internal/userlimit/userlimittest"
)

func user(sub string) identity.Identity {
	return identity.Identity{Kind: identity.KindUser, Subject: sub, Perms: identity.Read | identity.Write}
}

// TestLimitsCountUsersOnly: a user's messages and connections are
// limited; service tokens and anonymous callers are not.
func TestLimitsCountUsersOnly(t *testing.T) {
	t.Parallel()
	clock := userlimittest.NewClock()
	mem := userlimit.NewMemory(clock.Now)
	t.Cleanup(func() { _ = mem.Close() })
	l := userlimit.New(mem, userlimit.Config{MessageRate: 2, MaxConnections: 1})
	ctx := t.Context()
	for _, id := range []identity.Identity{identity.Service(), identity.Anonymous()} {
		for range 10 {
			if err := l.Allow(ctx, id); err != nil {
				t.Fatalf("Allow(%s): %v", id.Name(), err)
			}
			if _, err := l.Enter(ctx, id); err != nil {
				t.Fatalf("Enter(%s): %v", id.Name(), err)
			}
		}
	}

	alice := user("alice")
	for range 2 {
		if err := l.Allow(ctx, alice); err != nil {
			t.Fatalf("Allow within the rate: %v", err)
		}
	}
	err := l.Allow(ctx, alice)
	var ex *userlimit.Exceeded
	if !errors.As(err, &ex) || ex.Reason != userlimit.ReasonMessageRate || ex.Subject != "alice" || ex.Limit != 2 || ex.RetryAfter != 30*time.Second {
		t.Fatalf("Allow past the rate: %#v, want *Exceeded for user_message_rate, retry after 30s", err)
	}
	if !strings.Contains(err.Error(), "at most 2 a minute; retry in 30s") {
		t.Fatalf("message %q does not say the limit and when to retry", err)
	}
	if err := l.Allow(ctx, user("bob")); err != nil {
		t.Fatalf("another user: %v", err)
	}

	release, err := l.Enter(ctx, alice)
	if err != nil {
		t.Fatalf("Enter: %v", err)
	}
	_, err = l.Enter(ctx, alice)
	if !errors.As(err, &ex) || ex.Reason != userlimit.ReasonMaxConnections || ex.Limit != 1 || ex.RetryAfter != 0 {
		t.Fatalf("Enter past the cap: %#v, want *Exceeded for user_max_connections", err)
	}
	release()
	release()
	if _, err := l.Enter(ctx, alice); err != nil {
		t.Fatalf("Enter after a release: %v", err)
	}
}

// TestLimitsOff: a zero limit, or no Limits, limits nothing.
func TestLimitsOff(t *testing.T) {
	t.Parallel()
	mem := userlimit.NewMemory(nil)
	t.Cleanup(func() { _ = mem.Close() })
	ctx := t.Context()
	for _, l := range []*userlimit.Limits{nil, userlimit.New(mem, userlimit.Config{})} {
		for range 100 {
			if err := l.Allow(ctx, user("alice")); err != nil {
				t.Fatalf("Allow: %v", err)
			}
			release, err := l.Enter(ctx, user("alice"))
			if err != nil || release == nil {
				t.Fatalf("Enter: %v", err)
			}
		}
	}
}

func TestPerMinute(t *testing.T) {
	t.Parallel()
	for n, want := range map[int]userlimit.Rate{
		1:         {Every: time.Minute, Burst: 1},
		60:        {Every: time.Second, Burst: 60},
		1_000_000: {Every: 60 * time.Microsecond, Burst: 1_000_000},
	} {
		if got := userlimit.PerMinute(n); got != want {
			t.Errorf("PerMinute(%d) = %+v, want %+v", n, got, want)
		}
	}
}

// TestExceededOnTheWire: resource_exhausted, with Retry-After in whole
// seconds rounded up when it is known.
func TestExceededOnTheWire(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		ex     userlimit.Exceeded
		header string
	}{
		{userlimit.Exceeded{Reason: userlimit.ReasonMessageRate, Limit: 60, RetryAfter: 1200 * time.Millisecond}, "2"},
		{userlimit.Exceeded{Reason: userlimit.ReasonMessageRate, Limit: 1e6, RetryAfter: 60 * time.Microsecond}, "1"},
		{userlimit.Exceeded{Reason: userlimit.ReasonMessageRate, Limit: 1, RetryAfter: time.Minute}, "60"},
		{userlimit.Exceeded{Reason: userlimit.ReasonMaxConnections, Limit: 5}, ""},
	} {
		ce := tc.ex.ConnectError()
		if ce.Code() != connect.CodeResourceExhausted || ce.Meta().Get("Retry-After") != tc.header || ce.Message() != tc.ex.Error() {
			t.Errorf("%+v: %v with Retry-After %q, want resource_exhausted with %q", tc.ex, ce, ce.Meta().Get("Retry-After"), tc.header)
		}
	}
}

// TestLimitsAcrossReplicas: two gateways' Limits on one Redis count a
// user once.
func TestLimitsAcrossReplicas(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	prefix := uniquePrefix()
	cfg := userlimit.Config{MessageRate: 3, MaxConnections: 2}
	var replicas []*userlimit.Limits
	for range 2 {
		r := newRedis(t, newClient(t, srv), userlimit.RedisConfig{KeyPrefix: prefix})
		replicas = append(replicas, userlimit.New(r, cfg))
	}
	a, b := replicas[0], replicas[1]
	ctx := t.Context()
	alice := user("alice")
	for i, l := range []*userlimit.Limits{a, b, a} {
		if err := l.Allow(ctx, alice); err != nil {
			t.Fatalf("message %d: %v", i+1, err)
		}
	}
	var ex *userlimit.Exceeded
	if err := b.Allow(ctx, alice); !errors.As(err, &ex) || ex.RetryAfter <= 0 || ex.RetryAfter > 20*time.Second {
		t.Fatalf("the fourth message, on b: %v, want refused with retry after at most 20s", err)
	}
	if _, err := a.Enter(ctx, alice); err != nil {
		t.Fatal(err)
	}
	release, err := b.Enter(ctx, alice)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Enter(ctx, alice); !errors.As(err, &ex) || ex.Reason != userlimit.ReasonMaxConnections {
		t.Fatalf("a third connection: %v, want refused", err)
	}
	release()
	if _, err := a.Enter(ctx, alice); err != nil {
		t.Fatalf("after b's connection ended: %v", err)
	}
}
