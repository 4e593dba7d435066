package enginetest

import (
	"errors"
	"slices"
	"testing"
	"time"

	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/agentgate/agentgate/internal/engine"
)

// The contract of epochs, run progress and CancelRun.

func testEpochs(t *testing.T, newEngine Factory) {
	e := open(t, newEngine, engine.Config{})
	ctx := testCtx(t)
	if p, err := e.Read(ctx, "ep", 0, 10); err != nil || p.Epoch != "" {
		t.Fatalf("Read of an unknown agent: epoch %q, err %v; want none", p.Epoch, err)
	}
	first := appendUser(t, e, "ep", "one")
	if first.GetEpoch() == "" {
		t.Fatal("stored event has no epoch")
	}
	lease := takeLease(t, e, "ep")
	r, err := e.AppendReply(ctx, "ep", replyMsg("r", 1), 1, lease)
	if err != nil || r.GetEpoch() != first.GetEpoch() {
		t.Fatalf("reply epoch %q (err %v), want the log's %q", r.GetEpoch(), err, first.GetEpoch())
	}
	st, err := e.Stat(ctx, "ep")
	if err != nil || st.Epoch != first.GetEpoch() {
		t.Fatalf("Stat epoch %q (err %v), want %q", st.Epoch, err, first.GetEpoch())
	}
	if err := e.Delete(ctx, "ep"); err != nil {
		t.Fatal(err)
	}
	again := appendUser(t, e, "ep", "two")
	if again.GetSeq() != 1 || again.GetEpoch() == "" || again.GetEpoch() == first.GetEpoch() {
		t.Fatalf("after Delete: seq %d epoch %q; want seq 1 in a new epoch (old %q)", again.GetSeq(), again.GetEpoch(), first.GetEpoch())
	}
	if p, _ := e.Read(ctx, "ep", 0, 10); p.Epoch != again.GetEpoch() || p.Events[0].GetEpoch() != again.GetEpoch() {
		t.Fatalf("Read after Delete: epoch %q, events %v; want %q", p.Epoch, p.Events, again.GetEpoch())
	}
	if other := appendUser(t, e, "other", "x"); other.GetEpoch() == again.GetEpoch() {
		t.Fatalf("two agents share epoch %q", other.GetEpoch())
	}
}

func takeLease(t *testing.T, e engine.Engine, agentID string) engine.Lease {
	t.Helper()
	lease, ok, err := e.AcquireLease(testCtx(t), agentID, time.Minute)
	if err != nil || !ok {
		t.Fatalf("AcquireLease(%s): ok %v, err %v", agentID, ok, err)
	}
	return lease
}

func runStarted(agentID, runID string, runSeq uint64) *agentv1.AgentEvent {
	return &agentv1.AgentEvent{AgentId: agentID, RunSeq: runSeq, Kind: &agentv1.AgentEvent_RunStarted{
		RunStarted: &agentv1.RunStarted{RunId: runID, MessageId: "r-" + runID, ReplyToSeq: 1}}}
}

func runDelta(agentID, runID, text string, runSeq uint64) *agentv1.AgentEvent {
	return &agentv1.AgentEvent{AgentId: agentID, RunSeq: runSeq, Kind: &agentv1.AgentEvent_TextDelta{
		TextDelta: &agentv1.TextDelta{RunId: runID, MessageId: "r-" + runID, Delta: text}}}
}

func runTool(agentID, runID, id string, runSeq uint64) *agentv1.AgentEvent {
	return &agentv1.AgentEvent{AgentId: agentID, RunSeq: runSeq, Kind: &agentv1.AgentEvent_ToolCallStart{
		ToolCallStart: &agentv1.ToolCallStart{RunId: runID, ToolCallId: id, Name: "search"}}}
}

func publishRun(t *testing.T, e engine.Engine, lease engine.Lease, evs ...*agentv1.AgentEvent) {
	t.Helper()
	for _, ev := range evs {
		if err := e.PublishRun(testCtx(t), lease, ev); err != nil {
			t.Fatalf("PublishRun: %v", err)
		}
	}
}

// runOf reads the active run, in the order published, as run_seqs.
func runOf(t *testing.T, e engine.Engine, agentID string) []uint64 {
	t.Helper()
	evs, err := e.Run(testCtx(t), agentID)
	if err != nil {
		t.Fatalf("Run(%s): %v", agentID, err)
	}
	out := make([]uint64, len(evs))
	for i, ev := range evs {
		out[i] = ev.GetRunSeq()
	}
	return out
}

