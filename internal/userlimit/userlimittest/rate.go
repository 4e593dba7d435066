package userlimittest

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentgate/agentgate/internal/userlimit"
)

// This file tests Allow: messages per subject under a Rate.

// rate is the tests' allowance: 3 at once, then one every 10 seconds. Its
// times are long, so that a store's own expiry of a key (in real time)
// never comes before the test is done with it.
var rate = userlimit.Rate{Every: 10 * time.Second, Burst: 3}

func allow(t *testing.T, l userlimit.Limiter, subject string, r userlimit.Rate) (bool, time.Duration) {
	t.Helper()
	ok, retry, err := l.Allow(testCtx(t), subject, r)
	if err != nil {
		t.Fatalf("Allow(%q): %v", subject, err)
	}
	if ok && retry != 0 {
		t.Fatalf("Allow(%q) allowed with a retry after of %v", subject, retry)
	}
	return ok, retry
}

// allowN expects n messages of subject allowed.
func allowN(t *testing.T, l userlimit.Limiter, subject string, r userlimit.Rate, n int) {
	t.Helper()
	for i := range n {
		if ok, retry := allow(t, l, subject, r); !ok {
			t.Fatalf("message %d of %d of %q refused (retry after %v), want allowed", i+1, n, subject, retry)
		}
	}
}

// refused expects the next message of subject refused, with retry after
// exactly want.
func refused(t *testing.T, l userlimit.Limiter, subject string, r userlimit.Rate, want time.Duration) {
	t.Helper()
	ok, retry := allow(t, l, subject, r)
	if ok {
		t.Fatalf("a message of %q allowed, want refused with retry after %v", subject, want)
	}
	if retry != want {
		t.Fatalf("a message of %q refused with retry after %v, want %v", subject, retry, want)
	}
}

func testRateBurst(t *testing.T, newLimiter Factory) {
	l, _ := open(t, newLimiter)
	allowN(t, l, "alice", rate, rate.Burst)
	refused(t, l, "alice", rate, rate.Every)
	// A refused message is not counted: the wait stays the same.
	refused(t, l, "alice", rate, rate.Every)
}

func testRateSteady(t *testing.T, newLimiter Factory) {
	l, c := open(t, newLimiter)
	allowN(t, l, "alice", rate, rate.Burst)
	for range 5 {
		c.Advance(rate.Every)
		allowN(t, l, "alice", rate, 1)
		refused(t, l, "alice", rate, rate.Every)
	}
	// Two and a half intervals: two messages, then half an interval to
	// wait.
	c.Advance(5 * rate.Every / 2)
	allowN(t, l, "alice", rate, 2)
	refused(t, l, "alice", rate, rate.Every/2)
}

func testRateRetryAfter(t *testing.T, newLimiter Factory) {
	l, c := open(t, newLimiter)
	allowN(t, l, "alice", rate, rate.Burst)
	refused(t, l, "alice", rate, rate.Every)
	c.Advance(rate.Every - time.Microsecond)
	refused(t, l, "alice", rate, time.Microsecond)
	c.Advance(time.Microsecond)
	allowN(t, l, "alice", rate, 1)
	refused(t, l, "alice", rate, rate.Every)
}

func testRateRefills(t *testing.T, newLimiter Factory) {
	l, c := open(t, newLimiter)
	allowN(t, l, "alice", rate, rate.Burst)
	// A long silence refills the allowance to the burst, not beyond.
	c.Advance(100 * rate.Every)
	allowN(t, l, "alice", rate, rate.Burst)
	refused(t, l, "alice", rate, rate.Every)
	// A rate of one every few microseconds, as USER_MESSAGE_RATE's
	// largest values make.
	fast := userlimit.Rate{Every: 60 * time.Microsecond, Burst: 2}
	allowN(t, l, "bob", fast, 2)
	refused(t, l, "bob", fast, fast.Every)
	c.Advance(fast.Every)
	allowN(t, l, "bob", fast, 1)
}

func testRatePerSubject(t *testing.T, newLimiter Factory) {
	l, c := open(t, newLimiter)
	allowN(t, l, "alice", rate, rate.Burst)
	refused(t, l, "alice", rate, rate.Every)
	// Other subjects, however alike their names, have their own.
	for _, s := range []string{"bob", "alice:x", "Alice", "user-rate:alice", "ålice {1}"} {
		allowN(t, l, s, rate, rate.Burst)
		refused(t, l, s, rate, rate.Every)
	}
	c.Advance(rate.Every)
	allowN(t, l, "alice", rate, 1)
	allowN(t, l, "bob", rate, 1)
}

// testRateConcurrent sends many messages of one subject at the same
// instant from many goroutines: exactly the burst gets through.
func testRateConcurrent(t *testing.T, newLimiter Factory) {
	l, _ := open(t, newLimiter)
	r := userlimit.Rate{Every: time.Minute, Burst: 40}
	if n := concurrentAllows(t, []userlimit.Limiter{l}, r, 16, 8); n != r.Burst {
		t.Fatalf("%d of 128 concurrent messages allowed, want the burst, %d", n, r.Burst)
	}
}

// concurrentAllows sends each messages of alice from each of goroutines
// goroutines, spread over the limiters, and counts those allowed.
func concurrentAllows(t *testing.T, ls []userlimit.Limiter, r userlimit.Rate, goroutines, each int) int {
	ctx := testCtx(t)
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for i := range goroutines {
		l := ls[i%len(ls)]
		wg.Go(func() {
			for range each {
				ok, _, err := l.Allow(ctx, "alice", r)
				if err != nil {
					t.Errorf("Allow: %v", err)
					return
				}
				if ok {
					allowed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	return int(allowed.Load())
}
