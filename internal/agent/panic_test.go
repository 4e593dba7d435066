package agent

import (
	"context"
	"testing"
	"time"

	"github.com/agentgate/agentgate/responder"
)

// A responder that panics while a SendMessage writes its own reply, on
// the caller's goroutine under the server's recovers: the message gets a
// run error, and the agent answers its next message at once, here, with
// no lease left behind for the sweep to wait out.
func TestResponderPanicLeavesTheAgentAnswering(t *testing.T) {
	t.Parallel()
	s, _ := newService(t, Config{LeaseTTL: time.Hour, Responder: responderFunc(func(ctx context.Context, req responder.Request, emit func(string) error) error {
		if req.Message.Text == "boom" {
			panic("a bug in the responder")
		}
		return emit("fine")
	})})
	res, err := s.Send(ctx(t), "panics", "boom", "")
	if err != nil {
		t.Fatal(err)
	}
	if re := res.Reply.GetRunError(); re.GetCode() != "responder_failed" {
		t.Fatalf("the reply to the message whose responder panicked: %v; want a responder_failed run error", res.Reply)
	}
	c, cancel := context.WithTimeout(ctx(t), 5*time.Second)
	defer cancel()
	res, err = s.Send(c, "panics", "hello", "")
	if err != nil || res.Reply.GetMessage().GetText() != "fine" {
		t.Fatalf("the next message: %v, %v; want its reply", res.Reply, err)
	}
}
