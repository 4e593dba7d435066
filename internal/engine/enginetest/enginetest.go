// Package enginetest is the contract test suite of engine.Engine. Every
// engine runs it, so that the agent service can rely on the guarantees
// documented in package engine whichever engine a deployment uses.
//
// Run covers one engine instance; RunShared covers two instances that share
// one store, as two replicas of the gateway behind a load balancer do.
//
// The suite does not sleep to synchronise: it waits for events with a
// deadline, and only polls (every millisecond) to wait out lease TTLs of a
// few milliseconds.
package enginetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/agentgate/agentgate/internal/engine"
)

// Factory creates an engine for one test with cfg. The engine must start
// empty (or at least hold no agent the test did not create) and should be
// closed by t.Cleanup; the suite closes it too.
type Factory func(t *testing.T, cfg engine.Config) engine.Engine

// Run runs the contract tests against the engines newEngine creates. Each
// subtest creates its own engine and runs in parallel with the others.
func Run(t *testing.T, newEngine func(t *testing.T, cfg engine.Config) engine.Engine) {
	tests := []struct {
		name string
		run  func(*testing.T, Factory)
	}{
		{"AppendAssignsSeqAndKeepsInput", testAppendAssignsSeq},
		{"SeqGapFreeUnderConcurrentAppends", testConcurrentAppends},
		{"ReadBoundsAndTrim", testReadBoundsAndTrim},
		{"IdempotencyKeys", testIdempotencyKeys},
		{"Leases", testLeases},
		{"LeaseExpires", testLeaseExpires},
		{"RenewExtendsLease", testRenewExtendsLease},
		{"AppendReplyFencing", testAppendReplyFencing},
		{"PublishInterleavesWithAppends", testPublishInterleaves},
		{"SubscribeSeesOnlyLaterEvents", testSubscribeSeesOnlyLater},
		{"SlowSubscriberOverflows", testOverflow},
		{"SubscriptionClose", testSubscriptionClose},
		{"Delete", testDelete},
		{"Stat", testStat},
		{"ListPagesByID", testList},
		{"Close", testClose},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.run(t, newEngine)
		})
	}
}

func testAppendAssignsSeq(t *testing.T, newEngine Factory) {
	e := open(t, newEngine, engine.Config{})
	ctx := testCtx(t)
	for i := range 3 {
		in := userMsg(fmt.Sprint("hello ", i))
		orig := in.String()
		stored, dup, err := e.AppendUser(ctx, "a", in, "")
		if err != nil || dup {
			t.Fatalf("AppendUser #%d: dup %v, err %v", i, dup, err)
		}
		if stored.GetSeq() != uint64(i+1) || stored.GetAgentId() != "a" {
			t.Fatalf("AppendUser #%d stored seq %d agent %q, want seq %d agent a", i, stored.GetSeq(), stored.GetAgentId(), i+1)
		}
		if in.String() != orig {
			t.Fatalf("AppendUser modified its input: %v, was %v", in, orig)
		}
		want := userMsg(fmt.Sprint("hello ", i))
		want.Seq, want.AgentId = uint64(i+1), "a"
		sameEvent(t, "stored event", stored, want)
	}
	p, err := e.Read(ctx, "a", 0, 10)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	if got := descriptions(p.Events); !slices.Equal(got, []string{"1:hello 0", "2:hello 1", "3:hello 2"}) {
		t.Fatalf("Read events %v", got)
	}
	if p.FirstSeq != 1 || p.LastSeq != 3 || p.Answered != 0 {
		t.Fatalf("Read bounds first %d last %d answered %d, want 1 3 0", p.FirstSeq, p.LastSeq, p.Answered)
	}
}

// testConcurrentAppends appends from many goroutines to two agents at once
// and checks that each agent's seqs are 1..n without gaps or repeats, that
// each goroutine sees its own appends in increasing order, and that a
// subscriber receives them in seq order.
func testConcurrentAppends(t *testing.T, newEngine Factory) {
	const goroutines, perGoroutine = 16, 40
	const total = goroutines * perGoroutine
	e := open(t, newEngine, engine.Config{HistoryLimit: total, SubscriberBuffer: 2 * total})
	concurrentAppends(t, []engine.Engine{e}, []string{"a", "b"}, goroutines, perGoroutine)
}

