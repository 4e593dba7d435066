package enginetest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/agentgate/agentgate/internal/engine"
)

// This file tests agents' lifecycle (deletion, stats, listing) and Close.

func testDelete(t *testing.T, newEngine Factory) {
	e := open(t, newEngine, engine.Config{})
	ctx := testCtx(t)
	if err := e.Delete(ctx, "nobody"); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("Delete of an unknown agent: %v, want ErrNotFound", err)
	}
	client := subscribe(t, e, "a", engine.SubscribeOptions{})
	internal := subscribe(t, e, "a", engine.SubscribeOptions{Internal: true})
	bystander := subscribe(t, e, "b", engine.SubscribeOptions{})
	if _, _, err := appendKeyed(ctx, e, "a", userMsg("one"), "k"); err != nil {
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
	ev, dup, err := appendKeyed(ctx, e, "a", userMsg("reborn"), "k")
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
	_, _, err := appendKeyed(ctx, e, "a", userMsg("late"), "")
	checkClosed(t, "AppendUser", err)
	_, err = e.Subscribe(ctx, "a", engine.SubscribeOptions{})
	checkClosed(t, "Subscribe", err)
	_, err = e.Read(ctx, "a", 0, 10)
	checkClosed(t, "Read", err)
	_, err = e.Stat(ctx, "a")
	checkClosed(t, "Stat", err)
	checkClosed(t, "PublishRun", publish(ctx, e, "a", delta("a", "x")))
	checkClosed(t, "Ping", e.Ping(ctx))
}

func checkClosed(t *testing.T, call string, err error) {
	t.Helper()
	if !errors.Is(err, engine.ErrClosed) {
		t.Fatalf("%s after Close: %v, want ErrClosed", call, err)
	}
}
