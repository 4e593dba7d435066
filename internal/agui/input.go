package agui

import "encoding/json"

// RunAgentInput is the body of a run: what a client POSTs to an AG-UI
// agent. Its field order is the one @ag-ui/client's HttpAgent writes.
// Messages, Tools and Context are always written, [] when empty, as
// HttpAgent sends them (see MarshalJSON); the fields AG-UI leaves open
// (State, ForwardedProps) are kept as raw JSON. Resume answers the
// interrupts of the run before; parentRunId is not read.
type RunAgentInput struct {
	ThreadID        string          `json:"threadId"`
	RunID           string          `json:"runId"`
	ProtocolVersion string          `json:"protocolVersion,omitempty"`
	State           json.RawMessage `json:"state,omitempty"`
	Messages        []Message       `json:"messages"`
	Tools           []Tool          `json:"tools"`
	Context         []Context       `json:"context"`
	ForwardedProps  json.RawMessage `json:"forwardedProps,omitempty"`
	Resume          []ResumeEntry   `json:"resume,omitempty"`
}

// The statuses of a ResumeEntry.
const (
	ResumeResolved  = "resolved"
	ResumeCancelled = "cancelled"
)

// ResumeEntry answers one Interrupt of the run before: resolved with a
// payload (for an approval, {"approved": bool, ...}), or cancelled.
type ResumeEntry struct {
	InterruptID string `json:"interruptId"`
	Status      string `json:"status"`
	// Payload is the answer, any JSON; optional.
	Payload json.RawMessage `json:"payload,omitempty"`
	// Metadata is the client's own; optional.
	Metadata json.RawMessage `json:"metadata,omitempty"`
}

// MarshalJSON implements json.Marshaler: it writes the required lists as []
// when they are nil, never as null.
func (in RunAgentInput) MarshalJSON() ([]byte, error) {
	type fields RunAgentInput // without the method, so that it encodes plainly
	f := fields(in)
	f.Messages = nonNil(f.Messages)
	f.Tools = nonNil(f.Tools)
	f.Context = nonNil(f.Context)
	return marshal(f)
}

func nonNil[E any](s []E) []E {
	if s == nil {
		return []E{}
	}
	return s
}

// The roles of the messages the gateway reads or writes.
const (
	RoleUser      = "user"
	RoleAssistant = "assistant"
	RoleTool      = "tool"
)

// Message is one message of a run's input. AG-UI discriminates messages by
// role; this struct holds the fields of the user, assistant and tool roles,
// and a role's fields that it does not have are left out.
type Message struct {
	ID   string `json:"id"`
	Role string `json:"role"`
	// Content is required for user and tool messages, optional for the
	// assistant, which may have only tool calls.
	Content Content `json:"content,omitempty"`
	// ToolCalls are an assistant message's tool calls.
	ToolCalls []ToolCall `json:"toolCalls,omitempty"`
	// ToolCallID is the call a tool message answers.
	ToolCallID string `json:"toolCallId,omitempty"`
	// Error is a tool message's failure, when the tool failed: what went
	// wrong, the Content saying the same to a reader of content alone.
	Error string `json:"error,omitempty"`
}

// ToolCallFunction is the Type of every ToolCall.
const ToolCallFunction = "function"

// ToolCall is an assistant message's tool call.
type ToolCall struct {
	ID       string       `json:"id"`
	Type     string       `json:"type"`
	Function FunctionCall `json:"function"`
}

// FunctionCall names the tool and holds its arguments as a JSON string.
type FunctionCall struct {
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
}

// Tool is a tool the client lends the run.
type Tool struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	// Parameters is the JSON Schema of the tool's arguments; optional.
	Parameters json.RawMessage `json:"parameters,omitempty"`
}

// Context is a piece of context the client gives the run.
type Context struct {
	Description string `json:"description"`
	Value       string `json:"value"`
}
