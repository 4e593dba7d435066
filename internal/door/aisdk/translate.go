package aisdk

import (
	"encoding/json"
	"fmt"
	"strings"

	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/agentgate/agentgate/internal/door"
)

// Translator turns the reply of one run into UI message chunks: start
// (messageId: the reply's message id), the text as text parts (a tool call
// ends the part, so text after it is a part of its own and the parts keep
// the order they were written in), each tool call as tool-input-start,
// tool-input-delta…, tool-input-available and tool-output-available, then
// finish with the finish reason, or error. The handler ends every stream
// with [DONE]. It implements door.Sink and is pure: Take hands over the
// chunks so far.
type Translator struct {
	started  bool
	text     string // the open text part's id, empty if none is open
	parts    int    // text parts opened so far
	tools    map[string]*tool
	chunks   []any
	ended    bool
	code     string // of the error chunk sent, if any
	errorMsg string
}

type tool struct {
	name string
	args strings.Builder
}

var _ door.Sink = (*Translator)(nil)

// NewTranslator returns a Translator.
func NewTranslator() *Translator { return &Translator{tools: map[string]*tool{}} }

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
	t.tools[id] = &tool{name: name}
	t.add(ToolInputStart{Type: "tool-input-start", ToolCallID: id, ToolName: name, ProviderExecuted: true})
}

// ToolArgs implements door.Sink.
func (t *Translator) ToolArgs(id, delta string) {
	if tc := t.tools[id]; tc != nil && delta != "" {
		tc.args.WriteString(delta)
		t.add(ToolInputDelta{Type: "tool-input-delta", ToolCallID: id, InputTextDelta: delta})
	}
}

// ToolEnd implements door.Sink: the input is complete.
func (t *Translator) ToolEnd(id string) {
	if tc := t.tools[id]; tc != nil {
		t.add(ToolInputAvailable{Type: "tool-input-available", ToolCallID: id, ToolName: tc.name,
			Input: jsonValue(tc.args.String(), map[string]any{}), ProviderExecuted: true})
	}
}

// ToolResult implements door.Sink.
func (t *Translator) ToolResult(id, content string) {
	if t.tools[id] != nil {
		t.add(ToolOutputAvailable{Type: "tool-output-available", ToolCallID: id, Output: jsonValue(content, content), ProviderExecuted: true})
	}
}

// Finish implements door.Sink.
func (t *Translator) Finish(reply *agentv1.Message) {
	t.begin(reply.GetMessageId())
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

// jsonValue is s decoded if it is JSON, else otherwise (an empty input is
// {}, a result that is not JSON is its text).
func jsonValue(s string, otherwise any) any {
	var v any
	if s != "" && json.Unmarshal([]byte(s), &v) == nil && v != nil {
		return v
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
	}
	return "stop"
}
