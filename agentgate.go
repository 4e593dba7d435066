// Package agentgate runs the agent gateway with your own agent logic: the
// typed agent API (Connect, gRPC, gRPC-Web), the WebSocket bridge, the
// health probes and metrics on one port, with the durable ordered log,
// resume, fan-out and, with REDIS_URL, any number of replicas.
//
// The agent's logic is a Responder: it answers one user message, given the
// conversation before it, by writing text and tool calls to a Stream. Run
// serves the gateway with it, configured by the same environment variables
// as the agentgate server binary (PORT, REDIS_URL, AUTH_TOKENS, …; see the
// README). Main does the same as a process: it drains on SIGTERM and exits
// 0, or 2 on bad configuration.
//
// A Responder keeps no state of its own: it gets the conversation from the
// log on every reply, so any replica can answer, and a replica taking over
// after a crash answers with the same context. The built-in responders are
// in package responder (Echo) and its packages openai and agui.
package agentgate

import "github.com/agentgate/agentgate/responder"

// The types a Responder works with; see package responder.
type (
	// Responder writes the reply to one user message.
	Responder = responder.Responder
	// ResponderFunc adapts a function to a Responder.
	ResponderFunc = responder.Func
	// Request is what a Responder answers: the message and the conversation.
	Request = responder.Request
	// Message is one message of the conversation.
	Message = responder.Message
	// Role says who wrote a Message.
	Role = responder.Role
	// ToolCall is a tool call of a reply.
	ToolCall = responder.ToolCall
	// Stream is where a Responder writes its reply.
	Stream = responder.Stream
	// Result is how a reply ended.
	Result = responder.Result
	// FinishReason says why a reply ended.
	FinishReason = responder.FinishReason
	// Usage is what a reply cost in tokens.
	Usage = responder.Usage
	// Error is a failure with a code, which clients see as a run error.
	Error = responder.Error
)

// ErrReplyTooLarge is what a Stream returns once the reply reached
// MAX_REPLY_BYTES: the reply is kept with finish reason length.
var ErrReplyTooLarge = responder.ErrReplyTooLarge

// The roles and finish reasons; see package responder.
const (
	RoleUser            = responder.RoleUser
	RoleAssistant       = responder.RoleAssistant
	FinishStop          = responder.FinishStop
	FinishLength        = responder.FinishLength
	FinishCancelled     = responder.FinishCancelled
	FinishContentFilter = responder.FinishContentFilter
	FinishToolCalls     = responder.FinishToolCalls
)
