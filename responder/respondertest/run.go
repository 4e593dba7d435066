package respondertest

import (
	"context"
	"errors"
	"fmt"

	"github.com/agentgate/agentgate/responder"
	"github.com/agentgate/agentgate/tool"
)

// NewRequest returns a Request for a user message with text and no
// history: agent "agent-1", run "run-1", message "m1" at seq 1, step 0, no
// tools.
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
	// Request is what the responder answered.
	Request responder.Request
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
	return Outcome{Request: req, Stream: rec, Result: res, Err: err}
}

// Check returns what breaks the Stream's contract for the step (see
// Recorder.CheckStep), and, for a step that reported interrupts and
// succeeded, a finish reason other than FinishToolCalls.
func (o Outcome) Check() error {
	if err := o.Stream.CheckStep(o.Request); err != nil {
		return err
	}
	if o.Err == nil && len(o.Stream.Interrupts()) > 0 && o.Result.FinishReason != responder.FinishToolCalls {
		return fmt.Errorf("the step reported interrupts but finished with %q, not %q", o.Result.FinishReason, responder.FinishToolCalls)
	}
	return nil
}

// Next returns the request of the step after this one, as the gateway's
// tool loop makes it: the same run, Step plus one, and Steps with this
// step's reply appended (its ID "<RunID>-step<Step>"), each of its tool
// calls answered by results, by tool call id, unless the responder
// reported the call's result itself. A result this step reported for a
// call of an earlier step is filled in there. resume answers this step's
// interrupts. Tools stay as they were.
//
// A call of this step left without a result is an error, unless an
// interrupt holds it (an upstream's own call, which the upstream answers
// after the resume): the gateway would not go on without it.
func (o Outcome) Next(results map[string]tool.Result, resume ...responder.Resume) (responder.Request, error) {
	req := o.Request
	reply := o.Stream.Reply()
	reply.ID = fmt.Sprintf("%s-step%d", req.RunID, req.Step)
	held := map[string]bool{}
	for _, i := range o.Stream.Interrupts() {
		held[i.ToolCallID] = true
	}
	var errs []error
	for i, tc := range reply.ToolCalls {
		r, ok := results[tc.ID]
		switch {
		case tc.Result != "":
		case ok:
			reply.ToolCalls[i].Result, reply.ToolCalls[i].IsError = r.Output, r.IsError
		case !held[tc.ID]:
			errs = append(errs, fmt.Errorf("no result for tool call %q (%s)", tc.ID, tc.Name))
		}
	}
	req.Steps = append(earlierAnswered(req.Steps, o.Stream), reply)
	req.Step++
	req.Resume = resume
	return req, errors.Join(errs...)
}

// earlierAnswered returns steps with the results rec reported for their
// calls filled in, leaving steps itself as it is.
func earlierAnswered(steps []responder.Message, rec *Recorder) []responder.Message {
	out := make([]responder.Message, len(steps), len(steps)+1)
	for i, m := range steps {
		m.ToolCalls = append([]responder.ToolCall(nil), m.ToolCalls...)
		for j, tc := range m.ToolCalls {
			for _, e := range rec.Events() {
				if e.Kind == KindToolCallResult && e.ToolCallID == tc.ID && tc.Result == "" && !tc.IsError {
					m.ToolCalls[j].Result = e.Value
				}
			}
		}
		out[i] = m
	}
	return out
}
