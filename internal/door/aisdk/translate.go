package aisdk

import (
	"encoding/json"
	"fmt"
	"strings"

	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/agentgate/agentgate/internal/door"
)

// Translator turns the reply of one run into UI message chunks: start
// (messageId: the reply's message id; none when the stream goes on with a
// message the client has), the text as text parts (a tool call ends the
// part, so text after it is a part of its own and the parts keep the
// order they were written in), each tool call as tool-input-start,
// tool-input-delta…, tool-input-available, then its outcome
// (tool-output-available, tool-output-error, tool-output-denied) or
// tool-approval-request, each later step after start-step, then finish
// with the finish reason (tool-calls for a run that waits), or error. The
// handler ends every stream with [DONE]. It implements door.Sink and is
// pure: Take hands over the chunks so far.
//
// A call's tool-input-available is held until the call's kind is known:
// its outcome or approval request (the gateway runs the tool or holds it:
// providerExecuted), or the end of its step. Then a client tool's call
// still waiting says providerExecuted false, and the client runs it
// (onToolCall); every other says true, so that a call answered already
// (a replay, a result another client sent) is never run again.
type Translator struct {
	started  bool
	text     string // the open text part's id, empty if none is open
	parts    int    // text parts opened so far
	tools    map[string]*toolCall
	order    []string // tool call ids, in the order they started
	chunks   []any
	ended    bool
	code     string // of the error chunk sent, if any
	errorMsg string
}

type toolCall struct {
	name string
	args strings.Builder
	// complete: the input is whole; available: tool-input-available was
	// sent; client: a client tool's call (from its step).
	complete  bool
	available bool
	client    bool
}

var _ door.Sink = (*Translator)(nil)

// NewTranslator returns a Translator.
func NewTranslator() *Translator { return &Translator{tools: map[string]*toolCall{}} }

// Take returns the chunks since the last Take.
func (t *Translator) Take() []any {
	c := t.chunks
	t.chunks = nil
	return c
}

// Failed reports whether the stream ended with an error chunk.
func (t *Translator) Failed() bool { return t.errorMsg != "" }

// Code is the code of the error chunk sent: empty if none was, "unknown"
// if it had none.
func (t *Translator) Code() string {
	if t.Failed() && t.code == "" {
		return "unknown"
	}
	return t.code
}

func (t *Translator) add(c any) {
	if !t.ended {
		t.chunks = append(t.chunks, c)
	}
}

// Start implements door.Sink. A restarted run keeps the message: its text
// goes on in a new part.
func (t *Translator) Start(messageID string) {
	t.endText()
	t.begin(messageID)
}

// Step implements door.Sink: the calls of the step before are settled,
// and start-step separates the steps' parts, so that useChat's
// lastAssistantMessageIsCompleteWith… look at the last step alone.
func (t *Translator) Step(string) {
	t.begin("")
	t.settle()
	t.endText()
	t.add(StartStep{Type: "start-step"})
}

// begin sends start, unless it was sent.
func (t *Translator) begin(messageID string) {
	if !t.started {
		t.started = true
		t.add(Start{Type: "start", MessageID: messageID})
	}
}

// Text implements door.Sink.
func (t *Translator) Text(delta string) {
	if delta == "" {
		return
	}
	t.begin("")
	if t.text == "" {
		t.parts++
		t.text = fmt.Sprintf("text-%d", t.parts)
		t.add(TextStart{Type: "text-start", ID: t.text})
	}
	t.add(TextDelta{Type: "text-delta", ID: t.text, Delta: delta})
}

func (t *Translator) endText() {
	if t.text != "" {
		t.add(TextEnd{Type: "text-end", ID: t.text})
		t.text = ""
	}
}

// ToolStart implements door.Sink.
func (t *Translator) ToolStart(id, name string) {
	t.begin("")
	t.endText()
	t.tools[id] = &toolCall{name: name}
	t.order = append(t.order, id)
	t.add(ToolInputStart{Type: "tool-input-start", ToolCallID: id, ToolName: name, ProviderExecuted: true})
}

// ToolArgs implements door.Sink.
func (t *Translator) ToolArgs(id, delta string) {
	if tc := t.tools[id]; tc != nil && !tc.complete && delta != "" {
		tc.args.WriteString(delta)
		t.add(ToolInputDelta{Type: "tool-input-delta", ToolCallID: id, InputTextDelta: delta})
	}
}

// ToolEnd implements door.Sink: the input is complete; it is made
// available once the call's kind is known.
func (t *Translator) ToolEnd(id string) {
	if tc := t.tools[id]; tc != nil {
		tc.complete = true
	}
}

