package enginetest

import (
	"errors"
	"slices"
	"testing"
	"time"

	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/agentgate/agentgate/internal/engine"
)

// This file tests how the reply lease comes with the work: taken by an
// append, handed on by a reply, settled, and listed as due when nobody
// answers.

// claim is what the tests ask an append or a settle for.
var claim = engine.Claim{TTL: time.Hour, Context: 2}

// withClaim appends a user message asking for the lease.
func withClaim(t *testing.T, e engine.Engine, agentID, text string) engine.Appended {
	t.Helper()
	res, err := e.AppendUser(testCtx(t), agentID, userMsg(text), engine.AppendOptions{Claim: claim})
	if err != nil {
		t.Fatalf("AppendUser(%s, %q) with a claim: %v", agentID, text, err)
	}
	return res
}

// held reports whether anyone holds the agent's lease now.
func held(t *testing.T, e engine.Engine, agentID string) bool {
	t.Helper()
	l, ok, err := e.AcquireLease(testCtx(t), agentID, time.Hour)
	if err != nil {
		t.Fatalf("AcquireLease(%s): %v", agentID, err)
	}
	if ok {
		_ = e.ReleaseLease(testCtx(t), l)
	}
	return !ok
}

func testClaimWithAppend(t *testing.T, newEngine Factory) {
	e := open(t, newEngine, engine.Config{})
	ctx := testCtx(t)
	first := withClaim(t, e, "a", "q1")
	w := first.Work
	if w == nil || w.Lease.AgentID != "a" || w.Lease.Token == "" {
		t.Fatalf("the first append's work: %+v; want the lease of a", w)
	}
	if got := descriptions(w.Page.Events); !slices.Equal(got, []string{"1:q1"}) || w.Page.Answered != 0 || w.Page.LastSeq != 1 || w.Page.Epoch != first.Event.GetEpoch() {
		t.Fatalf("the work's page: %v, answered %d, last %d, epoch %q", got, w.Page.Answered, w.Page.LastSeq, w.Page.Epoch)
	}
	if !held(t, e, "a") {
		t.Fatal("the lease the append took is free")
	}
	if second := withClaim(t, e, "a", "q2"); second.Work != nil {
		t.Fatalf("an append while the lease is held took it: %+v", second.Work)
	}
	if keyed, err := e.AppendUser(ctx, "a", userMsg("again"), engine.AppendOptions{IdempotencyKey: "k", Claim: claim}); err != nil || keyed.Duplicate || keyed.Work != nil {
		t.Fatalf("a keyed append while the lease is held: %+v, %v; want appended, no work", keyed, err)
	}
	// The reply to q1 hands over what waits: q2 and "again", with the
	// context before them.
	r1, err := e.AppendReply(ctx, "a", replyMsg("a1", 1), 1, w.Lease, claim)
	if err != nil || r1.Event.GetSeq() != 4 || r1.Event.GetAgentId() != "a" || r1.Event.GetEpoch() != first.Event.GetEpoch() {
		t.Fatalf("AppendReply: %v, %v", r1.Event, err)
	}
	if r1.Work == nil || r1.Work.Lease != w.Lease || r1.Work.Page.Answered != 1 {
		t.Fatalf("the reply's work: %+v; want the same lease, answered 1", r1.Work)
	}
	if got := descriptions(r1.Work.Page.Events); !slices.Equal(got, []string{"1:q1", "2:q2", "3:again", "4:a1"}) {
		t.Fatalf("the reply's work page: %v", got)
	}
	if !held(t, e, "a") {
		t.Fatal("the lease was released while messages wait")
	}
	r2, err := e.AppendReply(ctx, "a", replyMsg("a2", 2), 2, w.Lease, claim)
	if err != nil || r2.Work == nil || r2.Work.Page.Answered != 2 {
		t.Fatalf("the reply to q2: %+v, %v; want the work of seq 3", r2.Work, err)
	}
	r3, err := e.AppendReply(ctx, "a", replyMsg("a3", 3), 3, w.Lease, claim)
	if err != nil || r3.Work != nil {
		t.Fatalf("the last reply: work %+v, %v; want the lease released", r3.Work, err)
	}
	if held(t, e, "a") {
		t.Fatal("the lease is held after the last reply")
	}
	// A duplicate takes nothing, even with the lease free.
	if again, err := e.AppendUser(ctx, "a", userMsg("again"), engine.AppendOptions{IdempotencyKey: "k", Claim: claim}); err != nil || !again.Duplicate || again.Work != nil {
		t.Fatalf("a duplicate: %+v, %v; want no work", again, err)
	}

	// The work's page starts Context events before the oldest waiting
	// message and holds at most Context+WorkEvents events.
	next := withClaim(t, e, "a", "q7")
	if got := seqs(next.Work.Page.Events); !slices.Equal(got, []uint64{2, 3, 4, 5, 6, 7}) {
		t.Fatalf("a work with 2 events of context after answered 3: seqs %v", got)
	}
	if _, err := e.AppendReply(ctx, "a", replyMsg("a7", 7), 7, next.Work.Lease, claim); err != nil {
		t.Fatal(err)
	}
	for range engine.WorkEvents + 10 {
		appendUser(t, e, "b", "burst")
	}
	big := withClaim(t, e, "b", "last")
	if n := len(big.Work.Page.Events); n != claim.Context+engine.WorkEvents || big.Work.Page.Events[0].GetSeq() != 1 {
		t.Fatalf("a burst's work holds %d events from seq %d; want %d from 1", n, big.Work.Page.Events[0].GetSeq(), claim.Context+engine.WorkEvents)
	}
	// A zero claim leaves the lease as it is.
	if res, err := e.AppendReply(ctx, "b", replyMsg("r", 1), 1, big.Work.Lease, engine.Claim{}); err != nil || res.Work != nil || !held(t, e, "b") {
		t.Fatalf("a reply without a claim: %+v, %v, held %v; want the lease kept, no work", res.Work, err, held(t, e, "b"))
	}
}

