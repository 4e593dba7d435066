// Package agui is the AG-UI door: POST /agui/{agent_id} takes an AG-UI 1.0
// RunAgentInput, as @ag-ui/client's HttpAgent and CopilotKit send it, and
// answers with the run as AG-UI events over Server-Sent Events. A thread is
// an agent: the path names it, and the input's last user message is the
// message of the run, its id the message's client_message_id, so that a
// retried run appends nothing and streams the reply the first one got.
//
// A run whose input ends with tool messages, or carries resume entries,
// answers the agent's paused run instead (see NewContinuation): the tool
// messages are results of the client's tools, the resume entries decide
// the interrupts the paused run's RUN_FINISHED asked, and the run streams
// what the agent does next, in the same response. The input's tools are
// the client tools its user message lends.
//
// The wire types are those of internal/agui, which the upstream responder
// shares. Of the input, the thread, the run, the messages, the tools and
// resume are used; the rest (state, context, forwardedProps) is accepted
// and ignored: the agent's context is its log.
package agui

// RunResult is RUN_FINISHED's result: what the gateway knows of the reply.
type RunResult struct {
	// MessageID is the reply's message id; empty for an empty run.
	MessageID string `json:"messageId,omitempty"`
	// FinishReason is how the reply ended: stop, length, cancelled,
	// content_filter, tool_calls.
	FinishReason string `json:"finishReason,omitempty"`
}
