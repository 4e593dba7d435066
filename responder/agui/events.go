package agui

import (
	"encoding/json"
	"strings"
)

// The AG-UI 1.0 event types the responder acts on. Every other type (state,
// steps, reasoning, activity, subagents, custom and raw events, and types
// added after 1.0) is skipped, so a newer upstream keeps working.
const (
	typeRunFinished        = "RUN_FINISHED"
	typeRunError           = "RUN_ERROR"
	typeTextMessageStart   = "TEXT_MESSAGE_START"
	typeTextMessageContent = "TEXT_MESSAGE_CONTENT"
	typeTextMessageChunk   = "TEXT_MESSAGE_CHUNK"
	typeToolCallStart      = "TOOL_CALL_START"
	typeToolCallArgs       = "TOOL_CALL_ARGS"
	typeToolCallEnd        = "TOOL_CALL_END"
	typeToolCallChunk      = "TOOL_CALL_CHUNK"
	typeToolCallResult     = "TOOL_CALL_RESULT"
)

// The structs below are written for the 1.0 types of @ag-ui/core rather
// than taken from the community Go SDK, which lags 1.0 (no usage, no
// cancelled outcome). Each holds only the fields the responder reads:
// unknown fields are ignored by encoding/json, as AG-UI's own client strips
// them. An event is decoded twice, its type first, because fields share
// names across types with different JSON shapes (STATE_DELTA's delta is an
// array, TEXT_MESSAGE_CONTENT's a string).

// eventHead is the discriminator every event has.
type eventHead struct {
	Type string `json:"type"`
}

// textMessageEvent is TEXT_MESSAGE_START, TEXT_MESSAGE_CONTENT and
// TEXT_MESSAGE_CHUNK: the chunk form has every field optional, and an
// absent messageId continues the message already open.
type textMessageEvent struct {
	MessageID string `json:"messageId"`
	// Role is absent for the assistant.
	Role  string `json:"role"`
	Delta string `json:"delta"`
}

// toolCallEvent is TOOL_CALL_START, _ARGS, _END and _CHUNK: the chunk form
// has every field optional, and an absent toolCallId continues the call
// already open.
type toolCallEvent struct {
	ToolCallID   string `json:"toolCallId"`
	ToolCallName string `json:"toolCallName"`
	Delta        string `json:"delta"`
}

// toolCallResultEvent is TOOL_CALL_RESULT.
type toolCallResultEvent struct {
	ToolCallID string  `json:"toolCallId"`
	Content    content `json:"content"`
}

// content is a tool result's content: a string or a list of content parts.
// It holds the text a string-only consumer keeps, the text parts joined in
// order and every media part dropped, as core's contentToText does.
type content string

// UnmarshalJSON implements json.Unmarshaler.
func (c *content) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*c = content(s)
		return nil
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if err := json.Unmarshal(b, &parts); err != nil {
		return err
	}
	var text strings.Builder
	for _, p := range parts {
		if p.Type == "text" {
			text.WriteString(p.Text)
		}
	}
	*c = content(text.String())
	return nil
}

// runFinishedEvent is RUN_FINISHED.
type runFinishedEvent struct {
	// Outcome is absent for success.
	Outcome *outcome     `json:"outcome"`
	Usage   []tokenUsage `json:"usage"`
}

// outcome is RUN_FINISHED's outcome: success (with pendingToolCallIds when
// the run waits for the client to run tools), interrupt or cancelled.
type outcome struct {
	Type               string            `json:"type"`
	PendingToolCallIDs []string          `json:"pendingToolCallIds"`
	Interrupts         []json.RawMessage `json:"interrupts"`
}

// The outcome types of RUN_FINISHED.
const (
	outcomeSuccess   = "success"
	outcomeInterrupt = "interrupt"
	outcomeCancelled = "cancelled"
)

// tokenUsage is one model's usage within a run. Counts are pointers because
// AG-UI keeps "not reported" apart from zero.
type tokenUsage struct {
	Model        string `json:"model"`
	InputTokens  *int64 `json:"inputTokens"`
	OutputTokens *int64 `json:"outputTokens"`
}

// runErrorEvent is RUN_ERROR.
type runErrorEvent struct {
	Message string `json:"message"`
	// Code is an open string; empty if absent.
	Code string `json:"code"`
}