func testSettle(t *testing.T, newEngine Factory) {
	e := open(t, newEngine, engine.Config{})
	ctx := testCtx(t)
	appendUser(t, e, "s", "q1")
	lease := takeLease(t, e, "s")
	w, err := e.Settle(ctx, lease, 0, claim)
	if err != nil || w == nil || w.Lease != lease || !slices.Equal(seqs(w.Page.Events), []uint64{1}) {
		t.Fatalf("Settle having seen nothing: %+v, %v; want the work of seq 1", w, err)
	}
	// A message appended while the holder looked: it is not let go.
	appendUser(t, e, "s", "q2")
	if w, err := e.Settle(ctx, lease, 1, claim); err != nil || w == nil || !slices.Equal(seqs(w.Page.Events), []uint64{1, 2}) {
		t.Fatalf("Settle with a message after what was seen: %+v, %v; want the work", w, err)
	}
	if !held(t, e, "s") {
		t.Fatal("Settle released the lease while a message waits")
	}
	// Nothing after seen: released, and no longer due.
	if w, err := e.Settle(ctx, lease, 2, claim); err != nil || w != nil {
		t.Fatalf("Settle with nothing after what was seen: %+v, %v; want the lease released", w, err)
	}
	if held(t, e, "s") {
		t.Fatal("the settled lease is still held")
	}
	if due, err := e.Due(ctx, 10); err != nil || slices.Contains(due, "s") {
		t.Fatalf("Due after settling: %v, %v; want s gone", due, err)
	}
	if _, err := e.Settle(ctx, lease, 2, claim); !errors.Is(err, engine.ErrLeaseLost) {
		t.Fatalf("Settle of a released lease: %v, want ErrLeaseLost", err)
	}
	if _, err := e.Settle(ctx, engine.Lease{AgentID: "s", Token: "forged"}, 0, claim); !errors.Is(err, engine.ErrLeaseLost) {
		t.Fatalf("Settle with a foreign token: %v, want ErrLeaseLost", err)
	}
}

