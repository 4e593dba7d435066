package agui

import (
	"slices"
	"strings"

	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	wire "github.com/agentgate/agentgate/internal/agui"
	"github.com/agentgate/agentgate/internal/door"
)

// Translator turns the reply of one run into AG-UI events, in the order the
// 1.0 client verifies: RUN_STARTED first; each step's text as one text
// message (id: the step's message id), opened at its first piece; each
// tool call with its step as its parent; a call's outcome (its result, an
// error, a denial) as TOOL_CALL_RESULT, also for a call of an earlier run
// (an approved call that ran once the run went on), without its start
// again; every text message and tool call closed before RUN_FINISHED;
// exactly one RUN_FINISHED or RUN_ERROR last. A run that pauses ends with
// RUN_FINISHED whose outcome says what it waits for (see Finish). It
// implements door.Sink and is pure: Take hands over the events so far.
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

// Step implements door.Sink: the step's text is a text message of its
// own, under the step's message id.
func (t *Translator) Step(messageID string) { t.Start(messageID) }

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

// ToolError implements door.Sink: AG-UI's result has no error of its own;
// the content says what went wrong (the model is told the same).
func (t *Translator) ToolError(id, content string, _ agentv1.ToolCallState) {
	t.ToolResult(id, content)
}

// Approval implements door.Sink: the run's RUN_FINISHED asks for it.
func (t *Translator) Approval(*agentv1.ToolApprovalRequest) {}

// Decided implements door.Sink: a decision shows as the call's result.
func (t *Translator) Decided(*agentv1.ToolCallDecision) {}

// Persisted implements door.Sink.
func (t *Translator) Persisted(*agentv1.Message) {}

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
		switch reply.GetFinishReason() {
		case agentv1.FinishReason_FINISH_REASON_CANCELLED:
			ev.Outcome = &wire.Outcome{Type: wire.OutcomeCancelled}
		case agentv1.FinishReason_FINISH_REASON_TOOL_CALLS:
			ev.Outcome = pauseOutcome(reply)
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
	case agentv1.FinishReason_FINISH_REASON_MAX_STEPS:
		return "max_steps"
	}
	return "stop"
}

// pauseOutcome is the outcome of a run that step paused, nil if it waits
// for nothing (its next step follows): the calls that wait for a
// person's decision, and an upstream agent's interrupts, as an interrupt
// outcome, each interrupt reason tool_call (or the upstream's own) with
// the call it holds; otherwise success with the client's calls to run
// (pendingToolCallIds). A step that waits for both is an interrupt: the
// client runs its tools as it does after any TOOL_CALL_END of its own,
// and sends their tool messages with the resume.
func pauseOutcome(step *agentv1.Message) *wire.Outcome {
	var interrupts []wire.Interrupt
	var pending []string
	held := map[string]*agentv1.Interrupt{}
	for _, i := range step.GetInterrupts() {
		if id := i.GetToolCallId(); id != "" {
			held[id] = i
		}
	}
	for _, c := range step.GetToolCalls() {
		switch c.GetState() {
		case agentv1.ToolCallState_TOOL_CALL_STATE_PENDING:
			pending = append(pending, c.GetToolCallId())
		case agentv1.ToolCallState_TOOL_CALL_STATE_AWAITING_APPROVAL:
			in := wire.Interrupt{ID: InterruptID(c.GetApprovalId(), c.GetToolCallId(), ""), Reason: wire.ReasonToolCall, ToolCallID: c.GetToolCallId()}
			if i := held[c.GetToolCallId()]; i != nil {
				in.Reason, in.Message = reasonOf(i), i.GetMessage()
				delete(held, c.GetToolCallId())
			}
			interrupts = append(interrupts, in)
		}
	}
	for _, i := range step.GetInterrupts() {
		if id := i.GetToolCallId(); id != "" && held[id] == nil {
			continue // asked above, with its call
		}
		interrupts = append(interrupts, wire.Interrupt{ID: InterruptID(i.GetApprovalId(), i.GetToolCallId(), i.GetInterruptId()),
			Reason: reasonOf(i), Message: i.GetMessage(), ToolCallID: i.GetToolCallId()})
	}
	switch {
	case len(interrupts) > 0:
		return &wire.Outcome{Type: wire.OutcomeInterrupt, Interrupts: interrupts}
	case len(pending) > 0:
		return &wire.Outcome{Type: wire.OutcomeSuccess, PendingToolCallIDs: pending}
	}
	return nil
}

// reasonOf is an upstream interrupt's reason, tool_call if it gave none.
func reasonOf(i *agentv1.Interrupt) string {
	if i.GetReason() == "" {
		return wire.ReasonToolCall
	}
	return i.GetReason()
}

// InterruptID is the id of the AG-UI interrupt that asks for the decision
// on an approval request: the approval id the server issued, then what
// the decision answers, the tool call ("c:" and its id), or an upstream
// interrupt that holds no call ("i:" and the upstream's id). The next
// run's resume entry names it, and the door decides that call, with that
// approval id: an id the server did not issue decides nothing.
func InterruptID(approvalID, toolCallID, upstreamID string) string {
	if toolCallID != "" {
		return approvalID + ":c:" + toolCallID
	}
	return approvalID + ":i:" + upstreamID
}

// parseInterruptID reads an InterruptID.
func parseInterruptID(id string) (approvalID, toolCallID, upstreamID string, ok bool) {
	approvalID, rest, ok := strings.Cut(id, ":")
	if !ok || approvalID == "" {
		return "", "", "", false
	}
	if toolCallID, ok = strings.CutPrefix(rest, "c:"); ok && toolCallID != "" {
		return approvalID, toolCallID, "", true
	}
	if upstreamID, ok = strings.CutPrefix(rest, "i:"); ok && upstreamID != "" {
		return approvalID, "", upstreamID, true
	}
	return "", "", "", false
}
