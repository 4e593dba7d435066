package userlimittest

import (
	"context"
	"testing"
	"time"

	"github.com/agentgate/agentgate/internal/userlimit"
)

// Replica is one of two limiters that share one store.
type Replica struct {
	userlimit.Limiter
	// Heartbeat renews the replica's open connections in the store. The
	// replica does not renew them by itself: a replica whose Heartbeat
	// the test stops calling is one that died.
	Heartbeat func(context.Context) error
}

// PairFactory makes two replicas that share one empty store, both reading
// the time from opts.Now, and returns how long a connection counts without
// a heartbeat. The suite closes both when the test ends.
type PairFactory func(t *testing.T, opts Options) (a, b Replica, ttl time.Duration)

// RunShared runs the contract tests that only make sense across replicas:
// one allowance and one count of connections per subject, whichever
// replica is asked, and the connections of a replica that died expiring
// within their time to live. Limiters that cannot share a store (Memory:
// one process is one replica) do not run it.
func RunShared(t *testing.T, newPair PairFactory) {
	tests := []struct {
		name string
		run  func(*testing.T, PairFactory)
	}{
		{"RateAcrossReplicas", testSharedRate},
		{"RateConcurrentAcrossReplicas", testSharedRateConcurrent},
		{"ConnectionsAcrossReplicas", testSharedConnections},
		{"DeadReplicaExpires", testSharedDeadReplica},
		{"LiveReplicaKeepsItsConnections", testSharedLiveReplica},
		{"ClosedReplicaReleasesAtOnce", testSharedClose},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.run(t, newPair)
		})
	}
}

func openPair(t *testing.T, newPair PairFactory) (a, b Replica, ttl time.Duration, c *Clock) {
	t.Helper()
	c = NewClock()
	a, b, ttl = newPair(t, Options{Now: c.Now})
	t.Cleanup(func() { _ = a.Close(); _ = b.Close() })
	return a, b, ttl, c
}

func heartbeat(t *testing.T, r Replica) {
	t.Helper()
	if err := r.Heartbeat(testCtx(t)); err != nil {
		t.Fatalf("Heartbeat: %v", err)
	}
}

func testSharedRate(t *testing.T, newPair PairFactory) {
	a, b, _, c := openPair(t, newPair)
	allowN(t, a, "alice", rate, 2)
	allowN(t, b, "alice", rate, 1)
	refused(t, a, "alice", rate, rate.Every)
	refused(t, b, "alice", rate, rate.Every)
	c.Advance(rate.Every)
	allowN(t, b, "alice", rate, 1)
	refused(t, a, "alice", rate, rate.Every)
	allowN(t, a, "bob", rate, rate.Burst)
}

func testSharedRateConcurrent(t *testing.T, newPair PairFactory) {
	a, b, _, _ := openPair(t, newPair)
	r := userlimit.Rate{Every: time.Minute, Burst: 30}
	if n := concurrentAllows(t, []userlimit.Limiter{a, b}, r, 16, 6); n != r.Burst {
		t.Fatalf("%d of 96 concurrent messages on two replicas allowed, want the burst, %d", n, r.Burst)
	}
}

func testSharedConnections(t *testing.T, newPair PairFactory) {
	a, b, _, _ := openPair(t, newPair)
	ra := enterN(t, a, "alice", 3, 2)
	enterN(t, b, "alice", 3, 1)
	full(t, a, "alice", 3)
	full(t, b, "alice", 3)
	ra[0]()
	ra[0]()
	enterN(t, b, "alice", 3, 1)
	full(t, a, "alice", 3)
	enterN(t, a, "bob", 3, 3)
}

// testSharedDeadReplica lets replica a die holding two of alice's three
// connections: they keep counting until their time to live has passed
// since a's last heartbeat, and not a moment longer, while b's own,
// renewed, keep counting.
func testSharedDeadReplica(t *testing.T, newPair PairFactory) {
	a, b, ttl, c := openPair(t, newPair)
	enterN(t, a, "alice", 3, 2)
	enterN(t, b, "alice", 3, 1)
	full(t, b, "alice", 3)
	// a dies: it renews nothing from now on. b lives.
	c.Advance(ttl / 2)
	heartbeat(t, b)
	c.Advance(ttl/2 - time.Millisecond)
	full(t, b, "alice", 3)
	c.Advance(time.Millisecond)
	enterN(t, b, "alice", 3, 2)
	full(t, b, "alice", 3)
}

func testSharedLiveReplica(t *testing.T, newPair PairFactory) {
	a, b, ttl, c := openPair(t, newPair)
	enterN(t, a, "alice", 2, 2)
	for range 5 {
		c.Advance(ttl / 2)
		heartbeat(t, a)
		full(t, b, "alice", 2)
	}
	// Heartbeats of a replica without connections of a subject keep
	// nothing of it alive.
	heartbeat(t, b)
	c.Advance(ttl)
	enterN(t, b, "alice", 2, 2)
}

func testSharedClose(t *testing.T, newPair PairFactory) {
	a, b, _, _ := openPair(t, newPair)
	enterN(t, a, "alice", 2, 2)
	full(t, b, "alice", 2)
	if err := a.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	enterN(t, b, "alice", 2, 2)
}
