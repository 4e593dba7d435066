package respondertest

import (
	"context"

	"github.com/agentgate/agentgate/responder"
)

// NewRequest returns a Request for a user message with text and no
// history: agent "agent-1", run "run-1", message "m1" at seq 1.
func NewRequest(text string) responder.Request {
	return responder.Request{
		AgentID: "agent-1",
		RunID:   "run-1",
		Seq:     1,
		Message: responder.Message{ID: "m1", Role: responder.RoleUser, Text: text},
	}
}

// Outcome is what one Respond did.
type Outcome struct {
	// Stream holds what the responder wrote.
	Stream *Recorder
	// Result and Err are what Respond returned.
	Result responder.Result
	Err    error
}

// Run answers req with r, writing to a new Recorder, and returns the
// outcome once Respond returned; bound ctx to bound the test. A test that
// sets the Recorder up first (Err, OnText) calls Respond with it itself.
func Run(ctx context.Context, r responder.Responder, req responder.Request) Outcome {
	rec := &Recorder{}
	res, err := r.Respond(ctx, req, rec)
	return Outcome{Stream: rec, Result: res, Err: err}
}
