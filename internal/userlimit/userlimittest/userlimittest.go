// Package userlimittest is the contract test suite of userlimit.Limiter.
// Every Limiter runs it, so that the edge can rely on the same limits
// whichever one a deployment uses.
//
// Run covers one limiter; RunShared covers two that share one store, as
// two replicas of the gateway do. The suite drives the limiters' clock by
// hand (Options.Now), so it never sleeps: the time to retry is checked to
// the microsecond, and a replica's connections expire when the test moves
// the clock past their time to live.
package userlimittest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/agentgate/agentgate/internal/userlimit"
)

// Options configure one limiter of a test.
type Options struct {
	// Now is the limiter's clock, which the test moves.
	Now func() time.Time
}

// Factory makes a limiter for one test, empty, reading the time from
// opts.Now. The suite closes it when the test ends.
type Factory func(t *testing.T, opts Options) userlimit.Limiter

// Run runs the contract tests against the limiters newLimiter makes. Each
// subtest makes its own and runs in parallel with the others.
func Run(t *testing.T, newLimiter Factory) {
	tests := []struct {
		name string
		run  func(*testing.T, Factory)
	}{
		{"RateBurst", testRateBurst},
		{"RateSteady", testRateSteady},
		{"RateRetryAfterIsExact", testRateRetryAfter},
		{"RateRefillsToTheBurstOnly", testRateRefills},
		{"RatePerSubject", testRatePerSubject},
		{"RateConcurrent", testRateConcurrent},
		{"ConnectionsCap", testConnectionsCap},
		{"ConnectionsReleaseTwice", testConnectionsReleaseTwice},
		{"ConnectionsPerSubject", testConnectionsPerSubject},
		{"ConnectionsConcurrent", testConnectionsConcurrent},
		{"CanceledContext", testCanceled},
		{"Close", testClose},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.run(t, newLimiter)
		})
	}
}

// open makes a limiter on a clock of its own and closes it when the test
// ends.
func open(t *testing.T, newLimiter Factory) (userlimit.Limiter, *Clock) {
	t.Helper()
	c := NewClock()
	l := newLimiter(t, Options{Now: c.Now})
	t.Cleanup(func() { _ = l.Close() })
	return l, c
}

// Clock is a clock that moves only when told. It is safe for concurrent
// use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock starts a Clock at a whole second.
func NewClock() *Clock { return &Clock{now: time.Unix(1_700_000_000, 0)} }

// Now is the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// testCtx is a context for one test's calls, cancelled when it ends.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}
