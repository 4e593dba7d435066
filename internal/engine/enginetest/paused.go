package enginetest

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/agentgate/agentgate/internal/engine"
)

// This file tests runs in steps: AppendRun's ends, a run that pauses for
// answers, AnswerCall, the resume, and the closing of a paused run by a
// user message and by CancelRun.

// stepMsg is an assistant message of the run "run", step n, answering to.
func stepMsg(text string, to uint64, n uint32) *agentv1.AgentEvent {
	ev := replyMsg(text, to)
	ev.GetMessage().RunId = "run"
	ev.GetMessage().Step = n
	return ev
}

// resultEv is a tool_call_result of the run "run" for the call id.
func resultEv(id, content string) *agentv1.AgentEvent {
	return &agentv1.AgentEvent{Kind: &agentv1.AgentEvent_ToolCallResult{ToolCallResult: &agentv1.ToolCallResult{
		RunId: "run", ToolCallId: id, Content: content,
	}}}
}

// decisionEv is a tool_call_decision of the run "run" for the call id.
func decisionEv(id string, approved bool) *agentv1.AgentEvent {
	return &agentv1.AgentEvent{Kind: &agentv1.AgentEvent_ToolCallDecision{ToolCallDecision: &agentv1.ToolCallDecision{
		RunId: "run", ToolCallId: id, Approved: approved,
	}}}
}

// pause is a RunPauses append of step 1 for the message at seq, waiting
// for the result of call "a" and the decision on call "b" (approval "ap"),
// in that order, each with its closing results.
func pause(lease engine.Lease, seq uint64) engine.RunAppend {
	return engine.RunAppend{
		Lease: lease, Answers: seq, End: engine.RunPauses, RunID: "run", Next: claim,
		Pending: []engine.Pending{
			{Key: engine.CallKey("a"), Call: engine.PendingCall{Kind: engine.PendingResult, RunID: "run", MessageID: "r-s1", ReplyTo: seq, ToolCallID: "a", Order: 0},
				MovedOn: resultEv("a", "moved on"), Cancelled: resultEv("a", "cancelled")},
			{Key: engine.CallKey("b"), Call: engine.PendingCall{Kind: engine.PendingDecision, ApprovalID: "ap", RunID: "run", MessageID: "r-s1", ReplyTo: seq, ToolCallID: "b", Order: 1},
				MovedOn: resultEv("b", "moved on"), Cancelled: resultEv("b", "cancelled")},
		},
		Closing: stepMsg("closed", seq, 2),
	}
}

// toolDescription renders the events of a run for comparisons: a message
// as describe does, a result as seq:id=content, a decision as
// seq:id+ or seq:id-.
func toolDescription(evs []*agentv1.AgentEvent) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		switch k := ev.GetKind().(type) {
		case *agentv1.AgentEvent_ToolCallResult:
			out[i] = fmt.Sprintf("%d:%s=%s", ev.GetSeq(), k.ToolCallResult.GetToolCallId(), k.ToolCallResult.GetContent())
		case *agentv1.AgentEvent_ToolCallDecision:
			sign := "-"
			if k.ToolCallDecision.GetApproved() {
				sign = "+"
			}
			out[i] = fmt.Sprintf("%d:%s%s", ev.GetSeq(), k.ToolCallDecision.GetToolCallId(), sign)
		default:
			out[i] = describe(ev)
		}
	}
	return out
}

// readAll reads the whole log of agentID.
func readAll(t *testing.T, e engine.Engine, agentID string) engine.Page {
	t.Helper()
	p, err := e.Read(testCtx(t), agentID, 0, 1000)
	if err != nil {
		t.Fatalf("Read(%s): %v", agentID, err)
	}
	return p
}