// concurrentAppends is shared with RunShared: the goroutines take turns
// between the engines in es, which share one store.
func concurrentAppends(t *testing.T, es []engine.Engine, agents []string, goroutines, perGoroutine int) {
	total := goroutines * perGoroutine
	ctx := testCtx(t)
	subs := make(map[string][]engine.Subscription)
	for _, id := range agents {
		for _, e := range es {
			subs[id] = append(subs[id], subscribe(t, e, id, engine.SubscribeOptions{}))
		}
	}

	var mu sync.Mutex
	texts := make(map[string]map[uint64]string) // agent -> seq -> text
	for _, id := range agents {
		texts[id] = make(map[uint64]string)
	}
	errs := make(chan error, goroutines)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e := es[g%len(es)]
			last := make(map[string]uint64)
			for i := range perGoroutine {
				for _, id := range agents {
					text := fmt.Sprintf("g%d-%d", g, i)
					ev, dup, err := e.AppendUser(ctx, id, userMsg(text), "")
					if err != nil || dup {
						errs <- fmt.Errorf("AppendUser(%s, %s): dup %v, err %v", id, text, dup, err)
						return
					}
					if ev.GetSeq() <= last[id] {
						errs <- fmt.Errorf("goroutine %d got seq %d after %d on %s", g, ev.GetSeq(), last[id], id)
						return
					}
					last[id] = ev.GetSeq()
					mu.Lock()
					if prev, ok := texts[id][ev.GetSeq()]; ok {
						mu.Unlock()
						errs <- fmt.Errorf("seq %d of %s given to %s and %s", ev.GetSeq(), id, prev, text)
						return
					}
					texts[id][ev.GetSeq()] = text
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	for _, id := range agents {
		want := make([]string, total)
		for seq := 1; seq <= total; seq++ {
			text, ok := texts[id][uint64(seq)]
			if !ok {
				t.Fatalf("agent %s: seq %d was never returned (seqs must be 1..%d without gaps)", id, seq, total)
			}
			want[seq-1] = fmt.Sprintf("%d:%s", seq, text)
		}
		for i, e := range es {
			p, err := e.Read(ctx, id, 0, total)
			if err != nil {
				t.Fatalf("Read(%s) on engine %d: %v", id, i, err)
			}
			if got := descriptions(p.Events); !slices.Equal(got, want) {
				t.Fatalf("Read(%s) on engine %d differs from the appends:\n got %v\nwant %v", id, i, got, want)
			}
			if p.FirstSeq != 1 || p.LastSeq != uint64(total) {
				t.Fatalf("Read(%s) bounds %d..%d, want 1..%d", id, p.FirstSeq, p.LastSeq, total)
			}
		}
		for i, sub := range subs[id] {
			if got := descriptions(nextN(t, sub, total)); !slices.Equal(got, want) {
				t.Fatalf("subscriber %d of %s saw another order:\n got %v\nwant %v", i, id, got, want)
			}
		}
	}
}

func testReadBoundsAndTrim(t *testing.T, newEngine Factory) {
	e := open(t, newEngine, engine.Config{HistoryLimit: 5})
	ctx := testCtx(t)

	p, err := e.Read(ctx, "nobody", 0, 10)
	if err != nil || len(p.Events) != 0 || p.FirstSeq != 0 || p.LastSeq != 0 || p.Answered != 0 {
		t.Fatalf("Read of an unknown agent = %+v, %v; want an empty Page and no error", p, err)
	}
	for i := 1; i <= 12; i++ {
		appendUser(t, e, "a", fmt.Sprint(i))
	}
	for _, tc := range []struct {
		after uint64
		limit int
		want  []uint64
	}{
		{0, 100, []uint64{8, 9, 10, 11, 12}}, // the trimmed start is skipped
		{3, 100, []uint64{8, 9, 10, 11, 12}},
		{7, 100, []uint64{8, 9, 10, 11, 12}},
		{9, 2, []uint64{10, 11}},
		{11, 5, []uint64{12}},
		{12, 5, nil},
		{100, 5, nil},
		{0, 0, nil}, // bounds only
	} {
		p, err := e.Read(ctx, "a", tc.after, tc.limit)
		if err != nil {
			t.Fatalf("Read(after %d, limit %d): %v", tc.after, tc.limit, err)
		}
		if got := seqs(p.Events); !slices.Equal(got, tc.want) {
			t.Fatalf("Read(after %d, limit %d) seqs %v, want %v", tc.after, tc.limit, got, tc.want)
		}
		if p.FirstSeq != 8 || p.LastSeq != 12 {
			t.Fatalf("Read(after %d, limit %d) bounds %d..%d, want 8..12", tc.after, tc.limit, p.FirstSeq, p.LastSeq)
		}
	}
	st, err := e.Stat(ctx, "a")
	if err != nil || st.FirstSeq != 8 || st.LastSeq != 12 {
		t.Fatalf("Stat = %+v, %v; want bounds 8..12", st, err)
	}
}

// testIdempotencyKeys checks that a repeated key returns the original event
// and appends nothing, also after the original was trimmed from the log, and
// that keys are scoped to their agent.
func testIdempotencyKeys(t *testing.T, newEngine Factory) {
	e := open(t, newEngine, engine.Config{HistoryLimit: 2})
	ctx := testCtx(t)

	orig, dup, err := e.AppendUser(ctx, "a", userMsg("first"), "k1")
	if err != nil || dup {
		t.Fatalf("first AppendUser with k1: dup %v, err %v", dup, err)
	}
	appendUser(t, e, "a", "other")
	again, dup, err := e.AppendUser(ctx, "a", userMsg("retry with other text"), "k1")
	if err != nil || !dup {
		t.Fatalf("AppendUser repeating k1: dup %v, err %v; want the duplicate", dup, err)
	}
	sameEvent(t, "duplicate", again, orig)
	if p, _ := e.Read(ctx, "a", 0, 0); p.LastSeq != 2 {
		t.Fatalf("LastSeq %d after a duplicate, want 2 (nothing appended)", p.LastSeq)
	}

	for i := range 4 { // trim the original away
		appendUser(t, e, "a", fmt.Sprint("filler ", i))
	}
	if p, _ := e.Read(ctx, "a", 0, 0); p.FirstSeq <= orig.GetSeq() {
		t.Fatalf("FirstSeq %d: the original (seq %d) should be trimmed by now", p.FirstSeq, orig.GetSeq())
	}
	again, dup, err = e.AppendUser(ctx, "a", userMsg("late retry"), "k1")
	if err != nil || !dup {
		t.Fatalf("AppendUser repeating k1 after trimming: dup %v, err %v; want the duplicate", dup, err)
	}
	sameEvent(t, "duplicate after trimming", again, orig)

	other, dup, err := e.AppendUser(ctx, "b", userMsg("first"), "k1")
	if err != nil || dup || other.GetSeq() != 1 {
		t.Fatalf("k1 on another agent: seq %d, dup %v, err %v; want a new event with seq 1", other.GetSeq(), dup, err)
	}
	x, _, _ := e.AppendUser(ctx, "a", userMsg("no key"), "")
	y, dup, err := e.AppendUser(ctx, "a", userMsg("no key"), "")
	if err != nil || dup || y.GetSeq() != x.GetSeq()+1 {
		t.Fatalf("an empty key deduplicated: seqs %d then %d, dup %v, err %v", x.GetSeq(), y.GetSeq(), dup, err)
	}
}

func testLeases(t *testing.T, newEngine Factory) {
	e := open(t, newEngine, engine.Config{})
	ctx := testCtx(t)

	l1, ok, err := e.AcquireLease(ctx, "a", time.Hour)
	if err != nil || !ok || l1.AgentID != "a" || l1.Token == "" {
		t.Fatalf("AcquireLease = %+v, %v, %v; want a lease", l1, ok, err)
	}
	if l, ok, err := e.AcquireLease(ctx, "a", time.Hour); err != nil || ok {
		t.Fatalf("AcquireLease while held = %+v, %v, %v; want ok false and no error", l, ok, err)
	}
	if _, ok, err := e.AcquireLease(ctx, "b", time.Hour); err != nil || !ok {
		t.Fatalf("AcquireLease of another agent: ok %v, err %v; leases are per agent", ok, err)
	}
	if err := e.RenewLease(ctx, l1, time.Hour); err != nil {
		t.Fatalf("RenewLease of a held lease: %v", err)
	}
	if err := e.ReleaseLease(ctx, l1); err != nil {
		t.Fatalf("ReleaseLease: %v", err)
	}
	if err := e.RenewLease(ctx, l1, time.Hour); !errors.Is(err, engine.ErrLeaseLost) {
		t.Fatalf("RenewLease after release: %v, want ErrLeaseLost", err)
	}
	l2, ok, err := e.AcquireLease(ctx, "a", time.Hour)
	if err != nil || !ok || l2.Token == l1.Token {
		t.Fatalf("AcquireLease after release = %+v, %v, %v; want a new lease with a new token", l2, ok, err)
	}
	if err := e.ReleaseLease(ctx, l1); err != nil {
		t.Fatalf("ReleaseLease of a lost lease: %v, want a no-op", err)
	}
	if _, ok, _ := e.AcquireLease(ctx, "a", time.Hour); ok {
		t.Fatal("releasing a lost lease released the current holder's lease")
	}
	if err := e.RenewLease(ctx, engine.Lease{AgentID: "a", Token: "forged"}, time.Hour); !errors.Is(err, engine.ErrLeaseLost) {
		t.Fatalf("RenewLease with a foreign token: %v, want ErrLeaseLost", err)
	}
}

func testLeaseExpires(t *testing.T, newEngine Factory) {
	e := open(t, newEngine, engine.Config{})
	ctx := testCtx(t)
	l1, ok, err := e.AcquireLease(ctx, "a", 5*time.Millisecond)
	if err != nil || !ok {
		t.Fatalf("AcquireLease: %v, %v", ok, err)
	}
	var l2 engine.Lease
	eventually(t, "the lease expires after its ttl", func() bool {
		var ok bool
		l2, ok, err = e.AcquireLease(ctx, "a", time.Hour)
		if err != nil {
			t.Fatalf("AcquireLease: %v", err)
		}
		return ok
	})
	if err := e.RenewLease(ctx, l1, time.Hour); !errors.Is(err, engine.ErrLeaseLost) {
		t.Fatalf("RenewLease of an expired, taken-over lease: %v, want ErrLeaseLost", err)
	}
	if err := e.ReleaseLease(ctx, l1); err != nil {
		t.Fatalf("ReleaseLease of an expired lease: %v", err)
	}
	if err := e.RenewLease(ctx, l2, time.Hour); err != nil {
		t.Fatalf("the new holder lost its lease to a stale release: %v", err)
	}
}

// testRenewExtendsLease proves that RenewLease extends the ttl without
// sleeping: a probe lease with the same short ttl, taken after the renewal,
// expires first, so the renewed lease has outlived its original ttl.
func testRenewExtendsLease(t *testing.T, newEngine Factory) {
	const short = 20 * time.Millisecond
	e := open(t, newEngine, engine.Config{})
	ctx := testCtx(t)
	l, ok, err := e.AcquireLease(ctx, "a", short)
	if err != nil || !ok {
		t.Fatalf("AcquireLease: %v, %v", ok, err)
	}
	if err := e.RenewLease(ctx, l, time.Hour); err != nil {
		t.Fatalf("RenewLease: %v", err)
	}
	if _, ok, err := e.AcquireLease(ctx, "probe", short); err != nil || !ok {
		t.Fatalf("AcquireLease(probe): %v, %v", ok, err)
	}
	eventually(t, "the probe lease expires", func() bool {
		_, ok, err := e.AcquireLease(ctx, "probe", time.Hour)
		if err != nil {
			t.Fatalf("AcquireLease(probe): %v", err)
		}
		return ok
	})
	if _, ok, err := e.AcquireLease(ctx, "a", time.Hour); err != nil || ok {
		t.Fatalf("AcquireLease after the original ttl: ok %v, err %v; the renewal should still hold", ok, err)
	}
}

func testAppendReplyFencing(t *testing.T, newEngine Factory) {
	e := open(t, newEngine, engine.Config{})
	ctx := testCtx(t)
	u1 := appendUser(t, e, "a", "q1")

	if _, err := e.AppendReply(ctx, "a", replyMsg("a1", 1), 1, engine.Lease{}); !errors.Is(err, engine.ErrLeaseLost) {
		t.Fatalf("AppendReply without a lease: %v, want ErrLeaseLost", err)
	}
	lease, ok, err := e.AcquireLease(ctx, "a", time.Hour)
	if err != nil || !ok {
		t.Fatalf("AcquireLease: %v, %v", ok, err)
	}
	if _, err := e.AppendReply(ctx, "a", replyMsg("a1", 1), 1, engine.Lease{AgentID: "a", Token: "forged"}); !errors.Is(err, engine.ErrLeaseLost) {
		t.Fatalf("AppendReply with a foreign token: %v, want ErrLeaseLost", err)
	}
	in := replyMsg("a1", 1)
	orig := in.String()
	r1, err := e.AppendReply(ctx, "a", in, u1.GetSeq(), lease)
	if err != nil {
		t.Fatalf("AppendReply with the lease: %v", err)
	}
	if r1.GetSeq() != 2 || r1.GetAgentId() != "a" || r1.GetMessage().GetText() != "a1" {
		t.Fatalf("reply stored as %v, want seq 2 of agent a", r1)
	}
	if in.String() != orig {
		t.Fatal("AppendReply modified its input")
	}
	answered(t, e, "a", 1)
	for _, seq := range []uint64{0, 1} {
		if _, err := e.AppendReply(ctx, "a", replyMsg("again", seq), seq, lease); !errors.Is(err, engine.ErrAlreadyAnswered) {
			t.Fatalf("AppendReply answering %d again: %v, want ErrAlreadyAnswered", seq, err)
		}
	}

	appendUser(t, e, "a", "q3")
	u4 := appendUser(t, e, "a", "q4")
	if _, err := e.AppendReply(ctx, "a", replyMsg("a4", u4.GetSeq()), u4.GetSeq(), lease); err != nil {
		t.Fatalf("AppendReply to seq %d: %v", u4.GetSeq(), err)
	}
	answered(t, e, "a", u4.GetSeq())
	if _, err := e.AppendReply(ctx, "a", replyMsg("a3", 3), 3, lease); !errors.Is(err, engine.ErrAlreadyAnswered) {
		t.Fatalf("AppendReply to seq 3 after 4 was answered: %v, want ErrAlreadyAnswered", err)
	}

	// An expired lease is fenced off once another holder has the lease.
	if err := e.ReleaseLease(ctx, lease); err != nil {
		t.Fatalf("ReleaseLease: %v", err)
	}
	u6 := appendUser(t, e, "a", "q6")
	if _, err := e.AppendReply(ctx, "a", replyMsg("a6", u6.GetSeq()), u6.GetSeq(), lease); !errors.Is(err, engine.ErrLeaseLost) {
		t.Fatalf("AppendReply with a released lease: %v, want ErrLeaseLost", err)
	}
	short, ok, err := e.AcquireLease(ctx, "a", 5*time.Millisecond)
	if err != nil || !ok {
		t.Fatalf("AcquireLease: %v, %v", ok, err)
	}
	eventually(t, "the short lease expires", func() bool {
		_, ok, err := e.AcquireLease(ctx, "a", time.Hour)
		if err != nil {
			t.Fatalf("AcquireLease: %v", err)
		}
		return ok
	})
	if _, err := e.AppendReply(ctx, "a", replyMsg("a6", u6.GetSeq()), u6.GetSeq(), short); !errors.Is(err, engine.ErrLeaseLost) {
		t.Fatalf("AppendReply with an expired lease: %v, want ErrLeaseLost", err)
	}
	answered(t, e, "a", u4.GetSeq())
	if p, _ := e.Read(ctx, "a", 0, 100); !slices.Equal(descriptions(p.Events), []string{"1:q1", "2:a1", "3:q3", "4:q4", "5:a4", "6:q6"}) {
		t.Fatalf("log %v: a rejected reply was appended", descriptions(p.Events))
	}

	// Replying to an agent that has no log fails even with a lease.
	gone, ok, err := e.AcquireLease(ctx, "nobody", time.Hour)
	if err != nil || !ok {
		t.Fatalf("AcquireLease(nobody): %v, %v", ok, err)
	}
	if _, err := e.AppendReply(ctx, "nobody", replyMsg("x", 1), 1, gone); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("AppendReply to an agent without a log: %v, want ErrNotFound", err)
	}
}

func answered(t *testing.T, e engine.Engine, agentID string, want uint64) {
	t.Helper()
	ctx := testCtx(t)
	st, err := e.Stat(ctx, agentID)
	if err != nil || st.Answered != want {
		t.Fatalf("Stat.Answered = %d (err %v), want %d", st.Answered, err, want)
	}
	p, err := e.Read(ctx, agentID, 0, 0)
	if err != nil || p.Answered != want {
		t.Fatalf("Page.Answered = %d (err %v), want %d", p.Answered, err, want)
	}
}

func testPublishInterleaves(t *testing.T, newEngine Factory) {
	e := open(t, newEngine, engine.Config{})
	interleave(t, e, e, "a")

	ctx := testCtx(t)
	if err := e.Publish(ctx, "quiet", delta("quiet", "nobody listens")); err != nil {
		t.Fatalf("Publish without subscribers: %v", err)
	}
	if _, err := e.Stat(ctx, "quiet"); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("Stat after Publish: %v, want ErrNotFound (Publish creates nothing)", err)
	}
}

