package agent

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"

	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/agentgate/agentgate/internal/engine"
	"github.com/agentgate/agentgate/responder"
)

// folding is an engine whose Run returns the run's progress folded, as
// engine.Engine.Run allows: the text so far as one delta, each tool call's
// arguments as one piece.
type folding struct{ engine.Engine }

func (f folding) Run(ctx context.Context, agentID string) ([]*agentv1.AgentEvent, error) {
	evs, err := f.Engine.Run(ctx, agentID)
	if err != nil || len(evs) == 0 {
		return evs, err
	}
	// The text is folded by unsent; the arguments are folded here.
	var out []*agentv1.AgentEvent
	args := map[string]*agentv1.AgentEvent{}
	for _, ev := range unsent(evs, &sentRun{}, false) {
		a := ev.GetToolCallArgs()
		if a == nil {
			out = append(out, ev)
			continue
		}
		if prev := args[a.GetToolCallId()]; prev != nil {
			prev.GetToolCallArgs().Delta += a.GetDelta()
			prev.RunSeq = ev.GetRunSeq()
			continue
		}
		c := &agentv1.AgentEvent{AgentId: ev.GetAgentId(), Epoch: ev.GetEpoch(), RunSeq: ev.GetRunSeq(),
			Kind: &agentv1.AgentEvent_ToolCallArgs{ToolCallArgs: &agentv1.ToolCallArgs{RunId: a.GetRunId(), ToolCallId: a.GetToolCallId(), Delta: a.GetDelta()}}}
		args[a.GetToolCallId()] = c
		out = append(out, c)
	}
	return out, nil
}

// burst writes n deltas, then a tool call, says so on wrote, waits for
// release, then writes n more.
type burst struct {
	n       int
	wrote   chan struct{}
	release chan struct{}
}

func (b burst) Respond(ctx context.Context, req responder.Request, out responder.Stream) (responder.Result, error) {
	write := func(from int) error {
		for i := from; i < from+b.n; i++ {
			if err := out.Text(fmt.Sprintf("w%d ", i)); err != nil {
				return err
			}
		}
		return nil
	}
	if err := write(0); err != nil {
		return responder.Result{}, err
	}
	for _, step := range []func() error{
		func() error { return out.ToolCallStart("call-1", "look") },
		func() error { return out.ToolCallArgs("call-1", `{"q":`) },
		func() error { return out.ToolCallArgs("call-1", `"x"}`) },
	} {
		if err := step(); err != nil {
			return responder.Result{}, err
		}
	}
	b.wrote <- struct{}{}
	select {
	case <-b.release:
	case <-ctx.Done():
		return responder.Result{}, ctx.Err()
	}
	if err := out.ToolCallEnd("call-1"); err != nil {
		return responder.Result{}, err
	}
	return responder.Result{}, write(b.n)
}

// A Reply whose subscription overflowed picks the run up again, whether
// the engine's progress is folded or not: its client gets every byte of
// the text and the arguments written so far once, and then the reply.
func TestReplyRejoinsAfterAnOverflow(t *testing.T) {
	t.Parallel()
	for _, fold := range []bool{false, true} {
		t.Run(fmt.Sprint("folded=", fold), func(t *testing.T) {
			t.Parallel()
			var eng engine.Engine = engine.NewMemory(engine.Config{SubscriberBuffer: 16})
			if fold {
				eng = folding{eng}
			}
			b := burst{n: 200, wrote: make(chan struct{}, 1), release: make(chan struct{})}
			s := New(Config{Engine: eng, Responder: b, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			t.Cleanup(func() {
				s.Close()
				_ = eng.Close()
			})
			c := ctx(t)
			r, err := s.Ask(c, "burst", "go", "")
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			var text, args strings.Builder
			var started, ended int
			var reply *agentv1.Message
			emit := func(ev *agentv1.AgentEvent) error {
				switch {
				case ev.GetRunStarted() != nil:
					started++
				case ev.GetTextDelta() != nil:
					text.WriteString(ev.GetTextDelta().GetDelta())
				case ev.GetToolCallArgs() != nil:
					args.WriteString(ev.GetToolCallArgs().GetDelta())
				case ev.GetToolCallEnd() != nil:
					ended++
				case ev.GetMessage() != nil:
					reply = ev.GetMessage()
				}
				return nil
			}
			if err := r.Start(c, emit); err != nil || r.Done() {
				t.Fatal(r.Done(), err)
			}
			<-b.wrote // 200 deltas on a queue of 16: it overflowed
			if err := r.Pump(c, emit); err != nil || r.Done() {
				t.Fatalf("after the overflow: done %v, %v", r.Done(), err)
			}
			if want := wrote(0, 200); text.String() != want || args.String() != `{"q":"x"}` || started != 1 {
				t.Fatalf("rejoined with %d runs started, text %q…, args %q; want the text and arguments so far, once", started, head(text.String()), args.String())
			}
			close(b.release)
			if err := pumpToEnd(c, r, emit); err != nil {
				t.Fatal(err)
			}
			// The reply may have been appended before the second rejoin:
			// it then ends the deltas, which hold a part of it, in order.
			if reply.GetText() != wrote(0, 400) || !strings.HasPrefix(reply.GetText(), text.String()) || ended > 1 {
				t.Fatalf("the deltas make %d bytes, the reply %d bytes (%d ends): want the deltas to begin the reply", text.Len(), len(reply.GetText()), ended)
			}
		})
	}
}

func wrote(from, to int) string {
	var b strings.Builder
	for i := from; i < to; i++ {
		fmt.Fprintf(&b, "w%d ", i)
	}
	return b.String()
}

func head(s string) string { return s[:min(len(s), 40)] }

// The ephemeral events of a run written for a log that is gone are not
// passed on by a follower of the log that replaced it.
func TestFollowerDropsEventsOfAnotherLog(t *testing.T) {
	t.Parallel()
	s, eng := newService(t, Config{})
	c := ctx(t)
	res, err := eng.AppendUser(c, "gone", s.userEvent("hi", ""), engine.AppendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	stored := res.Event
	lease, ok, err := eng.AcquireLease(c, "gone", 60e9)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	f, err := s.Follow(c, "gone", FollowOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Start(c, func(*agentv1.AgentEvent) error { return nil }); err != nil {
		t.Fatal(err)
	}
	old := newRunStream(context.Background(), s, lease, "run-old", "reply-old")
	old.epoch = "another-log"
	cur := newRunStream(context.Background(), s, lease, "run-cur", "reply-cur")
	cur.epoch = stored.GetEpoch()
	_ = old.started(1)
	_ = cur.started(1)
	_ = old.Text("stale ")
	_ = cur.Text("fresh")
	if got := strings.Join(collectEvents(t, f), " "); got != "started text:fresh" {
		t.Fatalf("delivered %q; want only the events of the log followed", got)
	}
}
