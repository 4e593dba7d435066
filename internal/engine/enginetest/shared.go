package enginetest

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/agentgate/agentgate/internal/engine"
)

// PairFactory creates two engines for one test that share one store, as two
// replicas of the gateway do. Like Factory, it starts them empty.
type PairFactory func(t *testing.T, cfg engine.Config) (a, b engine.Engine)

// RunShared runs the contract tests that only make sense across replicas:
// one seq per agent whoever appends, every event on every replica in the
// same order, and leases, idempotency keys, deletion and subscriber counts
// that hold across replicas. Engines that cannot share a store (memory) do
// not run it.
func RunShared(t *testing.T, newPair func(t *testing.T, cfg engine.Config) (a, b engine.Engine)) {
	tests := []struct {
		name string
		run  func(*testing.T, PairFactory)
	}{
		{"SeqGapFreeAcrossReplicas", testSharedSeq},
		{"EventsReachEveryReplicaInOrder", testSharedInterleave},
		{"IdempotencyAcrossReplicas", testSharedIdempotency},
		{"LeaseAcrossReplicas", testSharedLease},
		{"SubscribersSummedAcrossReplicas", testSharedSubscribers},
		{"DeleteReachesEveryReplica", testSharedDelete},
		{"ListAcrossReplicas", testSharedList},
		{"ClosingOneReplica", testSharedClose},
		{"RunAndCancelAcrossReplicas", testSharedRunCancel},
		{"ClaimAcrossReplicas", testSharedClaim},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.run(t, newPair)
		})
	}
}

func openPair(t *testing.T, newPair PairFactory, cfg engine.Config) (a, b engine.Engine) {
	t.Helper()
	a, b = newPair(t, cfg)
	t.Cleanup(func() { _ = a.Close(); _ = b.Close() })
	return a, b
}

func testSharedSeq(t *testing.T, newPair PairFactory) {
	const goroutines, perGoroutine = 16, 30
	const total = goroutines * perGoroutine
	a, b := openPair(t, newPair, engine.Config{HistoryLimit: total, SubscriberBuffer: 2 * total})
	concurrentAppends(t, []engine.Engine{a, b}, []string{"a", "b"}, goroutines, perGoroutine)
}

func testSharedInterleave(t *testing.T, newPair PairFactory) {
	a, b := openPair(t, newPair, engine.Config{})
	interleave(t, a, b, "a")
}

func testSharedIdempotency(t *testing.T, newPair PairFactory) {
	a, b := openPair(t, newPair, engine.Config{})
	ctx := testCtx(t)
	orig, dup, err := appendKeyed(ctx, a, "a", userMsg("once"), "k")
	if err != nil || dup {
		t.Fatalf("AppendUser on a: dup %v, err %v", dup, err)
	}
	again, dup, err := appendKeyed(ctx, b, "a", userMsg("retried elsewhere"), "k")
	if err != nil || !dup {
		t.Fatalf("AppendUser repeating the key on b: dup %v, err %v; want the duplicate", dup, err)
	}
	sameEvent(t, "duplicate from the other replica", again, orig)
}

func testSharedLease(t *testing.T, newPair PairFactory) {
	a, b := openPair(t, newPair, engine.Config{})
	ctx := testCtx(t)
	u := appendUser(t, a, "a", "q")
	la, ok, err := a.AcquireLease(ctx, "a", time.Hour)
	if err != nil || !ok {
		t.Fatalf("AcquireLease on a: %v, %v", ok, err)
	}
	if _, ok, err := b.AcquireLease(ctx, "a", time.Hour); err != nil || ok {
		t.Fatalf("AcquireLease on b while a holds it: ok %v, err %v; want ok false", ok, err)
	}
	if err := b.RenewLease(ctx, la, time.Hour); err != nil {
		t.Fatalf("RenewLease of a's lease through b: %v (the token is the lease)", err)
	}
	if err := a.ReleaseLease(ctx, la); err != nil {
		t.Fatalf("ReleaseLease: %v", err)
	}
	lb, ok, err := b.AcquireLease(ctx, "a", time.Hour)
	if err != nil || !ok {
		t.Fatalf("AcquireLease on b after release: %v, %v", ok, err)
	}
	if _, err := appendReply(ctx, a, "a", replyMsg("stale", u.GetSeq()), u.GetSeq(), la); !errors.Is(err, engine.ErrLeaseLost) {
		t.Fatalf("AppendReply on a with its old lease: %v, want ErrLeaseLost", err)
	}
	if _, err := appendReply(ctx, b, "a", replyMsg("fresh", u.GetSeq()), u.GetSeq(), lb); err != nil {
		t.Fatalf("AppendReply on b with the current lease: %v", err)
	}
	if _, err := appendReply(ctx, b, "a", replyMsg("twice", u.GetSeq()), u.GetSeq(), lb); !errors.Is(err, engine.ErrAlreadyAnswered) {
		t.Fatalf("second AppendReply: %v, want ErrAlreadyAnswered", err)
	}
	answered(t, a, "a", u.GetSeq())
}

