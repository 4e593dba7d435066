package agent

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/agentgate/agentgate/internal/engine"
	"github.com/agentgate/agentgate/responder"
)

// replyOf follows the agent from after until a reply to seq arrives.
func replyOf(t *testing.T, s *Service, agentID string, after, seq uint64) *agentv1.AgentEvent {
	t.Helper()
	c := ctx(t)
	f, err := s.Follow(c, agentID, FollowOptions{After: &after})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var reply *agentv1.AgentEvent
	emit := func(ev *agentv1.AgentEvent) error {
		if ReplyTo(ev) == seq {
			reply = ev
		}
		return nil
	}
	if err := f.Start(c, emit); err != nil {
		t.Fatal(err)
	}
	for reply == nil {
		select {
		case <-f.Ready():
			if err := f.Pump(c, emit); err != nil {
				t.Fatal(err)
			}
		case <-c.Done():
			t.Fatalf("no reply to seq %d", seq)
		}
	}
	return reply
}

// appendAbandoned appends a user message as a replica that died before
// answering leaves it: in the log, waiting, with nobody holding the lease.
func appendAbandoned(t *testing.T, eng engine.Engine, agentID, text string) *agentv1.AgentEvent {
	t.Helper()
	res, err := eng.AppendUser(ctx(t), agentID, &agentv1.AgentEvent{Kind: &agentv1.AgentEvent_Message{Message: &agentv1.Message{
		MessageId: newID(), Role: agentv1.Role_ROLE_USER, Text: text}}}, engine.AppendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return res.Event
}

// Reading never starts writing: following an agent whose message waits
// makes no replier, and the message stays due for the sweep.
func TestFollowingStartsNoWriting(t *testing.T) {
	t.Parallel()
	s, eng := newService(t, Config{LeaseTTL: time.Hour})
	c := ctx(t)
	appendAbandoned(t, eng, "quiet", "anyone?")
	after := uint64(0)
	f, err := s.Follow(c, "quiet", FollowOptions{After: &after})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Start(c, func(*agentv1.AgentEvent) error { return nil }); err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	n := len(s.repliers)
	s.mu.Unlock()
	if n != 0 {
		t.Fatalf("following made %d repliers, want none", n)
	}
	if due, err := eng.Due(c, 10); err != nil || len(due) != 1 || due[0] != "quiet" {
		t.Fatalf("Due: %v, %v; want the waiting agent", due, err)
	}
}

// The sweep answers a message that nobody answers, as a replica that died
// mid-reply leaves it once its lease expires.
func TestSweepAnswersWhatNobodyAnswers(t *testing.T) {
	t.Parallel()
	s, eng := newService(t, Config{LeaseTTL: 50 * time.Millisecond})
	msg := appendAbandoned(t, eng, "left", "still there?")
	if got := replyOf(t, s, "left", 0, msg.GetSeq()); got.GetMessage().GetText() != "echo: still there?" {
		t.Fatalf("reply %v", got)
	}
	if due, err := eng.Due(ctx(t), 10); err != nil || len(due) != 0 {
		t.Fatalf("Due after the answer: %v, %v; want none", due, err)
	}
}

// A run abandoned by a replica that went away (its Service closed, as on a
// shutdown) is answered by another replica of the same store, once.
func TestAnotherReplicaAnswersWhenTheFirstIsGone(t *testing.T) {
	t.Parallel()
	eng := engine.NewMemory(engine.Config{})
	t.Cleanup(func() { _ = eng.Close() })
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	started := make(chan struct{}, 1)
	a := New(Config{Engine: eng, Logger: quiet, LeaseTTL: time.Hour, Responder: responder.Func(func(ctx context.Context, _ responder.Request, out responder.Stream) (responder.Result, error) {
		started <- struct{}{}
		<-ctx.Done()
		return responder.Result{}, ctx.Err()
	})})
	b := New(Config{Engine: eng, Logger: quiet, LeaseTTL: 50 * time.Millisecond})
	t.Cleanup(b.Close)
	sent := make(chan error, 1)
	go func() {
		_, err := a.Send(ctx(t), "handover", "hello", "")
		sent <- err
	}()
	<-started
	a.Close() // abandons the run, and gives its lease up
	if err := <-sent; KindOf(err) != KindUnavailable {
		t.Fatalf("Send on the replica that went away: %v, want unavailable", err)
	}
	if got := replyOf(t, b, "handover", 0, 1); got.GetMessage().GetText() != "echo: hello" {
		t.Fatalf("the other replica's reply: %v", got)
	}
	p, err := eng.Read(ctx(t), "handover", 0, 10)
	if err != nil || len(p.Events) != 2 || p.Answered != 1 {
		t.Fatalf("log %v, answered %d, %v; want the message and one reply", p.Events, p.Answered, err)
	}
}

// A replier stays between back-to-back messages, with its goroutine,
// timer and cancel listener, but holds no lease while idle.
func TestReplierStaysBetweenMessagesWithoutTheLease(t *testing.T) {
	t.Parallel()
	s, eng := newService(t, Config{})
	c := ctx(t)
	replier := func() *replier {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.repliers["b2b"]
	}
	if _, err := s.Send(c, "b2b", "one", ""); err != nil {
		t.Fatal(err)
	}
	first := replier()
	if first == nil {
		t.Fatal("no replier after a message")
	}
	lease, ok, err := eng.AcquireLease(c, "b2b", time.Minute)
	if err != nil || !ok {
		t.Fatalf("the lease after the reply: ok %v, %v; want it free", ok, err)
	}
	if err := eng.ReleaseLease(c, lease); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Send(c, "b2b", "two", ""); err != nil {
		t.Fatal(err)
	}
	if replier() != first {
		t.Fatal("the second message got a new replier")
	}
}

// replierOf is the agent's replier here, nil if none.
func replierOf(s *Service, agentID string) *replier {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.repliers[agentID]
}

// A SendMessage whose append takes the lease writes its reply itself: no
// replier goroutine is started for it. A message sent while that reply is
// being written waits behind it, and the replier's goroutine answers it
// once the first caller is done, in order.
func TestSendWritesItsOwnReply(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	started := make(chan string, 2)
	s, _ := newService(t, Config{Responder: responderFunc(func(ctx context.Context, req responder.Request, emit func(string) error) error {
		started <- req.Message.Text
		if req.Message.Text == "first" {
			<-release
		}
		return emit("re: " + req.Message.Text)
	})})
	c := ctx(t)
	res, err := s.Send(c, "own", "alone", "")
	if err != nil || res.Reply.GetMessage().GetText() != "re: alone" || len(res.Events) != 1 || res.Events[0] != res.Reply {
		t.Fatalf("Send: %v, events %v, %v; want the reply, the only event", res.Reply, res.Events, err)
	}
	<-started
	if r := replierOf(s, "own"); r == nil || r.running {
		t.Fatalf("replier after a lone Send: %+v; want one without a goroutine", r)
	}

	type sent struct {
		res SendResult
		err error
	}
	f, err := s.Follow(c, "own", FollowOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Start(c, func(*agentv1.AgentEvent) error { return nil }); err != nil {
		t.Fatal(err)
	}
	first, second := make(chan sent, 1), make(chan sent, 1)
	go func() {
		res, err := s.Send(c, "own", "first", "")
		first <- sent{res, err}
	}()
	<-started
	go func() {
		res, err := s.Send(c, "own", "second", "")
		second <- sent{res, err}
	}()
	// The second message is in the log, waiting, before the first reply.
	waitFor(t, f, func(ev *agentv1.AgentEvent) bool { return ev.GetMessage().GetText() == "second" })
	close(release)
	a, b := <-first, <-second
	if a.err != nil || b.err != nil {
		t.Fatalf("Send: %v, %v", a.err, b.err)
	}
	if a.res.Reply.GetMessage().GetText() != "re: first" || b.res.Reply.GetMessage().GetText() != "re: second" ||
		a.res.Reply.GetSeq() >= b.res.Reply.GetSeq() {
		t.Fatalf("replies %v then %v; want first's, then second's", a.res.Reply, b.res.Reply)
	}
	if r := replierOf(s, "own"); r == nil || !r.running {
		t.Fatalf("replier after a message that waited: %+v; want its goroutine running", r)
	}
}

// A SendMessage whose caller goes away while it writes its own reply
// cancels nothing: the reply is written whole, on the caller's goroutine,
// and the call then ends with the caller's cancellation. (A socket does
// not wait for it: it detaches the call, see internal/bridge.)
func TestSendWhoseCallerGoesAwayWritesTheReply(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	s, _ := newService(t, Config{Responder: responderFunc(func(ctx context.Context, _ responder.Request, emit func(string) error) error {
		started <- struct{}{}
		<-release
		if err := emit("written "); err != nil {
			return err
		}
		return emit("anyway")
	})})
	c, cancel := context.WithCancel(ctx(t))
	errc := make(chan error, 1)
	go func() {
		_, err := s.Send(c, "left", "hello", "")
		errc <- err
	}()
	<-started
	cancel()
	close(release)
	if err := <-errc; KindOf(err) != KindCanceled {
		t.Fatalf("Send whose caller went away: %v, want canceled", err)
	}
	// Read at once: the call ended once the reply was written.
	p, err := s.History(ctx(t), "left", 0, 10)
	if err != nil || len(p.Events) != 2 || p.Events[1].GetMessage().GetText() != "written anyway" {
		t.Fatalf("history %v, %v; want the message and its whole reply", p.Events, err)
	}
}

// waitFor pumps f until an event it delivers satisfies ok.
func waitFor(t *testing.T, f *Follower, ok func(*agentv1.AgentEvent) bool) {
	t.Helper()
	c := ctx(t)
	found := false
	emit := func(ev *agentv1.AgentEvent) error {
		found = found || ok(ev)
		return nil
	}
	for !found {
		select {
		case <-f.Ready():
			if err := f.Pump(c, emit); err != nil {
				t.Fatal(err)
			}
		case <-c.Done():
			t.Fatal("the event never came")
		}
	}
}