// available sends a call's tool-input-available, once.
func (t *Translator) available(id string, providerExecuted bool) {
	tc := t.tools[id]
	if tc == nil || tc.available {
		return
	}
	tc.complete, tc.available = true, true
	t.add(ToolInputAvailable{Type: "tool-input-available", ToolCallID: id, ToolName: tc.name,
		Input: jsonValue(tc.args.String(), map[string]any{}), ProviderExecuted: providerExecuted})
}

// settle makes every complete call of the stream available: a client
// tool's call for the client to run.
func (t *Translator) settle() {
	for _, id := range t.order {
		if tc := t.tools[id]; tc.complete {
			t.available(id, !tc.client)
		}
	}
}

// ToolResult implements door.Sink. A result may come for a call of an
// earlier step that this stream did not start: the client has its part.
func (t *Translator) ToolResult(id, content string) {
	t.begin("")
	t.endText()
	t.available(id, true)
	t.add(ToolOutputAvailable{Type: "tool-output-available", ToolCallID: id, Output: jsonValue(content, content), ProviderExecuted: true})
}

// ToolError implements door.Sink.
func (t *Translator) ToolError(id, content string, state agentv1.ToolCallState) {
	t.begin("")
	t.endText()
	t.available(id, true)
	if state == agentv1.ToolCallState_TOOL_CALL_STATE_DENIED {
		t.add(ToolOutputDenied{Type: "tool-output-denied", ToolCallID: id})
		return
	}
	t.add(ToolOutputError{Type: "tool-output-error", ToolCallID: id, ErrorText: content, ProviderExecuted: true})
}

// Approval implements door.Sink: the client answers with the approval id
// the server issued. An interrupt that holds no call has no part to ask
// in: the client answers it by DecideToolCall.
func (t *Translator) Approval(req *agentv1.ToolApprovalRequest) {
	if t.tools[req.GetToolCallId()] == nil {
		return
	}
	t.endText()
	t.available(req.GetToolCallId(), true)
	t.add(ToolApprovalRequest{Type: "tool-approval-request", ApprovalID: req.GetApprovalId(), ToolCallID: req.GetToolCallId()})
}

// Decided implements door.Sink: a replay shows the decision given.
func (t *Translator) Decided(d *agentv1.ToolCallDecision) {
	t.add(ToolApprovalResponse{Type: "tool-approval-response", ApprovalID: d.GetApprovalId(), Approved: d.GetApproved(), Reason: d.GetReason()})
}

// Persisted implements door.Sink: the step says which calls are a client
// tool's.
func (t *Translator) Persisted(step *agentv1.Message) {
	for _, c := range step.GetToolCalls() {
		if tc := t.tools[c.GetToolCallId()]; tc != nil {
			tc.client = c.GetKind() == agentv1.ToolCallKind_TOOL_CALL_KIND_CLIENT
		}
	}
}

// Finish implements door.Sink: the client runs the calls of its tools
// that the run waits for.
func (t *Translator) Finish(reply *agentv1.Message) {
	t.begin(reply.GetMessageId())
	t.Persisted(reply)
	t.settle()
	t.endText()
	f := Finish{Type: "finish"}
	if reply != nil {
		f.FinishReason = finishReason(reply.GetFinishReason())
	}
	t.add(f)
	t.ended = true
}

// Fail implements door.Sink. The error text names the code first, so that
// a client can tell "unavailable" (retry) from the agent's own failures.
func (t *Translator) Fail(code, message string) {
	t.endText()
	if message == "" {
		message = "the reply failed"
	}
	t.errorMsg, t.code = message, code
	if code != "" {
		t.errorMsg = code + ": " + message
	}
	t.add(ErrorChunk{Type: "error", ErrorText: t.errorMsg})
	t.ended = true
}

// jsonValue is s as it is if it is JSON (but null), else otherwise (an
// empty input is {}, a result that is not JSON is its text). JSON is
// passed through untouched, so that a client that sends an output back
// sends the same bytes.
func jsonValue(s string, otherwise any) any {
	if s != "" && s != "null" && json.Valid([]byte(s)) {
		return json.RawMessage(s)
	}
	return otherwise
}

// finishReason maps a reply's finish reason onto the AI SDK's. A cancelled
// reply is "other": the SDK's "interrupted" means a stream cut short, which
// would make useChat pause its queue and offer to resume.
func finishReason(f agentv1.FinishReason) string {
	switch f {
	case agentv1.FinishReason_FINISH_REASON_LENGTH:
		return "length"
	case agentv1.FinishReason_FINISH_REASON_CANCELLED:
		return "other"
	case agentv1.FinishReason_FINISH_REASON_CONTENT_FILTER:
		return "content-filter"
	case agentv1.FinishReason_FINISH_REASON_TOOL_CALLS:
		return "tool-calls"
	case agentv1.FinishReason_FINISH_REASON_MAX_STEPS:
		// The calls of the last step were closed unanswered: nothing is
		// left for the client to do.
		return "other"
	}
	return "stop"
}
