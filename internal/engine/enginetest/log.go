package enginetest

import (
	"fmt"
	"math"
	"slices"
	"sync"
	"testing"

	"github.com/agentgate/agentgate/internal/engine"
)

// This file tests the log: seqs, reads, trimming and idempotency keys.

func testAppendAssignsSeq(t *testing.T, newEngine Factory) {
	e := open(t, newEngine, engine.Config{})
	ctx := testCtx(t)
	var epoch string
	for i := range 3 {
		in := userMsg(fmt.Sprint("hello ", i))
		orig := in.String()
		stored, dup, err := appendKeyed(ctx, e, "a", in, "")
		if err != nil || dup {
			t.Fatalf("AppendUser #%d: dup %v, err %v", i, dup, err)
		}
		if stored.GetSeq() != uint64(i+1) || stored.GetAgentId() != "a" {
			t.Fatalf("AppendUser #%d stored seq %d agent %q, want seq %d agent a", i, stored.GetSeq(), stored.GetAgentId(), i+1)
		}
		if in.String() != orig {
			t.Fatalf("AppendUser modified its input: %v, was %v", in, orig)
		}
		if stored.GetEpoch() == "" || (i > 0 && stored.GetEpoch() != epoch) {
			t.Fatalf("AppendUser #%d stored epoch %q; want one epoch for the whole log, was %q", i, stored.GetEpoch(), epoch)
		}
		epoch = stored.GetEpoch()
		want := userMsg(fmt.Sprint("hello ", i))
		want.Seq, want.AgentId, want.Epoch = uint64(i+1), "a", epoch
		sameEvent(t, "stored event", stored, want)
	}
	p, err := e.Read(ctx, "a", 0, 10)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	if got := descriptions(p.Events); !slices.Equal(got, []string{"1:hello 0", "2:hello 1", "3:hello 2"}) {
		t.Fatalf("Read events %v", got)
	}
	if p.FirstSeq != 1 || p.LastSeq != 3 || p.Answered != 0 || p.Epoch != epoch {
		t.Fatalf("Read bounds first %d last %d answered %d epoch %q, want 1 3 0 %q", p.FirstSeq, p.LastSeq, p.Answered, p.Epoch, epoch)
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
					ev, dup, err := appendKeyed(ctx, e, id, userMsg(text), "")
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
		{9, math.MaxInt, []uint64{10, 11, 12}},
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

	orig, dup, err := appendKeyed(ctx, e, "a", userMsg("first"), "k1")
	if err != nil || dup {
		t.Fatalf("first AppendUser with k1: dup %v, err %v", dup, err)
	}
	appendUser(t, e, "a", "other")
	again, dup, err := appendKeyed(ctx, e, "a", userMsg("retry with other text"), "k1")
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
	again, dup, err = appendKeyed(ctx, e, "a", userMsg("late retry"), "k1")
	if err != nil || !dup {
		t.Fatalf("AppendUser repeating k1 after trimming: dup %v, err %v; want the duplicate", dup, err)
	}
	sameEvent(t, "duplicate after trimming", again, orig)

	other, dup, err := appendKeyed(ctx, e, "b", userMsg("first"), "k1")
	if err != nil || dup || other.GetSeq() != 1 {
		t.Fatalf("k1 on another agent: seq %d, dup %v, err %v; want a new event with seq 1", other.GetSeq(), dup, err)
	}
	x, _, _ := appendKeyed(ctx, e, "a", userMsg("no key"), "")
	y, dup, err := appendKeyed(ctx, e, "a", userMsg("no key"), "")
	if err != nil || dup || y.GetSeq() != x.GetSeq()+1 {
		t.Fatalf("an empty key deduplicated: seqs %d then %d, dup %v, err %v", x.GetSeq(), y.GetSeq(), dup, err)
	}
}
