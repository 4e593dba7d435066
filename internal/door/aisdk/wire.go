// Package aisdk is the door of the Vercel AI SDK's UI message stream
// (ai 7, useChat): POST /ai/chat takes the chat request of
// DefaultChatTransport and answers with the reply as UI message chunks over
// Server-Sent Events; GET /ai/chat/{agent_id}/stream resumes the reply
// being written, as useChat({resume: true}) asks on mount. A chat is an
// agent: the request's id names it.
//
// A request whose last message is the assistant's carries answers instead
// of a message (see NewContinuation): its tool parts with an output
// (addToolOutput) are the client's tools' results, those whose approval
// was responded to (addToolApprovalResponse) are decisions, and the stream
// goes on with what the agent does next, so that useChat's
// sendAutomaticallyWhen works as it does against the AI SDK's own server.
// The request body's tools (an array of AG-UI-shaped tools, which the
// transport's body option sends) are the client tools the message lends.
package aisdk

import (
	"encoding/json"

	"github.com/agentgate/agentgate/tool"
)

// Header is the response header that marks a UI message stream.
const Header = "X-Vercel-Ai-Ui-Message-Stream"

// HeaderValue is the stream protocol version the door speaks.
const HeaderValue = "v1"

// ChatRequest is the body DefaultChatTransport posts.
type ChatRequest struct {
	// ID is the chat's id: the agent id.
	ID string `json:"id"`
	// Messages is the client's copy of the chat, the new message last.
	Messages []UIMessage `json:"messages"`
	// Trigger is "submit-message" (the default) or "regenerate-message".
	Trigger string `json:"trigger"`
	// MessageID is, for regenerate-message, the assistant message to
	// replace.
	MessageID string `json:"messageId"`
	// Tools are the client tools the new message lends: name,
	// description, parameters (a JSON Schema), as AG-UI's Tool.
	Tools []tool.Def `json:"tools"`
}

// UIMessage is one message of the chat; its text parts, and the tool
// parts of the last one, are used.
type UIMessage struct {
	ID    string   `json:"id"`
	Role  string   `json:"role"`
	Parts []UIPart `json:"parts"`
}

// UIPart is one part of a UIMessage: text, a tool call (type "tool-NAME"
// or "dynamic-tool"), or another the door does not read.
type UIPart struct {
	Type string `json:"type"`
	Text string `json:"text"`
	// A tool part's call, and where it stands: input-available,
	// approval-requested, approval-responded, output-available,
	// output-error, output-denied…
	ToolCallID string `json:"toolCallId"`
	State      string `json:"state"`
	// Output is an output-available part's output, any JSON.
	Output json.RawMessage `json:"output"`
	// ErrorText is an output-error part's error.
	ErrorText string `json:"errorText"`
	// ProviderExecuted marks a call the gateway ran or holds.
	ProviderExecuted bool `json:"providerExecuted"`
	// Approval is the approval request of the call, with the answer.
	Approval *Approval `json:"approval"`
}

// Approval is a tool part's approval request (tool-approval-request) and
// its response (addToolApprovalResponse).
type Approval struct {
	// ID is the approval id the server issued.
	ID       string `json:"id"`
	Approved *bool  `json:"approved"`
	Reason   string `json:"reason"`
}

// The states of a tool part that answer a call.
const (
	StateOutputAvailable   = "output-available"
	StateOutputError       = "output-error"
	StateApprovalResponded = "approval-responded"
)

// The triggers of a chat request.
const (
	TriggerSubmit     = "submit-message"
	TriggerRegenerate = "regenerate-message"
)

// The chunks the door sends, one struct each: every field the client's
// schema requires is always written, optional ones are omitted when empty.

// Start opens the assistant message.
type Start struct {
	Type      string `json:"type"` // "start"
	MessageID string `json:"messageId,omitempty"`
}

// TextStart opens a text part.
type TextStart struct {
	Type string `json:"type"` // "text-start"
	ID   string `json:"id"`
}

// TextDelta is a piece of a text part.
type TextDelta struct {
	Type  string `json:"type"` // "text-delta"
	ID    string `json:"id"`
	Delta string `json:"delta"`
}

// TextEnd closes a text part.
type TextEnd struct {
	Type string `json:"type"` // "text-end"
	ID   string `json:"id"`
}

// StartStep begins a step of the run after its first: the client puts a
// step-start part between the steps' parts.
type StartStep struct {
	Type string `json:"type"` // "start-step"
}

// ToolInputStart opens a tool part. Most tools run behind the gateway, so
// the part says providerExecuted; ToolInputAvailable says otherwise for a
// client tool's call, which the client runs (useChat's onToolCall).
type ToolInputStart struct {
	Type             string `json:"type"` // "tool-input-start"
	ToolCallID       string `json:"toolCallId"`
	ToolName         string `json:"toolName"`
	ProviderExecuted bool   `json:"providerExecuted"`
}

// ToolInputDelta is a piece of a tool call's input JSON.
type ToolInputDelta struct {
	Type           string `json:"type"` // "tool-input-delta"
	ToolCallID     string `json:"toolCallId"`
	InputTextDelta string `json:"inputTextDelta"`
}

// ToolInputAvailable carries a tool call's whole input. providerExecuted
// false makes the client run the tool (onToolCall).
type ToolInputAvailable struct {
	Type             string `json:"type"` // "tool-input-available"
	ToolCallID       string `json:"toolCallId"`
	ToolName         string `json:"toolName"`
	Input            any    `json:"input"`
	ProviderExecuted bool   `json:"providerExecuted"`
}

// ToolOutputAvailable carries what a tool call returned.
type ToolOutputAvailable struct {
	Type             string `json:"type"` // "tool-output-available"
	ToolCallID       string `json:"toolCallId"`
	Output           any    `json:"output"`
	ProviderExecuted bool   `json:"providerExecuted"`
}

// ToolOutputError says that a tool call failed, or was closed unanswered.
type ToolOutputError struct {
	Type             string `json:"type"` // "tool-output-error"
	ToolCallID       string `json:"toolCallId"`
	ErrorText        string `json:"errorText"`
	ProviderExecuted bool   `json:"providerExecuted"`
}

// ToolOutputDenied says that a person denied a tool call.
type ToolOutputDenied struct {
	Type       string `json:"type"` // "tool-output-denied"
	ToolCallID string `json:"toolCallId"`
}

// ToolApprovalRequest asks a person to approve a tool call: the client
// answers with the approval id (addToolApprovalResponse).
type ToolApprovalRequest struct {
	Type       string `json:"type"` // "tool-approval-request"
	ApprovalID string `json:"approvalId"`
	ToolCallID string `json:"toolCallId"`
}

// ToolApprovalResponse is a person's decision on an approval request, as
// a replay shows it.
type ToolApprovalResponse struct {
	Type       string `json:"type"` // "tool-approval-response"
	ApprovalID string `json:"approvalId"`
	Approved   bool   `json:"approved"`
	Reason     string `json:"reason,omitempty"`
}

// Finish closes the assistant message.
type Finish struct {
	Type         string `json:"type"` // "finish"
	FinishReason string `json:"finishReason,omitempty"`
}

// ErrorChunk ends a stream that failed.
type ErrorChunk struct {
	Type      string `json:"type"` // "error"
	ErrorText string `json:"errorText"`
}

// Done is the data of the frame that ends every stream.
const Done = "[DONE]"