// interleave appends and publishes, alternating between a and b (the same
// engine, or two replicas), and checks that subscribers of both see exactly
// that order while Read sees only the persisted events.
func interleave(t *testing.T, a, b engine.Engine, agentID string) {
	ctx := testCtx(t)
	subs := []engine.Subscription{subscribe(t, a, agentID, engine.SubscribeOptions{})}
	if b != a {
		subs = append(subs, subscribe(t, b, agentID, engine.SubscribeOptions{}))
	}
	lease, ok, err := b.AcquireLease(ctx, agentID, time.Hour)
	if err != nil || !ok {
		t.Fatalf("AcquireLease: %v, %v", ok, err)
	}
	steps := []func() error{
		func() error { _, _, err := a.AppendUser(ctx, agentID, userMsg("q1"), ""); return err },
		func() error { return b.Publish(ctx, agentID, delta(agentID, "x")) },
		func() error { return a.Publish(ctx, agentID, delta(agentID, "y")) },
		func() error { _, err := b.AppendReply(ctx, agentID, replyMsg("xy", 1), 1, lease); return err },
		func() error { return a.Publish(ctx, agentID, delta(agentID, "z")) },
		func() error { _, _, err := b.AppendUser(ctx, agentID, userMsg("q3"), ""); return err },
	}
	for i, step := range steps {
		if err := step(); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	want := []string{"1:q1", "0:~x", "0:~y", "2:xy", "0:~z", "3:q3"}
	for i, sub := range subs {
		if got := descriptions(nextN(t, sub, len(want))); !slices.Equal(got, want) {
			t.Fatalf("subscriber %d saw %v, want %v", i, got, want)
		}
	}
	p, err := a.Read(ctx, agentID, 0, 100)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	if got := descriptions(p.Events); !slices.Equal(got, []string{"1:q1", "2:xy", "3:q3"}) {
		t.Fatalf("Read %v: ephemeral events must not be stored", got)
	}
}

func testSubscribeSeesOnlyLater(t *testing.T, newEngine Factory) {
	e := open(t, newEngine, engine.Config{})
	ctx := testCtx(t)

	early := subscribe(t, e, "a", engine.SubscribeOptions{})
	if _, err := e.Stat(ctx, "a"); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("Stat after Subscribe: %v, want ErrNotFound (Subscribe creates nothing)", err)
	}
	if l, _ := e.List(ctx, "", 10); len(l) != 0 {
		t.Fatalf("List after Subscribe = %v, want none", l)
	}
	appendUser(t, e, "a", "one")
	late := subscribe(t, e, "a", engine.SubscribeOptions{})
	appendUser(t, e, "a", "two")
	other := subscribe(t, e, "b", engine.SubscribeOptions{})
	appendUser(t, e, "b", "elsewhere")
	appendUser(t, e, "a", "three")

	if got := descriptions(nextN(t, early, 3)); !slices.Equal(got, []string{"1:one", "2:two", "3:three"}) {
		t.Fatalf("early subscriber saw %v", got)
	}
	if got := descriptions(nextN(t, late, 2)); !slices.Equal(got, []string{"2:two", "3:three"}) {
		t.Fatalf("late subscriber saw %v: events appended before Subscribe must not be delivered", got)
	}
	if got := describe(next(t, other)); got != "1:elsewhere" {
		t.Fatalf("subscriber of b saw %s", got)
	}
	for name, sub := range map[string]engine.Subscription{"early": early, "late": late, "other": other} {
		if ev, ok := sub.Next(); ok {
			t.Fatalf("%s subscriber got an extra event %s", name, describe(ev))
		}
		if err := sub.Err(); err != nil {
			t.Fatalf("%s subscriber: Err %v while running", name, err)
		}
	}
}

