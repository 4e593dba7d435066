package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/agentgate/agentgate/internal/engine"
	"github.com/agentgate/agentgate/responder"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// responderFunc is a responder that writes text only, through emit.
type responderFunc func(ctx context.Context, req responder.Request, emit func(string) error) error

func (f responderFunc) Respond(ctx context.Context, req responder.Request, out responder.Stream) (responder.Result, error) {
	return responder.Result{}, f(ctx, req, out.Text)
}

func newService(t *testing.T, cfg Config) (*Service, engine.Engine) {
	t.Helper()
	eng := engine.NewMemory(engine.Config{HistoryLimit: 50})
	cfg.Engine = eng
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	s := New(cfg)
	t.Cleanup(func() {
		s.Close()
		_ = eng.Close()
	})
	return s, eng
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestFailingResponderGivesRunError(t *testing.T) {
	t.Parallel()
	s, _ := newService(t, Config{Responder: responderFunc(func(ctx context.Context, req responder.Request, emit func(string) error) error {
		if req.Message.Text == "fail" {
			return errors.New("model is down")
		}
		return emit("fine")
	})})
	res, err := s.Send(ctx(t), "a", "fail", "")
	if err != nil {
		t.Fatal(err)
	}
	re := res.Reply.GetRunError()
	if re == nil || re.GetReplyToSeq() != res.Message.GetSeq() || re.GetCode() != "responder_failed" {
		t.Fatalf("reply %v, want a run_error for seq %d", res.Reply, res.Message.GetSeq())
	}
	// The next message is answered normally.
	res, err = s.Send(ctx(t), "a", "ok", "")
	if err != nil || res.Reply.GetMessage().GetText() != "fine" || res.Reply.GetSeq() != 4 {
		t.Fatalf("after a failure: %v, %v", res.Reply, err)
	}
}

func TestSlowResponderTimesOut(t *testing.T) {
	t.Parallel()
	s, _ := newService(t, Config{ReplyTimeout: 50 * time.Millisecond, Responder: responderFunc(func(ctx context.Context, _ responder.Request, _ func(string) error) error {
		<-ctx.Done()
		return ctx.Err()
	})})
	res, err := s.Send(ctx(t), "slow", "hi", "")
	if err != nil {
		t.Fatal(err)
	}
	if res.Reply.GetRunError().GetCode() != "reply_timeout" {
		t.Fatalf("reply %v, want run_error reply_timeout", res.Reply)
	}
}

func TestRepliesAreSerialPerAgent(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	running := map[string]int{}
	s, _ := newService(t, Config{Responder: responderFunc(func(ctx context.Context, req responder.Request, emit func(string) error) error {
		mu.Lock()
		running[req.AgentID]++
		n := running[req.AgentID]
		mu.Unlock()
		defer func() {
			mu.Lock()
			running[req.AgentID]--
			mu.Unlock()
		}()
		if n > 1 {
			return fmt.Errorf("%d replies at once for %s", n, req.AgentID)
		}
		return emit("ok")
	})})
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := s.Send(ctx(t), fmt.Sprint("agent-", i%2), fmt.Sprint(i), "")
			if err != nil || res.Reply.GetMessage().GetText() != "ok" {
				t.Errorf("send %d: %v %v", i, res.Reply, err)
			}
		}()
	}
	wg.Wait()
}

