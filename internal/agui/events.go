// Package agui holds the AG-UI 1.0 wire types that the gateway speaks in
// both directions: the upstream responder (responder/agui) writes a
// RunAgentInput and reads an agent's events, and the AG-UI door
// (internal/door/agui) reads a client's RunAgentInput and writes events.
// One set of types means one JSON shape for both.
//
// The types follow the 1.0 types of @ag-ui/core, not the community Go SDK,
// which lags 1.0 (no usage, no cancelled outcome, an extra runId on
// RUN_ERROR). They hold the fields the gateway reads or writes, with AG-UI's
// names: unknown fields are ignored on the way in, as AG-UI's own client
// strips them, and fields whose shape AG-UI leaves open (state, a run's
// result, content) are kept as raw JSON or any, so that nothing the gateway
// does not interpret can make it refuse an input or an event.
//
// Every optional field is omitted when empty and never written as null:
// the 1.0 client rejects a null where a field is optional. Required fields
// are always written.
package agui

import "encoding/json"

// The AG-UI 1.0 event types the gateway reads or writes, as written in an
// event's "type". Every other type (state, steps, reasoning, activity,
// subagents, custom and raw events, and types added after 1.0) is one the
// gateway skips.
const (
	TypeRunStarted         = "RUN_STARTED"
	TypeRunFinished        = "RUN_FINISHED"
	TypeRunError           = "RUN_ERROR"
	TypeTextMessageStart   = "TEXT_MESSAGE_START"
	TypeTextMessageContent = "TEXT_MESSAGE_CONTENT"
	TypeTextMessageEnd     = "TEXT_MESSAGE_END"
	TypeTextMessageChunk   = "TEXT_MESSAGE_CHUNK"
	TypeToolCallStart      = "TOOL_CALL_START"
	TypeToolCallArgs       = "TOOL_CALL_ARGS"
	TypeToolCallEnd        = "TOOL_CALL_END"
	TypeToolCallChunk      = "TOOL_CALL_CHUNK"
	TypeToolCallResult     = "TOOL_CALL_RESULT"
)

// ProtocolVersion is the AG-UI version the gateway speaks, declared in a
// RunAgentInput and in RUN_STARTED so that the other side can tell which
// shapes to expect.
const ProtocolVersion = "1.0"

// Head is the discriminator every event has. An event is decoded twice,
// its type first, because fields share names across types with different
// JSON shapes (STATE_DELTA's delta is an array, TEXT_MESSAGE_CONTENT's a
// string).
type Head struct {
	Type string `json:"type"`
}

// RunStarted opens a run.
type RunStarted struct {
	Type     string `json:"type"`
	ThreadID string `json:"threadId"`
	RunID    string `json:"runId"`
	// ProtocolVersion is the producer's AG-UI version; optional.
	ProtocolVersion string `json:"protocolVersion,omitempty"`
}

// RunFinished closes a run that did not fail.
type RunFinished struct {
	Type     string `json:"type"`
	ThreadID string `json:"threadId"`
	RunID    string `json:"runId"`
	// Result is any JSON value the producer gives; optional. Decoded, it is
	// the generic value encoding/json makes (an object is a map, whose keys
	// encode sorted).
	Result any `json:"result,omitempty"`
	// Outcome is absent for success.
	Outcome *Outcome     `json:"outcome,omitempty"`
	Usage   []TokenUsage `json:"usage,omitempty"`
}

// The types of a RUN_FINISHED outcome.
const (
	OutcomeSuccess   = "success"
	OutcomeInterrupt = "interrupt"
	OutcomeCancelled = "cancelled"
)

// Outcome is how a run ended: success (with PendingToolCallIDs when the run
// waits for the client to run tools), interrupt (with the Interrupts a
// person must answer, at least one) or cancelled.
type Outcome struct {
	Type               string      `json:"type"`
	PendingToolCallIDs []string    `json:"pendingToolCallIds,omitempty"`
	Interrupts         []Interrupt `json:"interrupts,omitempty"`
}

// The reasons of an Interrupt that AG-UI names; an agent may give others.
const (
	ReasonToolCall      = "tool_call"
	ReasonInputRequired = "input_required"
	ReasonConfirmation  = "confirmation"
)

// Interrupt is what an interrupted run waits for: the next run's
// ResumeEntry with its ID answers it.
type Interrupt struct {
	// ID is unique within the run.
	ID string `json:"id"`
	// Reason is an open string: ReasonToolCall, ReasonInputRequired,
	// ReasonConfirmation, or the agent's own.
	Reason string `json:"reason"`
	// Message is the question for whoever answers; optional.
	Message string `json:"message,omitempty"`
	// ToolCallID is the tool call an approval concerns; optional.
	ToolCallID string `json:"toolCallId,omitempty"`
	// ResponseSchema is the JSON Schema of the answer's payload; optional.
	ResponseSchema json.RawMessage `json:"responseSchema,omitempty"`
	// ExpiresAt is an ISO 8601 time after which an answer is stale;
	// optional.
	ExpiresAt string `json:"expiresAt,omitempty"`
	// Metadata is the agent's own; optional.
	Metadata json.RawMessage `json:"metadata,omitempty"`
}

// TokenUsage is one model's usage within a run. A count of zero is one
// not reported.
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
	// Code is an open string; optional.
	Code string `json:"code,omitempty"`
}

// TextMessageStart opens a text message.
type TextMessageStart struct {
	Type      string `json:"type"`
	MessageID string `json:"messageId"`
	// Role is absent for the assistant.
	Role string `json:"role,omitempty"`
}

// TextMessageContent is a piece of a text message; its delta may be "".
type TextMessageContent struct {
	Type      string `json:"type"`
	MessageID string `json:"messageId"`
	Delta     string `json:"delta"`
}

// TextMessageEnd closes a text message.
type TextMessageEnd struct {
	Type      string `json:"type"`
	MessageID string `json:"messageId"`
}

// TextMessageChunk is the shorthand for a text message's start, content and
// end, every field optional: an absent messageId continues the message
// already open. Its fields are those of TEXT_MESSAGE_START and
// TEXT_MESSAGE_CONTENT together, so a reader can decode either into it.
type TextMessageChunk struct {
	Type      string `json:"type"`
	MessageID string `json:"messageId,omitempty"`
	Role      string `json:"role,omitempty"`
	Delta     string `json:"delta,omitempty"`
}

// ToolCallStart opens a tool call.
type ToolCallStart struct {
	Type         string `json:"type"`
	ToolCallID   string `json:"toolCallId"`
	ToolCallName string `json:"toolCallName"`
	// ParentMessageID is the message the call belongs to; optional.
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

// ToolCallChunk is the shorthand for a tool call's start, arguments and
// end, every field optional: an absent toolCallId continues the call
// already open. Its fields are those of TOOL_CALL_START and TOOL_CALL_ARGS
// together, so a reader can decode any of the tool call events into it.
type ToolCallChunk struct {
	Type            string `json:"type"`
	ToolCallID      string `json:"toolCallId,omitempty"`
	ToolCallName    string `json:"toolCallName,omitempty"`
	ParentMessageID string `json:"parentMessageId,omitempty"`
	Delta           string `json:"delta,omitempty"`
}

// ToolCallResult is what a tool call returned. It becomes a tool message
// with its own id.
type ToolCallResult struct {
	Type       string  `json:"type"`
	MessageID  string  `json:"messageId"`
	ToolCallID string  `json:"toolCallId"`
	Content    Content `json:"content"`
	// Role is RoleTool; optional.
	Role string `json:"role,omitempty"`
}