func testSharedSubscribers(t *testing.T, newPair PairFactory) {
	a, b := openPair(t, newPair, engine.Config{})
	ctx := testCtx(t)
	appendUser(t, a, "a", "hi")
	sa := subscribe(t, a, "a", engine.SubscribeOptions{})
	subscribe(t, b, "a", engine.SubscribeOptions{})
	subscribe(t, b, "a", engine.SubscribeOptions{})
	subscribe(t, a, "a", engine.SubscribeOptions{Internal: true})
	subscribe(t, b, "a", engine.SubscribeOptions{Internal: true})
	for name, e := range map[string]engine.Engine{"a": a, "b": b} {
		if st, err := e.Stat(ctx, "a"); err != nil || st.Subscribers != 3 {
			t.Fatalf("Stat on %s: Subscribers %d, err %v; want 3 over both replicas", name, st.Subscribers, err)
		}
	}
	sa.Close()
	for name, e := range map[string]engine.Engine{"a": a, "b": b} {
		if st, err := e.Stat(ctx, "a"); err != nil || st.Subscribers != 2 {
			t.Fatalf("Stat on %s after a closed its subscription: Subscribers %d, err %v; want 2", name, st.Subscribers, err)
		}
	}
	if l, err := b.List(ctx, "", 10); err != nil || len(l) != 1 || l[0].Subscribers != 2 {
		t.Fatalf("List on b = %+v, %v; want a with 2 subscribers", l, err)
	}
}

func testSharedDelete(t *testing.T, newPair PairFactory) {
	a, b := openPair(t, newPair, engine.Config{})
	ctx := testCtx(t)
	subs := map[string]engine.Subscription{
		"a": subscribe(t, a, "x", engine.SubscribeOptions{}),
		"b": subscribe(t, b, "x", engine.SubscribeOptions{Internal: true}),
	}
	appendUser(t, a, "x", "one")
	if err := b.Delete(ctx, "x"); err != nil {
		t.Fatalf("Delete on b: %v", err)
	}
	for name, sub := range subs {
		got, err := drain(t, sub)
		if !errors.Is(err, engine.ErrDeleted) || !slices.Equal(descriptions(got), []string{"1:one"}) {
			t.Fatalf("subscription on %s: drained %v, ended with %v; want 1:one then ErrDeleted", name, descriptions(got), err)
		}
	}
	if _, err := a.Stat(ctx, "x"); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("Stat on a after Delete on b: %v, want ErrNotFound", err)
	}
	if err := a.Delete(ctx, "x"); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("Delete on a after Delete on b: %v, want ErrNotFound", err)
	}
}

func testSharedList(t *testing.T, newPair PairFactory) {
	a, b := openPair(t, newPair, engine.Config{})
	ctx := testCtx(t)
	for i, id := range []string{"c", "a", "d", "b"} {
		appendUser(t, []engine.Engine{a, b}[i%2], id, "hi")
	}
	for name, e := range map[string]engine.Engine{"a": a, "b": b} {
		got, err := e.List(ctx, "", 10)
		if err != nil {
			t.Fatalf("List on %s: %v", name, err)
		}
		ids := make([]string, len(got))
		for i, st := range got {
			ids[i] = st.AgentID
		}
		if !slices.Equal(ids, []string{"a", "b", "c", "d"}) {
			t.Fatalf("List on %s = %v, want every agent of both replicas", name, ids)
		}
	}
}

// testSharedClose checks that closing one replica ends only its own
// subscriptions, and that its subscribers stop being counted.
func testSharedClose(t *testing.T, newPair PairFactory) {
	a, b := openPair(t, newPair, engine.Config{})
	ctx := testCtx(t)
	appendUser(t, a, "a", "hi")
	sa := subscribe(t, a, "a", engine.SubscribeOptions{})
	sb := subscribe(t, b, "a", engine.SubscribeOptions{})
	if err := a.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := drain(t, sa); !errors.Is(err, engine.ErrClosed) {
		t.Fatalf("subscription on the closed replica ended with %v, want ErrClosed", err)
	}
	for i := range 3 {
		appendUser(t, b, "a", fmt.Sprint(i))
	}
	if got := descriptions(nextN(t, sb, 3)); !slices.Equal(got, []string{"2:0", "3:1", "4:2"}) {
		t.Fatalf("subscription on the other replica saw %v", got)
	}
	if st, err := b.Stat(ctx, "a"); err != nil || st.Subscribers != 1 {
		t.Fatalf("Stat on b: Subscribers %d, err %v; want 1 (the closed replica's subscribers are gone)", st.Subscribers, err)
	}
}

// testSharedRunCancel: a run written on one replica is seen and cancelled
// from the other.
func testSharedRunCancel(t *testing.T, newPair PairFactory) {
	a, b := openPair(t, newPair, engine.Config{})
	cs := cancelRun(t, a, b)
	if st, err := b.Stat(testCtx(t), "cr"); err != nil || st.Epoch == "" {
		t.Fatalf("Stat on the other replica: epoch %q, err %v", st.Epoch, err)
	}
	cancelsEndOnDelete(t, b, "cr", cs)
}
