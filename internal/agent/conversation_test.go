package agent

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentgate/agentgate/responder"
)

// recorder is a responder that keeps the conversation of every request.
type recorder struct {
	mu  sync.Mutex
	got map[string][]string // message text → the history it was given
}

func (r *recorder) Respond(_ context.Context, req responder.Request, out responder.Stream) (responder.Result, error) {
	var h []string
	for _, m := range req.History {
		s := string(m.Role) + ":" + m.Text
		for _, c := range m.ToolCalls {
			s += fmt.Sprintf("[%s %s→%s]", c.Name, c.Arguments, c.Result)
		}
		h = append(h, s)
	}
	r.mu.Lock()
	r.got[req.Message.Text] = h
	r.mu.Unlock()
	if req.Message.Text == "fail" {
		return responder.Result{}, responder.Errorf("nope", "this one fails")
	}
	if req.Message.Text == "tool" {
		_ = out.ToolCallStart("t1", "lookup")
		_ = out.ToolCallArgs("t1", `{"q":1}`)
		_ = out.ToolCallEnd("t1")
		_ = out.ToolCallResult("t1", "42")
	}
	return responder.Result{}, out.Text("re " + req.Message.Text)
}

func (r *recorder) history(text string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.got[text], " | ")
}

func TestResponderGetsTheConversation(t *testing.T) {
	t.Parallel()
	rec := &recorder{got: map[string][]string{}}
	s, _ := newService(t, Config{Responder: rec, ContextMessages: 4})
	c := ctx(t)
	for _, text := range []string{"one", "fail", "tool", "two", "three"} {
		if _, err := s.Send(c, "conv", text, ""); err != nil {
			t.Fatal(err)
		}
	}
	for text, want := range map[string]string{
		"one":  "",
		"fail": "user:one | assistant:re one",
		// The run error is not context; the message it answered is.
		"tool": "user:one | assistant:re one | user:fail",
		"two":  "assistant:re one | user:fail | user:tool | assistant:re tool[lookup {\"q\":1}→42]",
		// Only the last four.
		"three": "user:tool | assistant:re tool[lookup {\"q\":1}→42] | user:two | assistant:re two",
	} {
		if got := rec.history(text); got != want {
			t.Errorf("history of %q:\n got %s\nwant %s", text, got, want)
		}
	}
}

// A burst of messages is answered one by one: each gets the replies to the
// ones before it, although those were appended after it.
func TestBurstGetsEarlierReplies(t *testing.T) {
	t.Parallel()
	rec := &recorder{got: map[string][]string{}}
	s, eng := newService(t, Config{Responder: rec, ContextMessages: 50})
	c := ctx(t)
	// Hold the lease so that the messages queue up unanswered.
	lease, ok, err := eng.AcquireLease(c, "burst", time.Minute)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	for _, text := range []string{"a", "b", "c"} {
		if _, _, err := s.Enqueue(c, "burst", text, ""); err != nil {
			t.Fatal(err)
		}
	}
	if err := eng.ReleaseLease(c, lease); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Send(c, "burst", "d", ""); err != nil {
		t.Fatal(err)
	}
	if got, want := rec.history("d"), "user:a | assistant:re a | user:b | assistant:re b | user:c | assistant:re c"; got != want {
		t.Fatalf("history of d:\n got %s\nwant %s", got, want)
	}
	if got, want := rec.history("c"), "user:a | assistant:re a | user:b | assistant:re b"; got != want {
		t.Fatalf("history of c:\n got %s\nwant %s", got, want)
	}
}

// ContextMessages 0 means none, as CONTEXT_MESSAGES=0 does; a responder
// that needs less (echo: nothing) gets less, and the work an append takes
// carries the events that conversation needs, and no more.
func TestContextMessages(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		cfg  Config
		want int
	}{
		{Config{Responder: &recorder{}}, 0},
		{Config{Responder: &recorder{}, ContextMessages: 7}, 7},
		{Config{Responder: responder.Echo{}, ContextMessages: 50}, 0},
	} {
		s, _ := newService(t, tc.cfg)
		if s.contextMessages != tc.want || s.claim.Context != 2*tc.want {
			t.Errorf("ContextMessages %d with %T: %d messages, claims %d events of context; want %d, %d",
				tc.cfg.ContextMessages, tc.cfg.Responder, s.contextMessages, s.claim.Context, tc.want, 2*tc.want)
		}
	}
}
