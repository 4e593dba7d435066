package agent

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"unicode/utf8"

	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/agentgate/agentgate/internal/engine"
	"github.com/agentgate/agentgate/responder"
)

// TestReplyCapEveryKindOfPiece: text, tool call arguments and results count
// against MaxReplyBytes together; the piece that crosses it is cut on a
// UTF-8 boundary, every later call returns ErrReplyTooLarge (a responder
// that ignores it gets nothing in), the run's context is cancelled, and
// the reply keeps what fitted with finish reason length, whatever the
// responder returned. The events published carry no more than the cap.
func TestReplyCapEveryKindOfPiece(t *testing.T) {
	t.Parallel()
	const limit = 4096
	var afterCap []error
	var ctxDone atomic.Bool
	s, eng := newService(t, Config{MaxReplyBytes: limit, Responder: responder.Func(func(ctx context.Context, _ responder.Request, out responder.Stream) (responder.Result, error) {
		_ = out.Text(strings.Repeat("a", 1000))
		_ = out.ToolCallStart("t1", "search")
		_ = out.ToolCallArgs("t1", strings.Repeat("b", 1000))
		_ = out.ToolCallEnd("t1")
		_ = out.ToolCallResult("t1", strings.Repeat("c", 1000))
		err := out.Text("x" + strings.Repeat("é", 1000)) // crosses the cap inside a rune
		afterCap = append(afterCap, err,
			out.Text("more"), out.ToolCallStart("t2", "x"), out.ToolCallArgs("t1", "{}"), out.ToolCallEnd("t1"), out.ToolCallResult("t1", "r"))
		ctxDone.Store(ctx.Err() != nil)
		return responder.Result{}, errors.New("the responder's own error, after the cap")
	})})
	sub, err := eng.Subscribe(ctx(t), "cap", engine.SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	res, err := s.Send(ctx(t), "cap", "go", "")
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range afterCap {
		if !errors.Is(e, responder.ErrReplyTooLarge) {
			t.Fatalf("call %d after the cap returned %v, want ErrReplyTooLarge", i, e)
		}
	}
	if !ctxDone.Load() {
		t.Fatal("the run's context was not cancelled at the cap")
	}
	m := res.Reply.GetMessage()
	if m == nil || m.GetFinishReason() != agentv1.FinishReason_FINISH_REASON_LENGTH {
		t.Fatalf("reply %v, want a message with finish reason length", res.Reply)
	}
	calls := m.GetToolCalls()
	if len(calls) != 1 || len(calls[0].GetArguments()) != 1000 || len(calls[0].GetResult()) != 1000 {
		t.Fatalf("tool calls %v, want t1 whole", calls)
	}
	total := len(m.GetText()) + len("search") + 1000 + 1000 + 1 // the end costs a byte
	if total > limit || total < limit-1 || !utf8.ValidString(m.GetText()) || !strings.HasPrefix(m.GetText(), strings.Repeat("a", 1000)+"x") {
		t.Fatalf("reply text %d bytes (valid UTF-8 %v): %d bytes in all, want %d or one less", len(m.GetText()), utf8.ValidString(m.GetText()), total, limit)
	}
	published := 0
	for {
		ev, ok := sub.Next()
		if !ok {
			break
		}
		switch k := ev.GetKind().(type) {
		case *agentv1.AgentEvent_TextDelta:
			published += len(k.TextDelta.GetDelta())
		case *agentv1.AgentEvent_ToolCallArgs:
			published += len(k.ToolCallArgs.GetDelta())
		case *agentv1.AgentEvent_ToolCallResult:
			published += len(k.ToolCallResult.GetContent())
		}
	}
	if published > limit {
		t.Fatalf("the run's events carried %d bytes; the cap is %d", published, limit)
	}
}

// TestLargeRunReleasesMemory: the worker calls ReleaseMemory after a run
// that wrote largeRun bytes or more, and not after a small one.
func TestLargeRunReleasesMemory(t *testing.T) {
	t.Parallel()
	var released atomic.Int64
	signal := make(chan struct{}, 4)
	s, _ := newService(t, Config{
		ReleaseMemory: func() { released.Add(1); signal <- struct{}{} },
		Responder: responderFunc(func(_ context.Context, req responder.Request, emit func(string) error) error {
			if req.Message.Text == "big" {
				for range largeRun / 1024 {
					if err := emit(strings.Repeat("z", 1024)); err != nil {
						return err
					}
				}
				return nil
			}
			return emit("small")
		}),
	})
	if _, err := s.Send(ctx(t), "rel", "small", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Send(ctx(t), "rel", "big", ""); err != nil {
		t.Fatal(err)
	}
	// The worker releases after the reply is appended, so maybe after Send
	// returned; it answers in order, so the small reply was decided on by
	// then.
	select {
	case <-signal:
	case <-ctx(t).Done():
		t.Fatal("no release after the large reply")
	}
	if n := released.Load(); n != 1 {
		t.Fatalf("released %d times after a reply of %d bytes, want once", n, largeRun)
	}
}

// A CancelRun of a run that the append began, heard before the run's
// writer got to it, stops the run as soon as it begins; one of another
// run, or after the run ended, stops nothing.
func TestCancelsKeepACancelForTheRunExpected(t *testing.T) {
	t.Parallel()
	var c cancels
	stopped := 0
	stop := func() { stopped++ }

	c.expect("r1")
	c.cancel("r0")
	c.cancel("r1")
	c.begin("r1", stop)
	if stopped != 1 || !c.was() {
		t.Fatalf("a cancel heard before the run began: stopped %d times, was %v; want once, true", stopped, c.was())
	}
	if !c.end() {
		t.Fatal("end: the run was cancelled")
	}

	c.expect("r2")
	c.begin("r3", stop) // the append began no run: the writer made its own
	c.cancel("r2")
	if stopped != 1 || c.was() {
		t.Fatalf("a cancel of the run expected, not the one begun: stopped %d, was %v", stopped, c.was())
	}
	c.cancel("r3")
	if stopped != 2 || !c.was() {
		t.Fatalf("a cancel of the run begun: stopped %d, was %v", stopped, c.was())
	}
	c.end()
	c.cancel("")
	c.cancel("r3")
	if stopped != 2 {
		t.Fatalf("cancels after the run ended: stopped %d times, want 2", stopped)
	}
}
