package agui

import (
	"slices"

	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	wire "github.com/agentgate/agentgate/internal/agui"
	"github.com/agentgate/agentgate/internal/door"
)

// Translator turns the reply of one run into AG-UI events, in the order the
// 1.0 client verifies: RUN_STARTED first; the reply's text as one text
// message (id: the reply's message id), opened at its first piece; each
// tool call with the reply as its parent; every text message and tool call
// closed before RUN_FINISHED; exactly one RUN_FINISHED or RUN_ERROR last.
// It implements door.Sink and is pure: Take hands over the events so far.
type Translator struct {
	threadID, runID string
	messageID       string
	textOpen        bool
	open            []string // tool calls started and not ended, in order
	events          []any
	code            string // of the RUN_ERROR sent, if any
	failed          bool
	ended           bool
}

var _ door.Sink = (*Translator)(nil)

// NewTranslator returns a Translator for a run of thread, with RUN_STARTED
// as its first event.
func NewTranslator(threadID, runID string) *Translator {
	t := &Translator{threadID: threadID, runID: runID}
	t.add(wire.RunStarted{Type: wire.TypeRunStarted, ThreadID: threadID, RunID: runID, ProtocolVersion: wire.ProtocolVersion})
	return t
}

// Take returns the events since the last Take.
func (t *Translator) Take() []any {
	evs := t.events
	t.events = nil
	return evs
}

func (t *Translator) add(ev any) {
	if !t.ended {
		t.events = append(t.events, ev)
	}
}

// Start implements door.Sink.
func (t *Translator) Start(messageID string) {
	t.closeAll()
	t.messageID = messageID
}

// Text implements door.Sink.
func (t *Translator) Text(delta string) {
	if delta == "" {
		return
	}
	if !t.textOpen {
		t.textOpen = true
		t.add(wire.TextMessageStart{Type: wire.TypeTextMessageStart, MessageID: t.messageID, Role: wire.RoleAssistant})
	}
	t.add(wire.TextMessageContent{Type: wire.TypeTextMessageContent, MessageID: t.messageID, Delta: delta})
}

// ToolStart implements door.Sink.
func (t *Translator) ToolStart(id, name string) {
	t.open = append(t.open, id)
	t.add(wire.ToolCallStart{Type: wire.TypeToolCallStart, ToolCallID: id, ToolCallName: name, ParentMessageID: t.messageID})
}

// ToolArgs implements door.Sink.
func (t *Translator) ToolArgs(id, delta string) {
	if slices.Contains(t.open, id) && delta != "" {
		t.add(wire.ToolCallArgs{Type: wire.TypeToolCallArgs, ToolCallID: id, Delta: delta})
	}
}

// ToolEnd implements door.Sink.
func (t *Translator) ToolEnd(id string) {
	if i := slices.Index(t.open, id); i >= 0 {
		t.open = slices.Delete(t.open, i, i+1)
		t.add(wire.ToolCallEnd{Type: wire.TypeToolCallEnd, ToolCallID: id})
	}
}

// ToolResult implements door.Sink. The result becomes a tool message; its
// id is derived from the call's, so that a retried run names it the same.
func (t *Translator) ToolResult(id, content string) {
	t.add(wire.ToolCallResult{Type: wire.TypeToolCallResult, MessageID: ResultMessageID(id), ToolCallID: id,
		Content: wire.TextContent(content), Role: wire.RoleTool})
}

// ResultMessageID is the id of the tool message that holds a tool call's
// result.
func ResultMessageID(toolCallID string) string { return toolCallID + ":result" }

// Code is the code of the RUN_ERROR sent: empty if none was, "unknown"
// if it had none.
func (t *Translator) Code() string {
	if t.failed && t.code == "" {
		return "unknown"
	}
	return t.code
}

// Finish implements door.Sink.
func (t *Translator) Finish(reply *agentv1.Message) {
	t.closeAll()
	ev := wire.RunFinished{Type: wire.TypeRunFinished, ThreadID: t.threadID, RunID: t.runID}
	if reply != nil {
		ev.Result = &RunResult{MessageID: reply.GetMessageId(), FinishReason: finishReason(reply.GetFinishReason())}
		if reply.GetFinishReason() == agentv1.FinishReason_FINISH_REASON_CANCELLED {
			ev.Outcome = &wire.Outcome{Type: wire.OutcomeCancelled}
		}
		if u := reply.GetUsage(); u != nil {
			ev.Usage = []wire.TokenUsage{{Model: u.GetModel(), InputTokens: u.GetInputTokens(), OutputTokens: u.GetOutputTokens(),
				TotalTokens: u.GetInputTokens() + u.GetOutputTokens()}}
		}
	}
	t.add(ev)
	t.ended = true
}

// Fail implements door.Sink. What is open is closed first, so that the
// client keeps the text written so far as a complete message.
func (t *Translator) Fail(code, message string) {
	t.closeAll()
	if message == "" {
		message = "the run failed"
	}
	t.add(wire.RunError{Type: wire.TypeRunError, Message: message, Code: code})
	t.code, t.failed = code, true
	t.ended = true
}

// closeAll ends the open text message and tool calls.
func (t *Translator) closeAll() {
	if t.textOpen {
		t.textOpen = false
		t.add(wire.TextMessageEnd{Type: wire.TypeTextMessageEnd, MessageID: t.messageID})
	}
	for len(t.open) > 0 {
		t.ToolEnd(t.open[0])
	}
}

func finishReason(f agentv1.FinishReason) string {
	switch f {
	case agentv1.FinishReason_FINISH_REASON_LENGTH:
		return "length"
	case agentv1.FinishReason_FINISH_REASON_CANCELLED:
		return "cancelled"
	case agentv1.FinishReason_FINISH_REASON_CONTENT_FILTER:
		return "content_filter"
	case agentv1.FinishReason_FINISH_REASON_TOOL_CALLS:
		return "tool_calls"
	}
	return "stop"
}