func testRunProgress(t *testing.T, newEngine Factory) {
	e := open(t, newEngine, engine.Config{})
	ctx := testCtx(t)
	appendUser(t, e, "rp", "hi")
	if got := runOf(t, e, "rp"); len(got) != 0 {
		t.Fatalf("Run before any run: %v", got)
	}
	sub := subscribe(t, e, "rp", engine.SubscribeOptions{})
	lease := takeLease(t, e, "rp")
	publishRun(t, e, lease, runStarted("rp", "r1", 1), runDelta("rp", "r1", "he", 2), runTool("rp", "r1", "t1", 3), runDelta("rp", "r1", "llo", 4))
	// Subscribers get the events live, as Publish delivers them.
	if got := nextN(t, sub, 4); got[0].GetRunStarted() == nil || got[3].GetTextDelta().GetDelta() != "llo" {
		t.Fatalf("live run events %v", descriptions(got))
	}
	evs, err := e.Run(ctx, "rp")
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 4 || evs[0].GetRunStarted().GetRunId() != "r1" || evs[1].GetTextDelta().GetDelta() != "he" ||
		evs[2].GetToolCallStart().GetToolCallId() != "t1" || evs[3].GetTextDelta().GetDelta() != "llo" {
		t.Fatalf("Run returned %v, want the four events in order", evs)
	}
	// Events of another run, or a run begun without the lease, are not
	// progress.
	if err := e.Publish(ctx, "rp", runDelta("rp", "r1", "not recorded", 5)); err != nil {
		t.Fatal(err)
	}
	publishRun(t, e, lease, runDelta("rp", "other", "x", 9))
	// A writer whose lease was taken over cannot begin a run over it.
	publishRun(t, e, engine.Lease{AgentID: "rp", Token: "stale"}, runStarted("rp", "stale", 1))
	if got := runOf(t, e, "rp"); !slices.Equal(got, []uint64{1, 2, 3, 4}) {
		t.Fatalf("Run after foreign events: %v, want [1 2 3 4]", got)
	}
	// A new run_started begins it anew; the reply ends it.
	publishRun(t, e, lease, runStarted("rp", "r2", 1), runDelta("rp", "r2", "a", 2))
	if got := runOf(t, e, "rp"); !slices.Equal(got, []uint64{1, 2}) {
		t.Fatalf("Run after a second run_started: %v, want [1 2]", got)
	}
	if _, err := e.AppendReply(ctx, "rp", replyMsg("a", 1), 1, lease); err != nil {
		t.Fatal(err)
	}
	if got := runOf(t, e, "rp"); len(got) != 0 {
		t.Fatalf("Run after the reply: %v, want none", got)
	}
	// Delete takes it too.
	publishRun(t, e, lease, runStarted("rp", "r3", 1))
	if err := e.Delete(ctx, "rp"); err != nil {
		t.Fatal(err)
	}
	if got := runOf(t, e, "rp"); len(got) != 0 {
		t.Fatalf("Run after Delete: %v, want none", got)
	}
}

func testRunExpiresWithLease(t *testing.T, newEngine Factory) {
	e := open(t, newEngine, engine.Config{})
	ctx := testCtx(t)
	appendUser(t, e, "rx", "hi")
	lease, ok, err := e.AcquireLease(ctx, "rx", 50*time.Millisecond)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	publishRun(t, e, lease, runStarted("rx", "r1", 1), runDelta("rx", "r1", "x", 2))
	if got := runOf(t, e, "rx"); len(got) != 2 {
		t.Fatalf("Run: %v", got)
	}
	// The writer died: the run goes with its lease.
	eventually(t, "run progress to expire with the lease", func() bool { return len(runOf(t, e, "rx")) == 0 })
}

func testCancelRun(t *testing.T, newEngine Factory) {
	e := open(t, newEngine, engine.Config{})
	cancelRun(t, e, e)
}

// cancelRun checks CancelRun on caller against a writer that listens on
// writer (one engine, or two replicas).
func cancelRun(t *testing.T, writer, caller engine.Engine) {
	ctx := testCtx(t)
	appendUser(t, writer, "cr", "hi")
	if _, err := caller.CancelRun(ctx, "cr", ""); !errors.Is(err, engine.ErrNoRun) {
		t.Fatalf("CancelRun with no run: %v, want ErrNoRun", err)
	}
	heard := make(chan string, 4)
	cs := subscribe(t, writer, "cr", engine.SubscribeOptions{Internal: true, OnCancel: func(id string) { heard <- id }})
	seen := subscribe(t, caller, "cr", engine.SubscribeOptions{})
	lease := takeLease(t, writer, "cr")
	publishRun(t, writer, lease, runStarted("cr", "r1", 1))
	// PublishRun need not wait for the store: once the event reached the
	// caller's replica, it is recorded too.
	if ev := next(t, seen); ev.GetRunStarted() == nil {
		t.Fatalf("caller saw %v, want the run_started", ev)
	}
	if got := runOf(t, caller, "cr"); len(got) != 1 {
		t.Fatalf("Run seen by the caller: %v", got)
	}
	if _, err := caller.CancelRun(ctx, "cr", "r0"); !errors.Is(err, engine.ErrNoRun) {
		t.Fatalf("CancelRun of another run: %v, want ErrNoRun", err)
	}
	for _, name := range []string{"r1", ""} {
		id, err := caller.CancelRun(ctx, "cr", name)
		if err != nil || id != "r1" {
			t.Fatalf("CancelRun(%q) = %q, %v; want r1", name, id, err)
		}
		select {
		case got := <-heard:
			if got != "r1" {
				t.Fatalf("OnCancel heard %q, want r1", got)
			}
		case <-time.After(waitLimit):
			t.Fatal("the writer's OnCancel was not called")
		}
	}
	// A cancel-only subscription queues no events.
	appendUser(t, writer, "cr", "more")
	if ev, ok := cs.Next(); ok {
		t.Fatalf("cancel-only subscription got %v", ev)
	}
}
