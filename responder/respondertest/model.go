package respondertest

import (
	"context"
	"maps"
	"slices"
	"time"

	"github.com/agentgate/agentgate/responder"
)

// Model is a scripted stand-in for a model that calls tools, for tests of
// a gateway and of the programs around it: at each step of a run it is
// given the Request (the message, the tools offered, Steps with the
// results of the calls made so far, Resume) and says what the model does
// in that step. It keeps no state, so a run taken over by another replica
// goes on the same way.
type Model func(req responder.Request) Turn

// Turn is what a Model does in one step: write Text, then make Calls and
// report Interrupts. A step with calls or interrupts ends with
// FinishToolCalls; one without ends the run (FinishStop), unless Finish
// says otherwise. Err fails the step instead. Delay is waited before
// anything is written (the run's context cuts it short).
type Turn struct {
	Text       string
	Calls      []Call
	Interrupts []responder.Interrupt
	// Results are results the model's upstream reports for calls itself
	// (an AG-UI agent's own tools), by tool call id: for a call of Calls
	// right after it, for another (an earlier step's call an interrupt
	// held) after the calls.
	Results map[string]string
	Finish  responder.FinishReason
	Err     error
	Delay   time.Duration
}

// Call is a tool call a Model makes. Its arguments are streamed in two
// pieces, cut in the middle, as model servers stream them.
type Call struct {
	ID, Name, Arguments string
}

// Respond implements responder.Responder.
func (m Model) Respond(ctx context.Context, req responder.Request, out responder.Stream) (responder.Result, error) {
	t := m(req)
	if t.Delay > 0 {
		timer := time.NewTimer(t.Delay)
		defer timer.Stop()
		select {
		case <-ctx.Done():
			return responder.Result{}, ctx.Err()
		case <-timer.C:
		}
	}
	if t.Err != nil {
		return responder.Result{}, t.Err
	}
	if t.Text != "" {
		half := len(t.Text) / 2
		for half > 0 && half < len(t.Text) && t.Text[half]&0xC0 == 0x80 {
			half--
		}
		for _, piece := range []string{t.Text[:half], t.Text[half:]} {
			if piece == "" {
				continue
			}
			if err := out.Text(piece); err != nil {
				return responder.Result{}, err
			}
		}
	}
	made := map[string]bool{}
	for _, c := range t.Calls {
		made[c.ID] = true
		if err := writeCall(out, c, t.Results); err != nil {
			return responder.Result{}, err
		}
	}
	for _, id := range slices.Sorted(maps.Keys(t.Results)) {
		if !made[id] {
			if err := out.ToolCallResult(id, t.Results[id]); err != nil {
				return responder.Result{}, err
			}
		}
	}
	for _, i := range t.Interrupts {
		if err := out.Interrupt(i); err != nil {
			return responder.Result{}, err
		}
	}
	res := responder.Result{FinishReason: t.Finish}
	if res.FinishReason == "" && (len(t.Calls) > 0 || len(t.Interrupts) > 0) {
		res.FinishReason = responder.FinishToolCalls
	}
	return res, nil
}

func writeCall(out responder.Stream, c Call, results map[string]string) error {
	half := len(c.Arguments) / 2
	steps := []func() error{
		func() error { return out.ToolCallStart(c.ID, c.Name) },
		func() error { return out.ToolCallArgs(c.ID, c.Arguments[:half]) },
		func() error { return out.ToolCallArgs(c.ID, c.Arguments[half:]) },
		func() error { return out.ToolCallEnd(c.ID) },
	}
	if r, ok := results[c.ID]; ok {
		steps = append(steps, func() error { return out.ToolCallResult(c.ID, r) })
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return err
		}
	}
	return nil
}

// Answered returns the result the run so far gave the call named name,
// the newest first, and whether there is one: what a Model reads to
// decide its next step.
func Answered(req responder.Request, name string) (responder.ToolCall, bool) {
	for i := len(req.Steps) - 1; i >= 0; i-- {
		calls := req.Steps[i].ToolCalls
		for j := len(calls) - 1; j >= 0; j-- {
			if calls[j].Name == name {
				return calls[j], true
			}
		}
	}
	return responder.ToolCall{}, false
}
