package agent

import (
	"context"
	"strings"
	"time"

	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
)

// Responder is the agent's logic: it writes the reply to one user message.
// It is called for one message of an agent at a time, in seq order.
//
// Respond streams the reply by calling emit with consecutive pieces of text;
// the reply is their concatenation. It must return when ctx is done. An error
// makes the reply a run_error event, so the user message still gets an answer.
type Responder interface {
	Respond(ctx context.Context, req Request, emit func(delta string) error) error
}

// Request is what a Responder gets to answer.
type Request struct {
	AgentID string
	// Seq is the seq of the user message.
	Seq uint64
	// Message is the user message.
	Message *agentv1.Message
}

// Echo is the built-in responder: it replies "echo: <text>", streamed in a few
// deltas. It needs nothing outside the process, which makes it the default
// for trying the gateway out and for tests.
type Echo struct {
	// Chunks is how many deltas the reply is split into, at most. Default 3.
	Chunks int
	// Delay is a pause before each delta, to make streaming visible. Default 0.
	Delay time.Duration
}

// Respond implements Responder.
func (e Echo) Respond(ctx context.Context, req Request, emit func(string) error) error {
	for _, part := range splitChunks("echo: "+req.Message.GetText(), max(e.Chunks, 0)) {
		if e.Delay > 0 {
			t := time.NewTimer(e.Delay)
			select {
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			case <-t.C:
			}
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := emit(part); err != nil {
			return err
		}
	}
	return nil
}

// splitChunks cuts s into at most n pieces (default 3) at word boundaries
// where it can, so that every piece is valid UTF-8.
func splitChunks(s string, n int) []string {
	if n <= 0 {
		n = 3
	}
	words := strings.SplitAfter(s, " ")
	if len(words) <= n {
		return words
	}
	out := make([]string, 0, n)
	for i := range n {
		out = append(out, strings.Join(words[i*len(words)/n:(i+1)*len(words)/n], ""))
	}
	return out
}
