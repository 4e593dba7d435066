package userlimittest

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/agentgate/agentgate/internal/userlimit"
)

// This file tests Enter: open connections per subject, Close and
// contexts.

func enter(t *testing.T, l userlimit.Limiter, subject string, max int) (func(), bool) {
	t.Helper()
	release, ok, err := l.Enter(testCtx(t), subject, max)
	if err != nil {
		t.Fatalf("Enter(%q): %v", subject, err)
	}
	if ok == (release == nil) {
		t.Fatalf("Enter(%q): ok %v with release %p", subject, ok, release)
	}
	return release, ok
}

// enterN expects n connections of subject admitted, and returns their
// releases.
func enterN(t *testing.T, l userlimit.Limiter, subject string, max, n int) []func() {
	t.Helper()
	var releases []func()
	for i := range n {
		release, ok := enter(t, l, subject, max)
		if !ok {
			t.Fatalf("connection %d of %d of %q refused (max %d), want admitted", i+1, n, subject, max)
		}
		releases = append(releases, release)
	}
	return releases
}

// full expects the next connection of subject refused.
func full(t *testing.T, l userlimit.Limiter, subject string, max int) {
	t.Helper()
	if release, ok := enter(t, l, subject, max); ok {
		release()
		t.Fatalf("a connection of %q admitted beyond max %d", subject, max)
	}
}

func testConnectionsCap(t *testing.T, newLimiter Factory) {
	l, _ := open(t, newLimiter)
	rs := enterN(t, l, "alice", 3, 3)
	full(t, l, "alice", 3)
	rs[1]()
	enterN(t, l, "alice", 3, 1)
	full(t, l, "alice", 3)
	// A lower max applies at once to what is open; max 0 admits none.
	full(t, l, "alice", 2)
	full(t, l, "bob", 0)
}

func testConnectionsReleaseTwice(t *testing.T, newLimiter Factory) {
	l, _ := open(t, newLimiter)
	rs := enterN(t, l, "alice", 3, 3)
	rs[0]()
	rs[0]() // frees nothing more
	rs[0]()
	enterN(t, l, "alice", 3, 1)
	full(t, l, "alice", 3)
	for _, r := range rs {
		r()
	}
	// rs[0]'s place went to the one entered since.
	enterN(t, l, "alice", 3, 2)
	full(t, l, "alice", 3)
}

func testConnectionsPerSubject(t *testing.T, newLimiter Factory) {
	l, _ := open(t, newLimiter)
	enterN(t, l, "alice", 2, 2)
	full(t, l, "alice", 2)
	for _, s := range []string{"bob", "alice:x", "Alice", "user-conns:alice"} {
		enterN(t, l, s, 2, 2)
		full(t, l, s, 2)
	}
}

// testConnectionsConcurrent opens many connections of one subject at once
// from many goroutines: exactly max are admitted.
func testConnectionsConcurrent(t *testing.T, newLimiter Factory) {
	l, _ := open(t, newLimiter)
	const max = 7
	ctx := testCtx(t)
	var mu sync.Mutex
	var releases []func()
	var wg sync.WaitGroup
	for range 24 {
		wg.Go(func() {
			release, ok, err := l.Enter(ctx, "alice", max)
			if err != nil {
				t.Errorf("Enter: %v", err)
				return
			}
			if ok {
				mu.Lock()
				releases = append(releases, release)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(releases) != max {
		t.Fatalf("%d of 24 concurrent connections admitted, want max, %d", len(releases), max)
	}
	// Releasing them all, concurrently, frees every place.
	for _, r := range releases {
		wg.Go(r)
	}
	wg.Wait()
	enterN(t, l, "alice", max, max)
	full(t, l, "alice", max)
}

func testCanceled(t *testing.T, newLimiter Factory) {
	l, _ := open(t, newLimiter)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, _, err := l.Allow(ctx, "alice", rate); !errors.Is(err, context.Canceled) {
		t.Fatalf("Allow with a canceled context: %v, want context.Canceled", err)
	}
	if _, _, err := l.Enter(ctx, "alice", 1); !errors.Is(err, context.Canceled) {
		t.Fatalf("Enter with a canceled context: %v, want context.Canceled", err)
	}
	// Neither counted.
	allowN(t, l, "alice", rate, rate.Burst)
	enterN(t, l, "alice", 1, 1)
}

func testClose(t *testing.T, newLimiter Factory) {
	l, _ := open(t, newLimiter)
	rs := enterN(t, l, "alice", 2, 2)
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("Close again: %v", err)
	}
	ctx := testCtx(t)
	if _, _, err := l.Allow(ctx, "alice", rate); !errors.Is(err, userlimit.ErrClosed) {
		t.Fatalf("Allow after Close: %v, want ErrClosed", err)
	}
	if _, _, err := l.Enter(ctx, "alice", 2); !errors.Is(err, userlimit.ErrClosed) {
		t.Fatalf("Enter after Close: %v, want ErrClosed", err)
	}
	// A connection that ends after Close releases without harm.
	for _, r := range rs {
		r()
		r()
	}
}