func testDue(t *testing.T, newEngine Factory) {
	t0 := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	clk := newClock(t0)
	e := open(t, newEngine, engine.Config{Now: clk.now})
	ctx := testCtx(t)
	due := func() []string {
		t.Helper()
		ids, err := e.Due(ctx, 10)
		if err != nil {
			t.Fatalf("Due: %v", err)
		}
		return ids
	}
	if got := due(); len(got) != 0 {
		t.Fatalf("Due of an empty engine: %v", got)
	}
	appendUser(t, e, "late", "q") // waits since t0+1m, below
	clk.set(t0)
	appendUser(t, e, "early", "q")
	clk.set(t0.Add(time.Minute))
	appendUser(t, e, "late", "again") // waits since t0 already: unchanged
	clk.set(t0.Add(2 * time.Minute))
	answeredW := withClaim(t, e, "answered", "q")
	if _, err := e.AppendReply(ctx, "answered", replyMsg("r", 1), 1, answeredW.Work.Lease, claim); err != nil {
		t.Fatal(err)
	}
	busy := withClaim(t, e, "busy", "q")
	// The waiting agents nobody answers, those that waited longest first;
	// not the answered one, nor the one whose lease is held.
	if got := due(); !slices.Equal(got, []string{"late", "early"}) && !slices.Equal(got, []string{"early", "late"}) {
		t.Fatalf("Due: %v, want early and late", got)
	}
	if ids, err := e.Due(ctx, 1); err != nil || len(ids) != 1 {
		t.Fatalf("Due with limit 1: %v, %v", ids, err)
	}
	// A holder that gives its lease up without answering leaves its agent
	// due.
	if err := e.ReleaseLease(ctx, busy.Work.Lease); err != nil {
		t.Fatal(err)
	}
	if got := due(); !slices.Contains(got, "busy") || len(got) != 3 {
		t.Fatalf("Due after a release: %v, want busy too", got)
	}
	if err := e.Delete(ctx, "early"); err != nil {
		t.Fatal(err)
	}
	if got := due(); slices.Contains(got, "early") || len(got) != 2 {
		t.Fatalf("Due after Delete: %v, want early gone", got)
	}
}

// testDueOrder checks that Due lists the agents that waited longest first.
func testDueOrder(t *testing.T, newEngine Factory) {
	t0 := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	clk := newClock(t0)
	e := open(t, newEngine, engine.Config{Now: clk.now})
	for i, id := range []string{"c", "a", "b"} {
		clk.set(t0.Add(time.Duration(i) * time.Second))
		appendUser(t, e, id, "q")
	}
	if got, err := e.Due(testCtx(t), 10); err != nil || !slices.Equal(got, []string{"c", "a", "b"}) {
		t.Fatalf("Due: %v, %v; want c a b, the order their work began", got, err)
	}
}

// testSharedClaim: the lease taken by an append on one replica holds on
// the other, whose appends wait for it, and the reply on the first hands
// over the message appended on the second.
func testSharedClaim(t *testing.T, newPair PairFactory) {
	a, b := openPair(t, newPair, engine.Config{})
	ctx := testCtx(t)
	onA := withClaim(t, a, "x", "from a")
	if onA.Work == nil {
		t.Fatal("the first append took no lease")
	}
	if onB := withClaim(t, b, "x", "from b"); onB.Work != nil {
		t.Fatalf("an append on b took the lease a holds: %+v", onB.Work)
	}
	res, err := a.AppendReply(ctx, "x", replyMsg("r", 1), 1, onA.Work.Lease, claim)
	if err != nil || res.Work == nil || !slices.Contains(descriptions(res.Work.Page.Events), "2:from b") {
		t.Fatalf("the reply on a: %+v, %v; want the work of b's message", res.Work, err)
	}
	if due, err := b.Due(ctx, 10); err != nil || len(due) != 0 {
		t.Fatalf("Due on b while a answers: %v, %v; want none", due, err)
	}
	if err := a.ReleaseLease(ctx, onA.Work.Lease); err != nil {
		t.Fatal(err)
	}
	if due, err := b.Due(ctx, 10); err != nil || !slices.Equal(due, []string{"x"}) {
		t.Fatalf("Due on b once a let go: %v, %v; want x", due, err)
	}
}