// testOverflow checks that a subscriber that does not read is dropped with
// ErrOverflow once SubscriberBuffer events wait, while the appender never
// blocks and a subscriber that keeps up gets everything.
func testOverflow(t *testing.T, newEngine Factory) {
	const buffer, total = 4, 20
	e := open(t, newEngine, engine.Config{SubscriberBuffer: buffer})
	ctx := testCtx(t)
	slow := subscribe(t, e, "a", engine.SubscribeOptions{})
	fast := subscribe(t, e, "a", engine.SubscribeOptions{})
	for i := 1; i <= total; i++ {
		ev := appendUser(t, e, "a", fmt.Sprint(i)) // returns although slow is full
		if got := next(t, fast); got.GetSeq() != ev.GetSeq() {
			t.Fatalf("fast subscriber got seq %d, want %d", got.GetSeq(), ev.GetSeq())
		}
		if i == 1 && slow.Err() != nil {
			t.Fatalf("slow subscriber Err %v before it fell behind", slow.Err())
		}
	}
	if err := e.Publish(ctx, "a", delta("a", "after")); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	if got := describe(next(t, fast)); got != "0:~after" {
		t.Fatalf("fast subscriber got %s after the slow one was dropped", got)
	}
	got, err := drain(t, slow)
	if !errors.Is(err, engine.ErrOverflow) {
		t.Fatalf("slow subscriber ended with %v, want ErrOverflow", err)
	}
	if len(got) > buffer {
		t.Fatalf("slow subscriber got %d events, more than its buffer of %d", len(got), buffer)
	}
	for i, ev := range got {
		if ev.GetSeq() != uint64(i+1) {
			t.Fatalf("slow subscriber got %v, want a prefix of the log", seqs(got))
		}
	}
	if ended(fast) {
		t.Fatalf("fast subscriber ended with %v", fast.Err())
	}
}

