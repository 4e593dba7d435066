package respondertest

import (
	"fmt"

	"github.com/agentgate/agentgate/responder"
)

// Check returns the first call that breaks the Stream's contract, or nil,
// for the first step of a run; CheckStep checks a later step.
func (r *Recorder) Check() error { return r.CheckStep(responder.Request{}) }

// CheckStep returns the first call that breaks the Stream's contract for a
// step of req, or nil: a tool call is ToolCallStart (once per id), any
// number of ToolCallArgs, ToolCallEnd, then at most one ToolCallResult; a
// result may also answer, once, a call of req.Steps that has none; an
// interrupt comes when no call is open, has an id of its own, and holds
// either no call or one still without a result. The gateway refuses such a
// reply, so a responder's tests should check it.
func (r *Recorder) CheckStep(req responder.Request) error {
	c := checker{state: map[string]callState{}, interrupts: map[string]bool{}}
	for _, m := range req.Steps {
		for _, tc := range m.ToolCalls {
			if tc.Result == "" && !tc.IsError {
				c.state[tc.ID] = earlier
			}
		}
	}
	for i, e := range r.events {
		if bad := c.apply(e); bad != "" {
			return fmt.Errorf("call %d (%s): %s", i+1, e, bad)
		}
	}
	return nil
}

// callState is where a tool call is in its sequence.
type callState int

const (
	unknown  callState = iota
	earlier            // a call of an earlier step, without a result
	open               // started
	ended              // ended, without a result
	answered           // has its result
)

type checker struct {
	state      map[string]callState
	interrupts map[string]bool
}

// apply takes one event and says what it breaks, if anything.
func (c *checker) apply(e Event) string {
	id := e.ToolCallID
	s := c.state[id]
	switch e.Kind {
	case KindText:
		return ""
	case KindInterrupt:
		return c.interrupt(e.Interrupt)
	case KindToolCallStart:
		if s != unknown && s != earlier {
			return fmt.Sprintf("tool call %q started twice", id)
		}
		c.state[id] = open
	case KindToolCallArgs, KindToolCallEnd:
		switch s {
		case unknown, earlier:
			return fmt.Sprintf("tool call %q not started", id)
		case open:
		default:
			return fmt.Sprintf("tool call %q already ended", id)
		}
		if e.Kind == KindToolCallEnd {
			c.state[id] = ended
		}
	case KindToolCallResult:
		switch s {
		case unknown:
			return fmt.Sprintf("tool call %q not started", id)
		case open:
			return fmt.Sprintf("tool call %q not ended", id)
		case answered:
			return fmt.Sprintf("tool call %q answered twice", id)
		}
		c.state[id] = answered
	}
	return ""
}

func (c *checker) interrupt(i responder.Interrupt) string {
	for id, s := range c.state {
		if s == open {
			return fmt.Sprintf("interrupt while tool call %q is open", id)
		}
	}
	switch {
	case i.ID == "":
		return "interrupt without an id"
	case c.interrupts[i.ID]:
		return fmt.Sprintf("interrupt %q reported twice", i.ID)
	}
	c.interrupts[i.ID] = true
	if i.ToolCallID == "" {
		return ""
	}
	switch c.state[i.ToolCallID] {
	case unknown:
		return fmt.Sprintf("interrupt %q holds tool call %q, which is not a call of the run", i.ID, i.ToolCallID)
	case answered:
		return fmt.Sprintf("interrupt %q holds tool call %q, which has its result", i.ID, i.ToolCallID)
	}
	return ""
}