func testRunInSteps(t *testing.T, newEngine Factory) {
	e := open(t, newEngine, engine.Config{})
	ctx := testCtx(t)
	w := withClaim(t, e, "p", "q1").Work
	// A step that goes on: nothing settles, the message still waits.
	on, err := e.AppendRun(ctx, "p", []*agentv1.AgentEvent{stepMsg("s0", 1, 0)}, engine.RunAppend{Lease: w.Lease, Answers: 1, End: engine.RunGoesOn, Next: claim})
	if err != nil || len(on.Events) != 1 || on.Events[0].GetSeq() != 2 || on.Work != nil || on.Events[0].GetEpoch() == "" {
		t.Fatalf("a step that goes on: %+v, %v; want seq 2 with its epoch, no work", on, err)
	}
	if p := readAll(t, e, "p"); p.Answered != 0 || !held(t, e, "p") {
		t.Fatalf("after a step that goes on: answered %d, held %v; want 0, held", p.Answered, held(t, e, "p"))
	}
	if _, err := e.AppendRun(ctx, "p", []*agentv1.AgentEvent{stepMsg("x", 1, 1)}, engine.RunAppend{Lease: engine.Lease{AgentID: "p", Token: "forged"}, Answers: 1}); !errors.Is(err, engine.ErrLeaseLost) {
		t.Fatalf("AppendRun under another lease: %v, want ErrLeaseLost", err)
	}
	// The pause: answered, the lease released, nothing due.
	paused, err := e.AppendRun(ctx, "p", []*agentv1.AgentEvent{stepMsg("s1", 1, 1)}, pause(w.Lease, 1))
	if err != nil || paused.Closed || paused.Work != nil {
		t.Fatalf("the pause: %+v, %v; want no work, not closed", paused, err)
	}
	if p := readAll(t, e, "p"); p.Answered != 1 || p.Resume != 0 || held(t, e, "p") {
		t.Fatalf("after the pause: answered %d, resume %d, held %v; want 1, 0, free", p.Answered, p.Resume, held(t, e, "p"))
	}
	if due, err := e.Due(ctx, 10); err != nil || slices.Contains(due, "p") {
		t.Fatalf("Due while paused: %v, %v; want p absent", due, err)
	}
	pc, ok, err := e.PendingCall(ctx, "p", engine.CallKey("b"))
	if err != nil || !ok || pc.Kind != engine.PendingDecision || pc.ApprovalID != "ap" || pc.RunID != "run" || pc.ReplyTo != 1 || pc.ToolCallID != "b" {
		t.Fatalf("PendingCall(b): %+v, %v, %v", pc, ok, err)
	}
	if _, ok, err := e.PendingCall(ctx, "p", engine.CallKey("zz")); err != nil || ok {
		t.Fatalf("PendingCall of an unknown key: %v, %v; want not found", ok, err)
	}
	if _, ok, err := e.PendingCall(ctx, "other", engine.CallKey("a")); err != nil || ok {
		t.Fatalf("PendingCall of another agent: %v, %v; want not found", ok, err)
	}

	// Refusals append nothing.
	for _, c := range []struct {
		a    engine.Answer
		want error
	}{
		{engine.Answer{Key: engine.CallKey("a"), Kind: engine.PendingDecision}, engine.ErrAwaitsResult},
		{engine.Answer{Key: engine.CallKey("b"), Kind: engine.PendingResult}, engine.ErrAwaitsDecision},
		{engine.Answer{Key: engine.CallKey("b"), Kind: engine.PendingDecision, ApprovalID: "forged"}, engine.ErrApprovalMismatch},
		{engine.Answer{Key: engine.CallKey("zz"), Kind: engine.PendingResult}, engine.ErrNotPending},
	} {
		c.a.Events = []*agentv1.AgentEvent{resultEv("x", "refused")}
		if _, err := e.AnswerCall(ctx, "p", c.a); !errors.Is(err, c.want) {
			t.Fatalf("AnswerCall(%+v): %v, want %v", c.a, err, c.want)
		}
		if _, err := e.AnswerCall(ctx, "other", c.a); !errors.Is(err, engine.ErrNotPending) {
			t.Fatalf("AnswerCall of another agent: %v, want ErrNotPending", err)
		}
	}
	a, err := e.AnswerCall(ctx, "p", engine.Answer{Key: engine.CallKey("a"), Kind: engine.PendingResult, Events: []*agentv1.AgentEvent{resultEv("a", "42")}, Claim: claim})
	if err != nil || a.Resumed || a.Work != nil || len(a.Events) != 1 || a.Events[0].GetSeq() != 4 {
		t.Fatalf("the first answer: %+v, %v; want seq 4, not resumed", a, err)
	}
	if _, err := e.AnswerCall(ctx, "p", engine.Answer{Key: engine.CallKey("a"), Kind: engine.PendingResult, Events: []*agentv1.AgentEvent{resultEv("a", "again")}}); !errors.Is(err, engine.ErrNotPending) {
		t.Fatalf("a second answer to a: %v, want ErrNotPending", err)
	}
	// The last answer resumes the run and takes the free lease with it.
	b, err := e.AnswerCall(ctx, "p", engine.Answer{Key: engine.CallKey("b"), Kind: engine.PendingDecision, ApprovalID: "ap",
		Events: []*agentv1.AgentEvent{decisionEv("b", false), resultEv("b", "denied")}, Claim: claim})
	if err != nil || !b.Resumed || b.Work == nil || len(b.Events) != 2 || b.Events[1].GetSeq() != 6 {
		t.Fatalf("the last answer: %+v, %v; want resumed with the work", b, err)
	}
	if b.Work.Page.Resume != 1 || b.Work.Page.Events[0].GetSeq() != 1 {
		t.Fatalf("the resumed work: resume %d from seq %d; want 1 from 1", b.Work.Page.Resume, b.Work.Page.Events[0].GetSeq())
	}
	if got := toolDescription(readAll(t, e, "p").Events); !slices.Equal(got, []string{"1:q1", "2:s0", "3:s1", "4:a=42", "5:b-", "6:b=denied"}) {
		t.Fatalf("the log: %v", got)
	}
	if _, ok, _ := e.PendingCall(ctx, "p", engine.CallKey("b")); ok {
		t.Fatal("b is still pending after its answer")
	}
	// The run goes on and ends; the resume is cleared, the lease settled.
	end, err := e.AppendRun(ctx, "p", []*agentv1.AgentEvent{stepMsg("s2", 1, 2)}, engine.RunAppend{Lease: b.Work.Lease, Answers: 1, End: engine.RunEnds, Next: claim})
	if err != nil || end.Work != nil {
		t.Fatalf("the run's end: %+v, %v; want the lease released", end, err)
	}
	if p := readAll(t, e, "p"); p.Resume != 0 || held(t, e, "p") {
		t.Fatalf("after the end: resume %d, held %v", p.Resume, held(t, e, "p"))
	}
	l := takeLease(t, e, "p")
	if _, err := e.AppendRun(ctx, "p", []*agentv1.AgentEvent{stepMsg("s3", 1, 3)}, engine.RunAppend{Lease: l, Answers: 1, End: engine.RunEnds}); !errors.Is(err, engine.ErrAlreadyAnswered) {
		t.Fatalf("a step after the run ended: %v, want ErrAlreadyAnswered", err)
	}
}