// testBeginWithAppend: an append that takes the lease for the message its
// holder answers first begins that message's run with the caller's
// run_started (AppendOptions.Begin): a subscriber gets the message, then
// the run_started answering it in the log's epoch; Run returns it, and
// the writer goes on with the run as if it had published it. An append
// that takes no lease, or whose message waits behind another, begins
// nothing.
func testBeginWithAppend(t *testing.T, newEngine Factory) {
	e := open(t, newEngine, engine.Config{})
	ctx := testCtx(t)
	sub := subscribe(t, e, "b", engine.SubscribeOptions{})
	begin := func(runID string) engine.AppendOptions {
		ev := runStarted("ignored", runID, 1)
		ev.GetRunStarted().ReplyToSeq = 0
		return engine.AppendOptions{Claim: claim, Begin: ev}
	}
	res, err := e.AppendUser(ctx, "b", userMsg("q1"), begin("r1"))
	if err != nil {
		t.Fatal(err)
	}
	w := res.Work
	if w == nil || w.Begun == nil {
		t.Fatalf("work %+v; want the lease, and the run begun", w)
	}
	rs := w.Begun.GetRunStarted()
	if rs.GetRunId() != "r1" || rs.GetMessageId() != "r-r1" || rs.GetReplyToSeq() != 1 || w.Begun.GetSeq() != 0 ||
		w.Begun.GetRunSeq() != 1 || w.Begun.GetAgentId() != "b" || w.Begun.GetEpoch() != res.Event.GetEpoch() {
		t.Fatalf("begun %v; want r1 answering seq 1, run_seq 1, in the log's epoch %q", w.Begun, res.Event.GetEpoch())
	}
	if got := nextN(t, sub, 2); got[0].GetSeq() != 1 || got[1].GetRunStarted() == nil {
		t.Fatalf("the subscriber got %v; want the message, then the run_started", descriptions(got))
	} else {
		sameEvent(t, "the run_started delivered", got[1], w.Begun)
	}
	run, err := e.Run(ctx, "b")
	if err != nil || len(run) != 1 {
		t.Fatalf("Run: %v, %v; want the run_started", run, err)
	}
	sameEvent(t, "Run's run_started", run[0], w.Begun)
	publishRun(t, e, w.Lease, runDelta("b", "r1", "a", 2))
	if got := runOf(t, e, "b"); !slices.Equal(got, []uint64{1, 2}) {
		t.Fatalf("Run after a delta: run_seqs %v, want [1 2]", got)
	}

	// The lease is held: a second message takes nothing and begins nothing.
	if res, err := e.AppendUser(ctx, "b", userMsg("q2"), begin("r2")); err != nil || res.Work != nil {
		t.Fatalf("an append while the lease is held: %+v, %v", res.Work, err)
	}
	if got := runOf(t, e, "b"); !slices.Equal(got, []uint64{1, 2}) {
		t.Fatalf("Run after an append that began nothing: %v", got)
	}
	// The lease is free, but q2 waits before q3: q3's run does not begin.
	if _, err := e.AppendRun(ctx, "b", []*agentv1.AgentEvent{replyMsg("a1", 1)}, engine.RunAppend{Lease: w.Lease, Answers: 1, End: engine.RunEnds}); err != nil {
		t.Fatal(err)
	}
	if err := e.ReleaseLease(ctx, w.Lease); err != nil {
		t.Fatal(err)
	}
	res, err = e.AppendUser(ctx, "b", userMsg("q3"), begin("r3"))
	if err != nil || res.Work == nil || res.Work.Begun != nil {
		t.Fatalf("an append behind a waiting message: work %+v, %v; want the lease, no run begun", res.Work, err)
	}
	if got := runOf(t, e, "b"); len(got) != 0 {
		t.Fatalf("Run: %v, want none", got)
	}
}
