// Package agui is the AG-UI door: POST /agui/{agent_id} takes an AG-UI 1.0
// RunAgentInput, as @ag-ui/client's HttpAgent and CopilotKit send it, and
// answers with the run as AG-UI events over Server-Sent Events. A thread is
// an agent: the path names it, and the input's last user message is the
// message of the run, its id the message's client_message_id, so that a
// retried run appends nothing and streams the reply the first one got.
package agui

import "encoding/json"

// RunAgentInput is the body of a run (AG-UI 1.0). Only what the door uses
// is decoded; the rest (state, tools, context, forwardedProps, resume) is
// accepted and ignored: the agent behind the gateway has its own tools and
// its context is the agent's log.
type RunAgentInput struct {
	ThreadID string    `json:"threadId"`
	RunID    string    `json:"runId"`
	Messages []Message `json:"messages"`
}

// Message is one message of the input. Content is a string, or for user
// messages an array of content parts.
type Message struct {
	ID      string          `json:"id"`
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

// ContentPart is one part of a user message's content; only text parts
// carry text.
type ContentPart struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// The event types the door sends, as written on the wire.
const (
	TypeRunStarted         = "RUN_STARTED"
	TypeRunFinished        = "RUN_FINISHED"
	TypeRunError           = "RUN_ERROR"
	TypeTextMessageStart   = "TEXT_MESSAGE_START"
	TypeTextMessageContent = "TEXT_MESSAGE_CONTENT"
	TypeTextMessageEnd     = "TEXT_MESSAGE_END"
	TypeToolCallStart      = "TOOL_CALL_START"
	TypeToolCallArgs       = "TOOL_CALL_ARGS"
	TypeToolCallEnd        = "TOOL_CALL_END"
	TypeToolCallResult     = "TOOL_CALL_RESULT"
)

// ProtocolVersion is the AG-UI version the door speaks.
const ProtocolVersion = "1.0"

// The events, one struct each so that every required field is always
// written and no optional one is ever null: the 1.0 client rejects a null
// where a field is optional. Optional fields are omitted when empty.

// RunStarted opens the run.
type RunStarted struct {
	Type            string `json:"type"`
	ThreadID        string `json:"threadId"`
	RunID           string `json:"runId"`
	ProtocolVersion string `json:"protocolVersion,omitempty"`
}

// RunFinished closes a run that did not fail.
type RunFinished struct {
	Type     string       `json:"type"`
	ThreadID string       `json:"threadId"`
	RunID    string       `json:"runId"`
	Result   *RunResult   `json:"result,omitempty"`
	Outcome  *Outcome     `json:"outcome,omitempty"`
	Usage    []TokenUsage `json:"usage,omitempty"`
}

// RunResult is RUN_FINISHED's result: what the gateway knows of the reply.
type RunResult struct {
	// MessageID is the reply's message id; empty for an empty run.
	MessageID string `json:"messageId,omitempty"`
	// FinishReason is how the reply ended: stop, length, cancelled,
	// content_filter, tool_calls.
	FinishReason string `json:"finishReason,omitempty"`
}

// Outcome says why a run ended; the door sends it only for a cancelled
// reply (an absent outcome is success).
type Outcome struct {
	Type string `json:"type"`
}

// TokenUsage is one model's usage of a run.
type TokenUsage struct {
	Model        string `json:"model,omitempty"`
	InputTokens  int64  `json:"inputTokens,omitempty"`
	OutputTokens int64  `json:"outputTokens,omitempty"`
	TotalTokens  int64  `json:"totalTokens,omitempty"`
}

// RunError ends a run that failed.
type RunError struct {
	Type    string `json:"type"`
	Message string `json:"message"`
	Code    string `json:"code,omitempty"`
}

// TextMessageStart opens the reply's text.
type TextMessageStart struct {
	Type      string `json:"type"`
	MessageID string `json:"messageId"`
	Role      string `json:"role"`
}

// TextMessageContent is a piece of the reply's text.
type TextMessageContent struct {
	Type      string `json:"type"`
	MessageID string `json:"messageId"`
	Delta     string `json:"delta"`
}

// TextMessageEnd closes the reply's text.
type TextMessageEnd struct {
	Type      string `json:"type"`
	MessageID string `json:"messageId"`
}

// ToolCallStart opens a tool call of the reply.
type ToolCallStart struct {
	Type            string `json:"type"`
	ToolCallID      string `json:"toolCallId"`
	ToolCallName    string `json:"toolCallName"`
	ParentMessageID string `json:"parentMessageId,omitempty"`
}

// ToolCallArgs is a piece of a tool call's argument JSON.
type ToolCallArgs struct {
	Type       string `json:"type"`
	ToolCallID string `json:"toolCallId"`
	Delta      string `json:"delta"`
}

// ToolCallEnd closes a tool call's arguments.
type ToolCallEnd struct {
	Type       string `json:"type"`
	ToolCallID string `json:"toolCallId"`
}

// ToolCallResult is what a tool call returned; it becomes a tool message
// with its own id.
type ToolCallResult struct {
	Type       string `json:"type"`
	MessageID  string `json:"messageId"`
	ToolCallID string `json:"toolCallId"`
	Content    string `json:"content"`
	Role       string `json:"role"`
}