func testSubscriptionClose(t *testing.T, newEngine Factory) {
	e := open(t, newEngine, engine.Config{})
	a := subscribe(t, e, "a", engine.SubscribeOptions{})
	b := subscribe(t, e, "a", engine.SubscribeOptions{})
	appendUser(t, e, "a", "before")
	next(t, a)
	a.Close()
	a.Close() // idempotent
	if _, err := drain(t, a); err != nil {
		t.Fatalf("Err after Close = %v, want nil", err)
	}
	appendUser(t, e, "a", "after")
	if got := descriptions(nextN(t, b, 2)); !slices.Equal(got, []string{"1:before", "2:after"}) {
		t.Fatalf("the other subscriber saw %v", got)
	}
	if ev, ok := a.Next(); ok {
		t.Fatalf("closed subscription delivered %s", describe(ev))
	}
}

func testDelete(t *testing.T, newEngine Factory) {
	e := open(t, newEngine, engine.Config{})
	ctx := testCtx(t)
	if err := e.Delete(ctx, "nobody"); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("Delete of an unknown agent: %v, want ErrNotFound", err)
	}
	client := subscribe(t, e, "a", engine.SubscribeOptions{})
	internal := subscribe(t, e, "a", engine.SubscribeOptions{Internal: true})
	bystander := subscribe(t, e, "b", engine.SubscribeOptions{})
	if _, _, err := e.AppendUser(ctx, "a", userMsg("one"), "k"); err != nil {
		t.Fatalf("AppendUser: %v", err)
	}
	appendUser(t, e, "a", "two")
	appendUser(t, e, "b", "stays")
	if _, ok, err := e.AcquireLease(ctx, "a", time.Hour); err != nil || !ok {
		t.Fatalf("AcquireLease: %v, %v", ok, err)
	}

	if err := e.Delete(ctx, "a"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	for name, sub := range map[string]engine.Subscription{"client": client, "internal": internal} {
		got, err := drain(t, sub)
		if !errors.Is(err, engine.ErrDeleted) {
			t.Fatalf("%s subscription ended with %v, want ErrDeleted", name, err)
		}
		if !slices.Equal(descriptions(got), []string{"1:one", "2:two"}) {
			t.Fatalf("%s subscription drained %v, want the events before the deletion", name, descriptions(got))
		}
	}
	if got := describe(next(t, bystander)); got != "1:stays" || ended(bystander) {
		t.Fatalf("subscriber of another agent: %s, ended %v", got, ended(bystander))
	}
	if _, err := e.Stat(ctx, "a"); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("Stat after Delete: %v, want ErrNotFound", err)
	}
	if p, err := e.Read(ctx, "a", 0, 10); err != nil || len(p.Events) != 0 || p.LastSeq != 0 {
		t.Fatalf("Read after Delete = %+v, %v; want an empty Page", p, err)
	}
	if l, err := e.List(ctx, "", 10); err != nil || len(l) != 1 || l[0].AgentID != "b" {
		t.Fatalf("List after Delete = %+v, %v; want only b", l, err)
	}
	if err := e.Delete(ctx, "a"); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("second Delete: %v, want ErrNotFound", err)
	}
	if _, ok, err := e.AcquireLease(ctx, "a", time.Hour); err != nil || !ok {
		t.Fatalf("AcquireLease after Delete: ok %v, err %v; the lease should be gone", ok, err)
	}

	// The agent starts over: seq 1, and its old idempotency key is forgotten.
	fresh := subscribe(t, e, "a", engine.SubscribeOptions{})
	ev, dup, err := e.AppendUser(ctx, "a", userMsg("reborn"), "k")
	if err != nil || dup || ev.GetSeq() != 1 {
		t.Fatalf("AppendUser after Delete: seq %d, dup %v, err %v; want seq 1, not a duplicate", ev.GetSeq(), dup, err)
	}
	if got := describe(next(t, fresh)); got != "1:reborn" {
		t.Fatalf("new subscriber saw %s", got)
	}
}