func TestFollowerFillsGapsAndReportsTrimming(t *testing.T) {
	t.Parallel()
	s, eng := newService(t, Config{})
	c := ctx(t)
	for i := range 30 {
		if _, err := s.Send(c, "g", fmt.Sprint(i), ""); err != nil {
			t.Fatal(err)
		}
	}
	// 60 events, 50 kept: replay from 0 starts with a gap marker at 11.
	after := uint64(0)
	f, err := s.Follow(c, "g", FollowOptions{After: &after})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var got []*agentv1.AgentEvent
	collect := func(ev *agentv1.AgentEvent) error { got = append(got, ev); return nil }
	if err := f.Start(c, collect); err != nil {
		t.Fatal(err)
	}
	if gap := got[0].GetHistoryGap(); gap == nil || gap.GetFirstRetainedSeq() != 11 || len(got) != 51 || f.Last() != 60 {
		t.Fatalf("replay: first %v, %d events, last %d; want a gap to 11, 50 events, last 60", got[0], len(got)-1, f.Last())
	}
	// A live event that arrives after a skipped one pulls the skipped one
	// from the log first.
	got = nil
	lease, _, _ := eng.AcquireLease(c, "other", time.Minute)
	_ = lease
	m1, _ := eng.AppendUser(c, "g", &agentv1.AgentEvent{Kind: &agentv1.AgentEvent_Message{Message: &agentv1.Message{Role: agentv1.Role_ROLE_USER, Text: "x"}}}, engine.AppendOptions{})
	if err := f.deliver(c, &agentv1.AgentEvent{Seq: m1.Event.GetSeq() + 5}, collect); err != nil {
		t.Fatal(err)
	}
	if len(got) < 2 || got[0].GetSeq() != 61 {
		t.Fatalf("delivered %v, want seq 61 filled from the log first", got)
	}
}

func TestDeleteEndsFollowers(t *testing.T) {
	t.Parallel()
	s, _ := newService(t, Config{})
	c := ctx(t)
	if _, err := s.Send(c, "d", "x", ""); err != nil {
		t.Fatal(err)
	}
	f, err := s.Follow(c, "d", FollowOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := s.Delete(c, "d"); err != nil {
		t.Fatal(err)
	}
	<-f.Ready()
	err = f.Pump(c, func(*agentv1.AgentEvent) error { return nil })
	if KindOf(err) != KindNotFound {
		t.Fatalf("after delete: %v, want not_found", err)
	}
}

func TestDeleteThenSendGetsItsOwnReply(t *testing.T) {
	t.Parallel()
	s, _ := newService(t, Config{})
	c := ctx(t)
	if _, err := s.Send(c, "re", "first", ""); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(c, "re"); err != nil {
		t.Fatal(err)
	}
	res, err := s.Send(c, "re", "second", "")
	if err != nil {
		t.Fatal(err)
	}
	if res.Reply.GetMessage().GetText() != "echo: second" || res.Message.GetSeq() != 1 {
		t.Fatalf("after delete, reply %v to seq %d; want echo: second to seq 1", res.Reply, res.Message.GetSeq())
	}
}

func TestSendEndsWhenItsAgentIsDeleted(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	s, _ := newService(t, Config{Responder: responderFunc(func(ctx context.Context, _ responder.Request, emit func(string) error) error {
		started <- struct{}{}
		select {
		case <-release:
		case <-ctx.Done():
		}
		return emit("late")
	})})
	defer close(release)
	c := ctx(t)
	errc := make(chan error, 1)
	go func() {
		_, err := s.Send(c, "gone", "hello", "")
		errc <- err
	}()
	<-started
	if err := s.Delete(c, "gone"); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		if KindOf(err) != KindAborted {
			t.Fatalf("Send after its agent was deleted: %v, want aborted", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Send still waits five seconds after its agent was deleted")
	}
}

// BenchmarkSend is a SendMessage in the domain alone, on the memory engine
// with the echo responder: the message appended, its reply written by the
// replier, and the wait for it. Each of 32 goroutines a core sends to its
// own agent, one message after another, as ws-rtt's sockets do.
//
//	go test -run '^$' -bench BenchmarkSend -benchmem ./internal/agent
func BenchmarkSend(b *testing.B) {
	eng := engine.NewMemory(engine.Config{})
	s := New(Config{Engine: eng, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	b.Cleanup(func() {
		s.Close()
		_ = eng.Close()
	})
	var next atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(32)
	b.RunParallel(func(pb *testing.PB) {
		agentID := fmt.Sprint("bench-", next.Add(1))
		c := context.Background()
		for pb.Next() {
			if _, err := s.Send(c, agentID, "hello", ""); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
