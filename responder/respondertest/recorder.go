// Package respondertest helps to test a responder.Responder without a
// gateway: a Recorder is a responder.Stream that keeps what the responder
// wrote, text, tool calls and interrupts in order, and Run answers one
// Request with a new Recorder and returns the outcome. Outcome.Next makes
// the request of the step that follows, with the results of the tool calls
// and the answers to the interrupts a test gives, as the gateway's tool loop
// does, so that a test can drive a run step by step. The built-in
// responders are tested with it.
package respondertest

import (
	"fmt"
	"strings"

	"github.com/agentgate/agentgate/responder"
)

// Kind says which method of the Stream a responder called.
type Kind string

// The kinds of Event, one per method of responder.Stream.
const (
	KindText           Kind = "text"
	KindToolCallStart  Kind = "start"
	KindToolCallArgs   Kind = "args"
	KindToolCallEnd    Kind = "end"
	KindToolCallResult Kind = "result"
	KindInterrupt      Kind = "interrupt"
)

// Event is one call a responder made on its Stream.
type Event struct {
	Kind Kind
	// ToolCallID is the tool call the event belongs to; empty for text,
	// and for an interrupt about no call.
	ToolCallID string
	// Value is the text delta (text), the tool's name (start), a piece of
	// the arguments (args), the result (result) or the interrupt's id
	// (interrupt); empty for end.
	Value string
	// Interrupt is what Interrupt was given (interrupt).
	Interrupt responder.Interrupt
}

// String is the event on one line: "text Hello", "start call_1 get_weather",
// "args call_1 {\"city\":", "end call_1", "result call_1 sunny", and
// "interrupt i1 tool_call call_1" (the id, the reason, the tool call if any).
func (e Event) String() string {
	switch e.Kind {
	case KindText:
		return "text " + e.Value
	case KindToolCallEnd:
		return "end " + e.ToolCallID
	case KindInterrupt:
		return strings.TrimSuffix(fmt.Sprintf("interrupt %s %s %s", e.Interrupt.ID, e.Interrupt.Reason, e.Interrupt.ToolCallID), " ")
	}
	return fmt.Sprintf("%s %s %s", e.Kind, e.ToolCallID, e.Value)
}

// Recorder is a responder.Stream that records every call. The zero value
// is ready to use.
//
// A responder calls its Stream from one goroutine; read the Recorder after
// Respond returned, or from OnText, which runs on that goroutine.
type Recorder struct {
	// Err, if set, is what every call returns once it is recorded, as a
	// Stream whose run was cancelled does: the responder should stop.
	Err error
	// OnText, if set, runs after each Text is recorded: a test cancels the
	// reply from here once enough of it was written.
	OnText func()

	events []Event
}

var _ responder.Stream = (*Recorder)(nil)

func (r *Recorder) add(kind Kind, id, value string) error {
	r.events = append(r.events, Event{Kind: kind, ToolCallID: id, Value: value})
	return r.Err
}

// Text implements responder.Stream.
func (r *Recorder) Text(delta string) error {
	err := r.add(KindText, "", delta)
	if r.OnText != nil {
		r.OnText()
	}
	return err
}

// ToolCallStart implements responder.Stream.
func (r *Recorder) ToolCallStart(id, name string) error { return r.add(KindToolCallStart, id, name) }

// ToolCallArgs implements responder.Stream.
func (r *Recorder) ToolCallArgs(id, delta string) error { return r.add(KindToolCallArgs, id, delta) }

// ToolCallEnd implements responder.Stream.
func (r *Recorder) ToolCallEnd(id string) error { return r.add(KindToolCallEnd, id, "") }

// ToolCallResult implements responder.Stream.
func (r *Recorder) ToolCallResult(id, content string) error {
	return r.add(KindToolCallResult, id, content)
}

// Interrupt implements responder.Stream.
func (r *Recorder) Interrupt(i responder.Interrupt) error {
	r.events = append(r.events, Event{Kind: KindInterrupt, ToolCallID: i.ToolCallID, Value: i.ID, Interrupt: i})
	return r.Err
}

// Interrupts returns the interrupts reported, in order.
func (r *Recorder) Interrupts() []responder.Interrupt {
	var out []responder.Interrupt
	for _, e := range r.events {
		if e.Kind == KindInterrupt {
			out = append(out, e.Interrupt)
		}
	}
	return out
}

// Events returns the calls recorded so far, in order.
func (r *Recorder) Events() []Event { return r.events }

// Lines returns the calls recorded so far as Event.String writes them.
func (r *Recorder) Lines() []string {
	lines := make([]string, len(r.events))
	for i, e := range r.events {
		lines[i] = e.String()
	}
	return lines
}

// Deltas returns the text deltas, in order.
func (r *Recorder) Deltas() []string {
	var deltas []string
	for _, e := range r.events {
		if e.Kind == KindText {
			deltas = append(deltas, e.Value)
		}
	}
	return deltas
}

// Reply returns the reply as the gateway keeps it: an assistant message
// whose text is the deltas joined, with the tool calls in the order they
// started, each with its arguments joined and its result. Its ID is empty:
// the gateway gives it one. A result for a call of an earlier step is not
// part of it (see Outcome.Next).
func (r *Recorder) Reply() responder.Message {
	reply := responder.Message{Role: responder.RoleAssistant}
	var text strings.Builder
	calls := map[string]int{} // id → index in reply.ToolCalls
	for _, e := range r.events {
		switch e.Kind {
		case KindText:
			text.WriteString(e.Value)
		case KindToolCallStart:
			if _, ok := calls[e.ToolCallID]; !ok {
				calls[e.ToolCallID] = len(reply.ToolCalls)
				reply.ToolCalls = append(reply.ToolCalls, responder.ToolCall{ID: e.ToolCallID, Name: e.Value})
			}
		case KindToolCallArgs:
			if i, ok := calls[e.ToolCallID]; ok {
				reply.ToolCalls[i].Arguments += e.Value
			}
		case KindToolCallResult:
			if i, ok := calls[e.ToolCallID]; ok {
				reply.ToolCalls[i].Result = e.Value
			}
		}
	}
	reply.Text = text.String()
	return reply
}
