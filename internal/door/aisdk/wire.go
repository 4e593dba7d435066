// Package aisdk is the door of the Vercel AI SDK's UI message stream
// (ai 7, useChat): POST /ai/chat takes the chat request of
// DefaultChatTransport and answers with the reply as UI message chunks over
// Server-Sent Events; GET /ai/chat/{agent_id}/stream resumes the reply
// being written, as useChat({resume: true}) asks on mount. A chat is an
// agent: the request's id names it.
package aisdk

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
}

// UIMessage is one message of the chat; only text parts are used.
type UIMessage struct {
	ID    string   `json:"id"`
	Role  string   `json:"role"`
	Parts []UIPart `json:"parts"`
}

// UIPart is one part of a UIMessage.
type UIPart struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

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

// ToolInputStart opens a tool part. The tools run behind the gateway, so
// the part says providerExecuted: the client must not run them itself.
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

// ToolInputAvailable carries a tool call's whole input.
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
