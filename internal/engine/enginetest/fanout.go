package enginetest

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/agentgate/agentgate/internal/engine"
)

// This file tests the fan-out of live events to subscriptions.

func testPublishInterleaves(t *testing.T, newEngine Factory) {
	e := open(t, newEngine, engine.Config{})
	interleave(t, e, e, "a")

	ctx := testCtx(t)
	if err := publish(ctx, e, "quiet", delta("quiet", "nobody listens")); err != nil {
		t.Fatalf("PublishRun without subscribers: %v", err)
	}
	if _, err := e.Stat(ctx, "quiet"); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("Stat after PublishRun: %v, want ErrNotFound (publishing creates nothing)", err)
	}
}

// interleave appends and publishes, alternating between a and b (the same
// engine, or two replicas), and checks that subscribers of both see exactly
// that order while Read sees only the persisted events. PublishRun may
// return before its event is out, so what follows a publish is done on the
// same engine (as the agent's worker does, which publishes a reply's deltas
// and then appends it); appends return once done, and may be followed by
// either.
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
		func() error { _, _, err := appendKeyed(ctx, a, agentID, userMsg("q1"), ""); return err },
		func() error { return publish(ctx, b, agentID, delta(agentID, "x")) },
		func() error { return publish(ctx, b, agentID, delta(agentID, "y")) },
		func() error { _, err := appendReply(ctx, b, agentID, replyMsg("xy", 1), 1, lease); return err },
		func() error { return publish(ctx, a, agentID, delta(agentID, "z")) },
		func() error { _, _, err := appendKeyed(ctx, a, agentID, userMsg("q3"), ""); return err },
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
	if err := publish(ctx, e, "a", delta("a", "after")); err != nil {
		t.Fatalf("PublishRun: %v", err)
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

// testNotify: a subscription's Notify function is called for every event
// that arrives and when it ends, and at once for events already waiting, so
// that a consumer can wait without parking a goroutine on Ready.
func testNotify(t *testing.T, newEngine Factory) {
	e := open(t, newEngine, engine.Config{})
	ctx := testCtx(t)
	sub := subscribe(t, e, "n", engine.SubscribeOptions{})
	appendUser(t, e, "n", "waiting")

	calls := make(chan struct{}, 16)
	notify := func() {
		select {
		case calls <- struct{}{}:
		default:
		}
	}
	// An event waits already: Notify calls at once, or the event arrives
	// and calls it.
	// A consumer driven by Notify takes Ready's token, then the events.
	take := func() []string {
		t.Helper()
		select {
		case <-sub.Ready():
		default:
			t.Fatal("Notify was called but Ready is not ready")
		}
		var got []string
		for {
			ev, ok := sub.Next()
			if !ok {
				return got
			}
			got = append(got, describe(ev))
		}
	}
	sub.Notify(notify)
	waitNotify(t, calls, "an event waiting when Notify was set")
	if got := take(); !slices.Equal(got, []string{"1:waiting"}) {
		t.Fatalf("got %v", got)
	}
	drainCalls(calls)

	if err := publish(ctx, e, "n", delta("n", "d")); err != nil {
		t.Fatal(err)
	}
	waitNotify(t, calls, "a published event")
	if got := take(); !slices.Equal(got, []string{"0:~d"}) {
		t.Fatalf("got %v", got)
	}
	drainCalls(calls)

	if err := e.Delete(ctx, "n"); err != nil {
		t.Fatal(err)
	}
	waitNotify(t, calls, "the end of the subscription")
	if _, err := drain(t, sub); !errors.Is(err, engine.ErrDeleted) {
		t.Fatalf("the subscription ended with %v, want ErrDeleted", err)
	}
}

func waitNotify(t *testing.T, calls <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-calls:
	case <-time.After(10 * time.Second):
		t.Fatalf("Notify was not called for %s", what)
	}
}

func drainCalls(calls chan struct{}) {
	for {
		select {
		case <-calls:
		default:
			return
		}
	}
}

// testSkipDeltas checks that a subscription that skips deltas gets every
// other event in order, and that the deltas it skips do not fill its buffer.
func testSkipDeltas(t *testing.T, newEngine Factory) {
	const buffer = 8
	e := open(t, newEngine, engine.Config{SubscriberBuffer: buffer})
	ctx := testCtx(t)
	all := subscribe(t, e, "a", engine.SubscribeOptions{})
	whole := subscribe(t, e, "a", engine.SubscribeOptions{SkipDeltas: true})
	lease, ok, err := e.AcquireLease(ctx, "a", time.Hour)
	if err != nil || !ok {
		t.Fatalf("AcquireLease: %v, %v", ok, err)
	}
	appendUser(t, e, "a", "q1")
	for _, d := range []string{"x", "y"} {
		if err := publish(ctx, e, "a", delta("a", d)); err != nil {
			t.Fatalf("PublishRun: %v", err)
		}
	}
	if _, err := appendReply(ctx, e, "a", replyMsg("xy", 1), 1, lease); err != nil {
		t.Fatalf("AppendReply: %v", err)
	}
	appendUser(t, e, "a", "q3")
	if got, want := descriptions(nextN(t, all, 5)), []string{"1:q1", "0:~x", "0:~y", "2:xy", "3:q3"}; !slices.Equal(got, want) {
		t.Fatalf("subscriber of everything saw %v, want %v", got, want)
	}
	// Both were pushed to in the same order: whole has all it will get.
	if got, want := descriptions(nextN(t, whole, 3)), []string{"1:q1", "2:xy", "3:q3"}; !slices.Equal(got, want) {
		t.Fatalf("subscriber skipping deltas saw %v, want %v", got, want)
	}
	if ev, ok := whole.Next(); ok {
		t.Fatalf("subscriber skipping deltas got an extra event %s", describe(ev))
	}

	// More deltas than the buffer holds, unread: the subscriber of
	// everything overflows, the one skipping them does not.
	for i := range 3 * buffer {
		if err := publish(ctx, e, "a", delta("a", fmt.Sprint(i))); err != nil {
			t.Fatalf("PublishRun: %v", err)
		}
	}
	appendUser(t, e, "a", "q4")
	if _, err := drain(t, all); !errors.Is(err, engine.ErrOverflow) {
		t.Fatalf("subscriber of everything: %v, want ErrOverflow", err)
	}
	if got := describe(next(t, whole)); got != "4:q4" {
		t.Fatalf("subscriber skipping deltas saw %s, want 4:q4", got)
	}
	if err := whole.Err(); err != nil {
		t.Fatalf("subscriber skipping deltas ended: %v", err)
	}
}