func testStat(t *testing.T, newEngine Factory) {
	t0 := time.Date(2030, 1, 2, 3, 4, 5, 6_000_000, time.UTC)
	clk := newClock(t0)
	e := open(t, newEngine, engine.Config{Now: clk.now})
	ctx := testCtx(t)

	if _, err := e.Stat(ctx, "a"); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("Stat of an unknown agent: %v, want ErrNotFound", err)
	}
	appendUser(t, e, "a", "one")
	t1 := t0.Add(90 * time.Second)
	clk.set(t1)
	appendUser(t, e, "a", "two")

	c1 := subscribe(t, e, "a", engine.SubscribeOptions{})
	subscribe(t, e, "a", engine.SubscribeOptions{})
	subscribe(t, e, "a", engine.SubscribeOptions{Internal: true})
	subscribe(t, e, "b", engine.SubscribeOptions{})

	st, err := e.Stat(ctx, "a")
	if err != nil {
		t.Fatalf("Stat: %v", err)
	}
	want := engine.Stat{AgentID: "a", FirstSeq: 1, LastSeq: 2, Subscribers: 2}
	if st.AgentID != want.AgentID || st.FirstSeq != want.FirstSeq || st.LastSeq != want.LastSeq || st.Answered != 0 || st.Subscribers != want.Subscribers {
		t.Fatalf("Stat = %+v, want %+v (internal subscriptions not counted)", st, want)
	}
	if !st.Created.Equal(t0) || !st.LastActive.Equal(t1) {
		t.Fatalf("Stat Created %v LastActive %v, want %v and %v from Config.Now", st.Created, st.LastActive, t0, t1)
	}

	c1.Close()
	if st, err := e.Stat(ctx, "a"); err != nil || st.Subscribers != 1 {
		t.Fatalf("Stat after closing a subscription: Subscribers %d, err %v; want 1", st.Subscribers, err)
	}
}

