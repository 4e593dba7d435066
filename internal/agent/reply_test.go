package agent

import (
	"context"
	"strings"
	"testing"

	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/agentgate/agentgate/responder"
)

// gated writes "a", says so on wrote, waits for release, then writes "b".
type gated struct {
	wrote   chan struct{}
	release chan struct{}
}

func (g gated) Respond(ctx context.Context, req responder.Request, out responder.Stream) (responder.Result, error) {
	if err := out.Text("a"); err != nil {
		return responder.Result{}, err
	}
	g.wrote <- struct{}{}
	select {
	case <-g.release:
	case <-ctx.Done():
		return responder.Result{}, ctx.Err()
	}
	return responder.Result{}, out.Text("b")
}

// pumpToEnd pumps r until it delivered its reply, or c is done.
func pumpToEnd(c context.Context, r *Follower, emit func(*agentv1.AgentEvent) error) error {
	for {
		select {
		case <-r.Ready():
			if err := r.Pump(c, emit); err != nil || r.Done() {
				return err
			}
		case <-c.Done():
			return c.Err()
		}
	}
}

// follow drives a follower of one reply to its end and returns what it
// delivered.
func follow(t *testing.T, c context.Context, r *Follower) []*agentv1.AgentEvent {
	t.Helper()
	var evs []*agentv1.AgentEvent
	emit := func(ev *agentv1.AgentEvent) error {
		evs = append(evs, ev)
		return nil
	}
	err := r.Start(c, emit)
	if !r.Done() && err == nil {
		err = pumpToEnd(c, r, emit)
	}
	if err != nil {
		t.Fatalf("following the reply: %v", err)
	}
	return evs
}

// kinds names the events' kinds and texts, e.g. "run_started delta:a message:ab".
func kinds(evs []*agentv1.AgentEvent) string {
	var out []string
	for _, ev := range evs {
		switch k := ev.GetKind().(type) {
		case *agentv1.AgentEvent_RunStarted:
			out = append(out, "run_started")
		case *agentv1.AgentEvent_TextDelta:
			out = append(out, "delta:"+k.TextDelta.GetDelta())
		case *agentv1.AgentEvent_Message:
			out = append(out, "message:"+k.Message.GetText())
		case *agentv1.AgentEvent_RunError:
			out = append(out, "run_error:"+k.RunError.GetCode())
		default:
			out = append(out, "other")
		}
	}
	return strings.Join(out, " ")
}

func TestReplyFollowsOneAnswerAndARetryGetsItWhole(t *testing.T) {
	t.Parallel()
	g := gated{wrote: make(chan struct{}, 1), release: make(chan struct{})}
	close(g.release)
	s, _ := newService(t, Config{Responder: g})
	c := ctx(t)
	r, err := s.Ask(c, "r", "hi", "m1")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Duplicate() || r.Message().GetMessage().GetText() != "hi" {
		t.Fatalf("message %v, duplicate %v", r.Message(), r.Duplicate())
	}
	evs := follow(t, c, r)
	// Ask subscribed before the message was appended: every event, as
	// written.
	if got := kinds(evs); got != "run_started delta:a delta:b message:ab" {
		t.Fatalf("events: %s", got)
	}

	again, err := s.Ask(c, "r", "hi", "m1")
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if !again.Duplicate() {
		t.Fatal("a retry was not a duplicate")
	}
	if got := kinds(follow(t, c, again)); got != "message:ab" {
		t.Fatalf("retry events: %s", got)
	}
}

func TestActiveRunIsNilWhenIdleAndTheRunSoFarMidReply(t *testing.T) {
	t.Parallel()
	g := gated{wrote: make(chan struct{}, 1), release: make(chan struct{})}
	s, _ := newService(t, Config{Responder: g})
	c := ctx(t)
	if r, err := s.ActiveRun(c, "busy"); err != nil || r != nil {
		t.Fatalf("idle agent: reply %v, err %v", r, err)
	}
	if _, _, err := s.Enqueue(c, "busy", "go", ""); err != nil {
		t.Fatal(err)
	}
	<-g.wrote
	r, err := s.ActiveRun(c, "busy")
	if err != nil || r == nil {
		t.Fatalf("mid-reply: reply %v, err %v", r, err)
	}
	defer r.Close()
	var evs []*agentv1.AgentEvent
	emit := func(ev *agentv1.AgentEvent) error {
		evs = append(evs, ev)
		return nil
	}
	if err := r.Start(c, emit); r.Done() || err != nil {
		t.Fatalf("start: done %v, err %v", r.Done(), err)
	}
	if got := kinds(evs); got != "run_started delta:a" {
		t.Fatalf("the run so far: %s", got)
	}
	close(g.release)
	evs = evs[:0]
	for !r.Done() {
		<-r.Ready()
		if err := r.Pump(c, emit); err != nil {
			t.Fatal(err)
		}
	}
	if got := kinds(evs); got != "delta:b message:ab" {
		t.Fatalf("live: %s", got)
	}
}

func TestAskRefusesWhatSendRefuses(t *testing.T) {
	t.Parallel()
	s, _ := newService(t, Config{})
	if _, err := s.Ask(ctx(t), "bad id", "hi", ""); KindOf(err) != KindInvalidArgument {
		t.Fatalf("bad agent id: %v", err)
	}
	if _, err := s.Ask(ctx(t), "ok", "", ""); KindOf(err) != KindInvalidArgument {
		t.Fatalf("empty text: %v", err)
	}
	if _, err := s.ActiveRun(ctx(t), "bad id"); KindOf(err) != KindInvalidArgument {
		t.Fatalf("ActiveRun, bad agent id: %v", err)
	}
}
