package door

import (
	"strings"

	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/agentgate/agentgate/internal/agent"
)

// Sink is what a door's translator implements: the reply of one run as a
// sequence that is always well formed, whatever the events it came from.
// Start comes first (again only if the run was restarted, after its writer
// died, with another message id); a tool call is ToolStart, ToolArgs…,
// ToolEnd, then at most one ToolResult; the sequence ends with exactly one
// Finish or Fail, unless the stream is cut short (the client left, the
// server drains), when the door ends it with Fail itself.
type Sink interface {
	Start(messageID string)
	Text(delta string)
	ToolStart(id, name string)
	ToolArgs(id, delta string)
	ToolEnd(id string)
	ToolResult(id, content string)
	// Finish ends a reply; reply holds its finish reason and usage.
	Finish(reply *agentv1.Message)
	// Fail ends a reply that could not be written, or a stream cut short.
	Fail(code, message string)
}

// Assembler turns the events a Follower of one reply delivers into calls
// of a Sink. It fills in what the live events missed, from the persisted
// reply that ends them: a reply already written (a retry) arrives as that
// message alone, and an ephemeral event lost in transit is in the reply
// too. A step after which the run went on (its server tools' calls all
// answered) is filled in the same way, and the next step starts anew
// (Start with its message id): the sequence ends with the step that ends
// or pauses the run. It is pure logic, used by one goroutine.
type Assembler struct {
	sink    Sink
	started bool
	ended   bool
	runID   string
	text    strings.Builder // the text passed on so far
	tools   map[string]*toolState
	order   []string // tool call ids, in the order they started
}

type toolState struct {
	args   strings.Builder
	ended  bool
	result bool
}

// NewAssembler returns an Assembler that calls sink.
func NewAssembler(sink Sink) *Assembler {
	return &Assembler{sink: sink, tools: map[string]*toolState{}}
}

// Ended reports whether Finish or Fail was called.
func (a *Assembler) Ended() bool { return a.ended }

// Event passes one event of the reply on.
func (a *Assembler) Event(ev *agentv1.AgentEvent) {
	if a.ended {
		return
	}
	switch k := ev.GetKind().(type) {
	case *agentv1.AgentEvent_RunStarted:
		a.runStarted(k.RunStarted)
	case *agentv1.AgentEvent_TextDelta:
		a.start(k.TextDelta.GetMessageId())
		if d := k.TextDelta.GetDelta(); d != "" {
			a.text.WriteString(d)
			a.sink.Text(d)
		}
	case *agentv1.AgentEvent_ToolCallStart:
		tc := k.ToolCallStart
		a.start(tc.GetMessageId())
		if a.tools[tc.GetToolCallId()] != nil {
			return
		}
		a.addTool(tc.GetToolCallId())
		a.sink.ToolStart(tc.GetToolCallId(), tc.GetName())
	case *agentv1.AgentEvent_ToolCallArgs:
		// Events of a call whose start was lost wait for the reply, which
		// has the whole call.
		if t := a.tools[k.ToolCallArgs.GetToolCallId()]; t != nil && !t.ended && k.ToolCallArgs.GetDelta() != "" {
			t.args.WriteString(k.ToolCallArgs.GetDelta())
			a.sink.ToolArgs(k.ToolCallArgs.GetToolCallId(), k.ToolCallArgs.GetDelta())
		}
	case *agentv1.AgentEvent_ToolCallEnd:
		a.endTool(k.ToolCallEnd.GetToolCallId())
	case *agentv1.AgentEvent_ToolCallResult:
		id := k.ToolCallResult.GetToolCallId()
		if t := a.tools[id]; t != nil && !t.result {
			a.endTool(id)
			t.result = true
			a.sink.ToolResult(id, k.ToolCallResult.GetContent())
		}
	case *agentv1.AgentEvent_Message:
		a.reply(k.Message, ev.GetSeq() == 0 || agent.Stops(ev))
	case *agentv1.AgentEvent_RunError:
		a.Fail(k.RunError.GetCode(), k.RunError.GetMessage())
	}
}

// Fail ends the sequence with an error, unless it has ended.
func (a *Assembler) Fail(code, message string) {
	if a.ended {
		return
	}
	a.ended = true
	a.sink.Fail(code, message)
}

func (a *Assembler) runStarted(rs *agentv1.RunStarted) {
	if a.started && rs.GetRunId() == a.runID {
		return
	}
	if a.started {
		// The run was taken over after its writer died: close what the
		// first attempt left open; the new run writes the reply anew.
		for _, id := range a.order {
			a.endTool(id)
		}
		a.text.Reset()
		clear(a.tools)
		a.order = a.order[:0]
	}
	a.runID = rs.GetRunId()
	a.started = true
	a.sink.Start(rs.GetMessageId())
}

func (a *Assembler) start(messageID string) {
	if !a.started {
		a.started = true
		a.sink.Start(messageID)
	}
}

func (a *Assembler) addTool(id string) *toolState {
	t := &toolState{}
	a.tools[id] = t
	a.order = append(a.order, id)
	return t
}

func (a *Assembler) endTool(id string) {
	if t := a.tools[id]; t != nil && !t.ended {
		t.ended = true
		a.sink.ToolEnd(id)
	}
}

// reply ends the sequence with the persisted reply, after what the live
// events did not carry: the rest of the text, and the tool calls, or the
// parts of them, that were not seen. A step that does not stop the run
// (stops false) is filled in so, and the next step starts anew.
func (a *Assembler) reply(m *agentv1.Message, stops bool) {
	a.start(m.GetMessageId())
	if rest, ok := strings.CutPrefix(m.GetText(), a.text.String()); ok && rest != "" {
		a.text.WriteString(rest)
		a.sink.Text(rest)
	}
	for _, tc := range m.GetToolCalls() {
		id := tc.GetToolCallId()
		t := a.tools[id]
		if t == nil {
			t = a.addTool(id)
			a.sink.ToolStart(id, tc.GetName())
		}
		if !t.ended {
			if rest, ok := strings.CutPrefix(tc.GetArguments(), t.args.String()); ok && rest != "" {
				t.args.WriteString(rest)
				a.sink.ToolArgs(id, rest)
			}
			a.endTool(id)
		}
		if !t.result && tc.GetResult() != "" {
			t.result = true
			a.sink.ToolResult(id, tc.GetResult())
		}
	}
	for _, id := range a.order {
		a.endTool(id) // calls the reply does not list, should there be any
	}
	if !stops {
		a.started = false
		a.text.Reset()
		return
	}
	a.ended = true
	a.sink.Finish(m)
}
