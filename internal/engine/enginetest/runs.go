package enginetest

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/agentgate/agentgate/internal/engine"
	"google.golang.org/protobuf/proto"
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
	r, err := appendReply(ctx, e, "ep", replyMsg("r", 1), 1, lease)
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
	// Subscribers get the events live.
	if got := nextN(t, sub, 4); got[0].GetRunStarted() == nil || got[3].GetTextDelta().GetDelta() != "llo" {
		t.Fatalf("live run events %v", descriptions(got))
	}
	// Run returns them compacted: the run_started, the text in one delta
	// carrying the newest run_seq folded into it, then the tool calls.
	evs, err := e.Run(ctx, "rp")
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 3 || evs[0].GetRunStarted().GetRunId() != "r1" || evs[1].GetTextDelta().GetDelta() != "hello" ||
		evs[1].GetRunSeq() != 4 || evs[1].GetTextDelta().GetMessageId() != "r-r1" ||
		evs[2].GetToolCallStart().GetToolCallId() != "t1" || evs[2].GetRunSeq() != 3 {
		t.Fatalf("Run returned %v, want run_started, text_delta hello (run_seq 4), tool_call_start (3)", evs)
	}
	// Events of another run, or a run begun without the lease, are not
	// progress.
	publishRun(t, e, lease, runDelta("rp", "other", "x", 9))
	// A writer whose lease was taken over cannot begin a run over it.
	publishRun(t, e, engine.Lease{AgentID: "rp", Token: "stale"}, runStarted("rp", "stale", 1))
	if got := runOf(t, e, "rp"); !slices.Equal(got, []uint64{1, 4, 3}) {
		t.Fatalf("Run after foreign events: %v, want [1 4 3]", got)
	}
	if evs, _ := e.Run(ctx, "rp"); len(evs) != 3 || evs[1].GetTextDelta().GetDelta() != "hello" {
		t.Fatalf("Run after foreign events: %v, want the text unchanged", descriptions(evs))
	}
	// A new run_started begins it anew; the reply ends it.
	publishRun(t, e, lease, runStarted("rp", "r2", 1), runDelta("rp", "r2", "a", 2))
	if got := runOf(t, e, "rp"); !slices.Equal(got, []uint64{1, 2}) {
		t.Fatalf("Run after a second run_started: %v, want [1 2]", got)
	}
	if _, err := appendReply(ctx, e, "rp", replyMsg("a", 1), 1, lease); err != nil {
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

func runArgs(agentID, runID, id, text string, runSeq uint64) *agentv1.AgentEvent {
	return &agentv1.AgentEvent{AgentId: agentID, RunSeq: runSeq, Kind: &agentv1.AgentEvent_ToolCallArgs{
		ToolCallArgs: &agentv1.ToolCallArgs{RunId: runID, ToolCallId: id, Delta: text}}}
}

func runToolEnd(agentID, runID, id string, runSeq uint64) *agentv1.AgentEvent {
	return &agentv1.AgentEvent{AgentId: agentID, RunSeq: runSeq, Kind: &agentv1.AgentEvent_ToolCallEnd{
		ToolCallEnd: &agentv1.ToolCallEnd{RunId: runID, ToolCallId: id}}}
}

// testRunFolds checks the compacted form of a long run: any number of text
// deltas is one text_delta with the newest run_seq folded, a tool call's
// arguments are at most one event after its start, and a live event
// published after Run has a greater run_seq than any Run returned, so a
// joiner that drops what it was sent (run_seq <= the greatest) shows the
// text exactly once.
func testRunFolds(t *testing.T, newEngine Factory) {
	e := open(t, newEngine, engine.Config{})
	ctx := testCtx(t)
	appendUser(t, e, "rf", "hi")
	lease := takeLease(t, e, "rf")
	// Too many deltas for a subscriber's buffer: this one waits for the
	// other events only.
	synced := subscribe(t, e, "rf", engine.SubscribeOptions{SkipDeltas: true})
	seq := uint64(1)
	publishRun(t, e, lease, runStarted("rf", "r1", seq))
	var want strings.Builder
	for i := range 2000 {
		seq++
		d := string(rune('a' + i%26))
		want.WriteString(d)
		publishRun(t, e, lease, runDelta("rf", "r1", d, seq))
	}
	publishRun(t, e, lease, runTool("rf", "r1", "t1", seq+1), runArgs("rf", "r1", "t1", `{"q":`, seq+2),
		runDelta("rf", "r1", "!", seq+3), runArgs("rf", "r1", "t1", `1}`, seq+4), runToolEnd("rf", "r1", "t1", seq+5))
	want.WriteString("!")
	seq += 5
	// Once a subscriber has the last event, the store has all of them.
	if got := nextN(t, synced, 5); got[4].GetToolCallEnd() == nil {
		t.Fatalf("events without deltas: %v", descriptions(got))
	}
	sub := subscribe(t, e, "rf", engine.SubscribeOptions{})
	evs, err := e.Run(ctx, "rf")
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 5 || evs[0].GetRunStarted() == nil || evs[1].GetTextDelta() == nil || evs[2].GetToolCallStart() == nil ||
		evs[3].GetToolCallArgs() == nil || evs[4].GetToolCallEnd() == nil {
		t.Fatalf("Run returned %v; want run_started, one text_delta, tool_call_start, one tool_call_args, tool_call_end", descriptions(evs))
	}
	if got := evs[1].GetTextDelta(); got.GetDelta() != want.String() || evs[1].GetRunSeq() != seq-2 || got.GetRunId() != "r1" || got.GetMessageId() != "r-r1" {
		t.Fatalf("folded text: %d bytes, run_seq %d, run %q, message %q; want %d bytes, run_seq %d, r1, r-r1",
			len(got.GetDelta()), evs[1].GetRunSeq(), got.GetRunId(), got.GetMessageId(), want.Len(), seq-2)
	}
	if got := evs[3].GetToolCallArgs(); got.GetDelta() != `{"q":1}` || got.GetToolCallId() != "t1" || evs[3].GetRunSeq() != seq-1 {
		t.Fatalf("folded arguments %q of %q, run_seq %d; want {\"q\":1} of t1, run_seq %d", got.GetDelta(), got.GetToolCallId(), evs[3].GetRunSeq(), seq-1)
	}
	var newest uint64
	for _, ev := range evs {
		newest = max(newest, ev.GetRunSeq())
	}
	publishRun(t, e, lease, runDelta("rf", "r1", "?", seq+1))
	if ev := next(t, sub); ev.GetRunSeq() <= newest || ev.GetTextDelta().GetDelta() != "?" {
		t.Fatalf("live event after Run: %s run_seq %d; want the new delta, run_seq > %d", describe(ev), ev.GetRunSeq(), newest)
	}
	if evs, _ := e.Run(ctx, "rf"); len(evs) != 5 || evs[1].GetTextDelta().GetDelta() != want.String()+"?" || evs[1].GetRunSeq() != seq+1 {
		t.Fatalf("Run after one more delta: %v", descriptions(evs))
	}
}

// testRunBounded checks that the progress costs the bytes written, not an
// event per delta: what Run returns after a hundred thousand one-byte
// deltas is a few events whose encoding is about as long as the text.
func testRunBounded(t *testing.T, newEngine Factory) {
	e := open(t, newEngine, engine.Config{})
	appendUser(t, e, "rb", "hi")
	lease := takeLease(t, e, "rb")
	sub := subscribe(t, e, "rb", engine.SubscribeOptions{SkipDeltas: true})
	const n = 100_000
	publishRun(t, e, lease, runStarted("rb", "r1", 1))
	for i := range n {
		publishRun(t, e, lease, runDelta("rb", "r1", "x", uint64(i+2)))
		if i%1000 == 999 {
			// An engine may queue publishes without waiting for its store:
			// a call that waits lets it catch up, as a reply's pace does.
			if _, err := e.Read(testCtx(t), "rb", 0, 0); err != nil {
				t.Fatal(err)
			}
		}
	}
	// A tool call start after the deltas: once a subscriber has it, the
	// store has every delta before it.
	publishRun(t, e, lease, runTool("rb", "r1", "t1", n+2))
	if ev := next(t, sub); ev.GetRunStarted() == nil {
		t.Fatalf("first event %s, want the run_started", describe(ev))
	}
	if ev := next(t, sub); ev.GetToolCallStart() == nil {
		t.Fatalf("second event %s, want the tool_call_start", describe(ev))
	}
	evs, err := e.Run(testCtx(t), "rb")
	if err != nil {
		t.Fatal(err)
	}
	size := 0
	for _, ev := range evs {
		size += proto.Size(ev)
	}
	if len(evs) != 3 || len(evs[1].GetTextDelta().GetDelta()) != n || size > n+1024 {
		t.Fatalf("Run after %d deltas: %d events, %d bytes encoded; want 3 events, about %d bytes", n, len(evs), size, n)
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
	cancelsEndOnDelete(t, e, "cr", cancelRun(t, e, e))
}

// cancelRun checks CancelRun on caller against a writer that listens on
// writer (one engine, or two replicas). It returns the writer's
// subscription to cancels.
func cancelRun(t *testing.T, writer, caller engine.Engine) engine.Subscription {
	ctx := testCtx(t)
	appendUser(t, writer, "cr", "hi")
	if _, err := caller.CancelRun(ctx, "cr", ""); !errors.Is(err, engine.ErrNoRun) {
		t.Fatalf("CancelRun with no run: %v, want ErrNoRun", err)
	}
	heard := make(chan string, 4)
	cs, err := writer.SubscribeCancels(ctx, "cr", func(id string) { heard <- id })
	if err != nil {
		t.Fatalf("SubscribeCancels: %v", err)
	}
	t.Cleanup(cs.Close)
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
				t.Fatalf("the writer's SubscribeCancels heard %q, want r1", got)
			}
		case <-time.After(waitLimit):
			t.Fatal("the writer's SubscribeCancels was not called")
		}
	}
	// A cancel-only subscription queues no events.
	appendUser(t, writer, "cr", "more")
	if ev, ok := cs.Next(); ok {
		t.Fatalf("cancel-only subscription got %v", ev)
	}
	return cs
}

// cancelsEndOnDelete checks that a cancel-only subscription ends as any
// subscription does when caller deletes its agent: the replier
// stops then.
func cancelsEndOnDelete(t *testing.T, caller engine.Engine, agentID string, cs engine.Subscription) {
	t.Helper()
	if err := caller.Delete(testCtx(t), agentID); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := drain(t, cs); !errors.Is(err, engine.ErrDeleted) {
		t.Fatalf("cancel-only subscription ended with %v, want ErrDeleted", err)
	}
}
