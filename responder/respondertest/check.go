package respondertest

import "fmt"

// Check returns the first call that breaks the Stream's contract, or nil: a
// tool call is ToolCallStart (once per id), any number of ToolCallArgs,
// ToolCallEnd, then at most one ToolCallResult, and no call names a tool
// call that was not started. The gateway refuses such a reply, so a
// responder's tests should check it.
func (r *Recorder) Check() error {
	const (
		open = iota + 1
		ended
		answered
	)
	state := map[string]int{}
	for i, e := range r.events {
		if e.Kind == KindText {
			continue
		}
		s := state[e.ToolCallID]
		var bad string
		switch {
		case e.Kind == KindToolCallStart && s != 0:
			bad = "started twice"
		case e.Kind == KindToolCallStart:
			state[e.ToolCallID] = open
		case s == 0:
			bad = "not started"
		case e.Kind == KindToolCallArgs && s != open, e.Kind == KindToolCallEnd && s != open:
			bad = "already ended"
		case e.Kind == KindToolCallEnd:
			state[e.ToolCallID] = ended
		case e.Kind == KindToolCallResult && s == open:
			bad = "not ended"
		case e.Kind == KindToolCallResult && s == answered:
			bad = "answered twice"
		case e.Kind == KindToolCallResult:
			state[e.ToolCallID] = answered
		}
		if bad != "" {
			return fmt.Errorf("call %d (%s): tool call %q %s", i+1, e, e.ToolCallID, bad)
		}
	}
	return nil
}