func testList(t *testing.T, newEngine Factory) {
	e := open(t, newEngine, engine.Config{})
	ctx := testCtx(t)
	for _, id := range []string{"d4", "a1", "e5", "c3", "b2", "c0"} {
		appendUser(t, e, id, "hi")
	}
	appendUser(t, e, "e5", "again")
	if err := e.Delete(ctx, "c0"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	subscribe(t, e, "zz", engine.SubscribeOptions{}) // not an agent yet

	for _, tc := range []struct {
		after string
		limit int
		want  []string
	}{
		{"", 2, []string{"a1", "b2"}},
		{"b2", 2, []string{"c3", "d4"}},
		{"d4", 10, []string{"e5"}},
		{"e5", 10, nil},
		{"b", 1, []string{"b2"}},
		{"", 0, nil},
		{"", 100, []string{"a1", "b2", "c3", "d4", "e5"}},
	} {
		got, err := e.List(ctx, tc.after, tc.limit)
		if err != nil {
			t.Fatalf("List(%q, %d): %v", tc.after, tc.limit, err)
		}
		ids := make([]string, len(got))
		for i, st := range got {
			ids[i] = st.AgentID
			wantLast := uint64(1)
			if st.AgentID == "e5" {
				wantLast = 2
			}
			if st.LastSeq != wantLast || st.FirstSeq != 1 || st.Created.IsZero() {
				t.Fatalf("List(%q, %d) entry %+v: want the agent's Stat", tc.after, tc.limit, st)
			}
		}
		if !slices.Equal(ids, tc.want) {
			t.Fatalf("List(%q, %d) = %v, want %v", tc.after, tc.limit, ids, tc.want)
		}
	}
}

func testClose(t *testing.T, newEngine Factory) {
	e := open(t, newEngine, engine.Config{})
	ctx := testCtx(t)
	a := subscribe(t, e, "a", engine.SubscribeOptions{})
	b := subscribe(t, e, "b", engine.SubscribeOptions{Internal: true})
	appendUser(t, e, "a", "one")
	next(t, a)

	if err := e.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := e.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	for name, sub := range map[string]engine.Subscription{"a": a, "b": b} {
		if _, err := drain(t, sub); !errors.Is(err, engine.ErrClosed) {
			t.Fatalf("subscription %s ended with %v, want ErrClosed", name, err)
		}
		sub.Close()
	}
	_, _, err := e.AppendUser(ctx, "a", userMsg("late"), "")
	checkClosed(t, "AppendUser", err)
	_, err = e.Subscribe(ctx, "a", engine.SubscribeOptions{})
	checkClosed(t, "Subscribe", err)
	_, err = e.Read(ctx, "a", 0, 10)
	checkClosed(t, "Read", err)
	_, err = e.Stat(ctx, "a")
	checkClosed(t, "Stat", err)
	checkClosed(t, "Publish", e.Publish(ctx, "a", delta("a", "x")))
	checkClosed(t, "Ping", e.Ping(ctx))
}

func checkClosed(t *testing.T, call string, err error) {
	t.Helper()
	if !errors.Is(err, engine.ErrClosed) {
		t.Fatalf("%s after Close: %v, want ErrClosed", call, err)
	}
}