func testResumeWhileLeaseHeld(t *testing.T, newEngine Factory) {
	e := open(t, newEngine, engine.Config{})
	ctx := testCtx(t)
	w := withClaim(t, e, "h", "q1").Work
	if _, err := e.AppendRun(ctx, "h", []*agentv1.AgentEvent{stepMsg("s0", 1, 0)}, pause(w.Lease, 1)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.AnswerCall(ctx, "h", engine.Answer{Key: engine.CallKey("a"), Kind: engine.PendingResult, Events: []*agentv1.AgentEvent{resultEv("a", "1")}}); err != nil {
		t.Fatal(err)
	}
	holder := takeLease(t, e, "h")
	res, err := e.AnswerCall(ctx, "h", engine.Answer{Key: engine.CallKey("b"), Kind: engine.PendingDecision, Events: []*agentv1.AgentEvent{decisionEv("b", true)}, Claim: claim})
	if err != nil || !res.Resumed || res.Work != nil {
		t.Fatalf("the last answer while the lease is held: %+v, %v; want resumed, no work", res, err)
	}
	// The holder never lets the run go: its settle hands it back.
	sw, err := e.Settle(ctx, holder, 100, claim)
	if err != nil || sw == nil || sw.Page.Resume != 1 {
		t.Fatalf("Settle by the holder: %+v, %v; want the run to resume", sw, err)
	}
	// Given up without settling, the run is due for any replica.
	if err := e.ReleaseLease(ctx, holder); err != nil {
		t.Fatal(err)
	}
	if due, err := e.Due(ctx, 10); err != nil || !slices.Contains(due, "h") {
		t.Fatalf("Due with a run to resume: %v, %v; want h", due, err)
	}
	l := takeLease(t, e, "h")
	if w, err := e.Settle(ctx, l, 0, claim); err != nil || w == nil || w.Page.Resume != 1 {
		t.Fatalf("Settle by the next holder: %+v, %v; want the run", w, err)
	}
}

func testUserMessageClosesPause(t *testing.T, newEngine Factory) {
	clk := newClock(time.Date(2030, 5, 6, 7, 8, 9, 123456789, time.UTC))
	e := open(t, newEngine, engine.Config{Now: clk.now})
	ctx := testCtx(t)
	w := withClaim(t, e, "u", "q1").Work
	if _, err := e.AppendRun(ctx, "u", []*agentv1.AgentEvent{stepMsg("s0", 1, 0)}, pause(w.Lease, 1)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.AnswerCall(ctx, "u", engine.Answer{Key: engine.CallKey("b"), Kind: engine.PendingDecision, Events: []*agentv1.AgentEvent{decisionEv("b", true)}}); err != nil {
		t.Fatal(err)
	}
	sub := subscribe(t, e, "u", engine.SubscribeOptions{})
	q2 := withClaim(t, e, "u", "q2")
	if q2.Event.GetSeq() != 6 || q2.Work == nil {
		t.Fatalf("the new message: seq %d, work %v; want seq 6 after the closing, with the lease", q2.Event.GetSeq(), q2.Work)
	}
	// The call still pending got its closing result, then the run its end.
	got := nextN(t, sub, 3)
	if d := toolDescription(got); !slices.Equal(d, []string{"4:a=moved on", "5:closed", "6:q2"}) {
		t.Fatalf("delivered: %v", d)
	}
	for _, ev := range got[:2] {
		if ts := ev.GetCreateTime(); !ts.AsTime().Equal(clk.now()) || ev.GetEpoch() != q2.Event.GetEpoch() || ev.GetAgentId() != "u" {
			t.Fatalf("a closing event: time %v, epoch %q, agent %q; want %v, the log's, u", ts.AsTime(), ev.GetEpoch(), ev.GetAgentId(), clk.now())
		}
	}
	if d := toolDescription(readAll(t, e, "u").Events); !slices.Equal(d, []string{"1:q1", "2:s0", "3:b+", "4:a=moved on", "5:closed", "6:q2"}) {
		t.Fatalf("the log: %v", d)
	}
	if _, err := e.AnswerCall(ctx, "u", engine.Answer{Key: engine.CallKey("a"), Kind: engine.PendingResult, Events: []*agentv1.AgentEvent{resultEv("a", "late")}}); !errors.Is(err, engine.ErrNotPending) {
		t.Fatalf("an answer after the closing: %v, want ErrNotPending", err)
	}
	if _, err := e.CancelRun(ctx, "u", ""); !errors.Is(err, engine.ErrNoRun) {
		t.Fatalf("CancelRun of a closed run: %v, want ErrNoRun", err)
	}
}

func testCancelClosesPause(t *testing.T, newEngine Factory) {
	e := open(t, newEngine, engine.Config{})
	ctx := testCtx(t)
	w := withClaim(t, e, "c", "q1").Work
	if _, err := e.AppendRun(ctx, "c", []*agentv1.AgentEvent{stepMsg("s0", 1, 0)}, pause(w.Lease, 1)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.CancelRun(ctx, "c", "another"); !errors.Is(err, engine.ErrNoRun) {
		t.Fatalf("CancelRun naming another run: %v, want ErrNoRun", err)
	}
	id, err := e.CancelRun(ctx, "c", "run")
	if err != nil || id != "run" {
		t.Fatalf("CancelRun of the paused run: %q, %v", id, err)
	}
	// Every pending call closed, in the step's order, then the end.
	if d := toolDescription(readAll(t, e, "c").Events); !slices.Equal(d, []string{"1:q1", "2:s0", "3:a=cancelled", "4:b=cancelled", "5:closed"}) {
		t.Fatalf("the log: %v", d)
	}
	if _, err := e.CancelRun(ctx, "c", ""); !errors.Is(err, engine.ErrNoRun) {
		t.Fatalf("CancelRun again: %v, want ErrNoRun", err)
	}
	if _, err := e.AnswerCall(ctx, "c", engine.Answer{Key: engine.CallKey("a"), Kind: engine.PendingResult, Events: []*agentv1.AgentEvent{resultEv("a", "late")}}); !errors.Is(err, engine.ErrNotPending) {
		t.Fatalf("an answer after CancelRun: %v, want ErrNotPending", err)
	}
	if p := readAll(t, e, "c"); p.Resume != 0 {
		t.Fatalf("resume %d after a cancel, want 0", p.Resume)
	}
}

func testPauseWithNewerMessage(t *testing.T, newEngine Factory) {
	e := open(t, newEngine, engine.Config{})
	ctx := testCtx(t)
	w := withClaim(t, e, "n", "q1").Work
	appendUser(t, e, "n", "q2")
	res, err := e.AppendRun(ctx, "n", []*agentv1.AgentEvent{stepMsg("s0", 1, 0)}, pause(w.Lease, 1))
	if err != nil || !res.Closed {
		t.Fatalf("a pause with a newer message waiting: %+v, %v; want closed at once", res, err)
	}
	if res.Work == nil || res.Work.Page.Answered != 1 {
		t.Fatalf("the work after the closed pause: %+v; want q2's", res.Work)
	}
	if d := toolDescription(readAll(t, e, "n").Events); !slices.Equal(d, []string{"1:q1", "2:q2", "3:s0", "4:a=moved on", "5:b=moved on", "6:closed"}) {
		t.Fatalf("the log: %v", d)
	}
	if _, ok, _ := e.PendingCall(ctx, "n", engine.CallKey("a")); ok {
		t.Fatal("a is pending after the closing")
	}
}

func testStepProgress(t *testing.T, newEngine Factory) {
	e := open(t, newEngine, engine.Config{})
	ctx := testCtx(t)
	w := withClaim(t, e, "g", "q1").Work
	pub := func(ev *agentv1.AgentEvent) {
		t.Helper()
		if err := e.PublishRun(ctx, w.Lease, ev); err != nil {
			t.Fatal(err)
		}
	}
	pub(&agentv1.AgentEvent{RunSeq: 1, Kind: &agentv1.AgentEvent_RunStarted{RunStarted: &agentv1.RunStarted{RunId: "run", MessageId: "m0", ReplyToSeq: 1}}})
	pub(&agentv1.AgentEvent{RunSeq: 2, Kind: &agentv1.AgentEvent_TextDelta{TextDelta: &agentv1.TextDelta{RunId: "run", MessageId: "m0", Delta: "step 0"}}})
	if _, err := e.AppendRun(ctx, "g", []*agentv1.AgentEvent{stepMsg("step 0", 1, 0)}, engine.RunAppend{Lease: w.Lease, Answers: 1}); err != nil {
		t.Fatal(err)
	}
	if run, err := e.Run(ctx, "g"); err != nil || len(run) != 0 {
		t.Fatalf("the progress after a step was appended: %v, %v; want none", run, err)
	}
	pub(&agentv1.AgentEvent{RunSeq: 3, Kind: &agentv1.AgentEvent_StepStarted{StepStarted: &agentv1.StepStarted{RunId: "run", MessageId: "m1", Step: 1, ReplyToSeq: 1}}})
	pub(&agentv1.AgentEvent{RunSeq: 4, Kind: &agentv1.AgentEvent_TextDelta{TextDelta: &agentv1.TextDelta{RunId: "run", MessageId: "m1", Delta: "step "}}})
	pub(&agentv1.AgentEvent{RunSeq: 5, Kind: &agentv1.AgentEvent_TextDelta{TextDelta: &agentv1.TextDelta{RunId: "run", MessageId: "m1", Delta: "1"}}})
	eventually(t, "the step's progress", func() bool {
		run, err := e.Run(ctx, "g")
		return err == nil && len(run) == 2 && run[1].GetTextDelta().GetDelta() == "step 1"
	})
	run, _ := e.Run(ctx, "g")
	if s := run[0].GetStepStarted(); s.GetStep() != 1 || run[1].GetTextDelta().GetMessageId() != "m1" || run[1].GetRunSeq() != 5 {
		t.Fatalf("the progress of step 1: %v", run)
	}
	if id, err := e.CancelRun(ctx, "g", "run"); err != nil || id != "run" {
		t.Fatalf("CancelRun during step 1: %q, %v", id, err)
	}
}
