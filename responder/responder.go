// Package responder defines what an agent's logic implements to answer
// behind the gateway: a Responder gets one user message with the
// conversation before it and writes the reply to a Stream, text and tool
// calls as they come. The gateway owns everything else (the log, fan-out,
// resume, one reply at a time per agent, retries of a crashed replica), so a
// Responder keeps no state of its own and any replica can run it.
//
// These types have this one name: the module's root package agentgate runs
// the whole gateway with a Responder and imports this package, never the
// other way round, so a responder depends on this small package alone. The
// built-in responders live in the packages below this one (openai, agui)
// and here (Echo); respondertest tests a Responder without the gateway.
package responder

import (
	"context"
	"errors"
	"fmt"
)

// Responder writes the reply to one user message. The gateway calls it for
// one message of an agent at a time, in seq order, on whichever replica
// holds the agent's reply lease.
//
// Respond streams the reply to out and returns how it ended. It must return
// when ctx is done: ctx ends on CancelRun (the reply is then kept with what
// was written, finish reason cancelled), on the reply timeout, and on
// shutdown. An error makes the reply a run error, so the user message still
// gets an answer; return an *Error to give it a code and a message a person
// can act on.
type Responder interface {
	Respond(ctx context.Context, req Request, out Stream) (Result, error)
}

// HistoryLimiter is implemented by a Responder that needs less of the
// conversation than the gateway is configured to give (CONTEXT_MESSAGES),
// or none at all (0): the gateway then reads no more of the log than it
// asks for, which saves a read per reply.
type HistoryLimiter interface {
	HistoryLimit() int
}

// Func adapts a function to a Responder.
type Func func(ctx context.Context, req Request, out Stream) (Result, error)

// Respond implements Responder.
func (f Func) Respond(ctx context.Context, req Request, out Stream) (Result, error) {
	return f(ctx, req, out)
}

// Request is what a Responder answers.
type Request struct {
	// AgentID names the agent: the conversation's thread.
	AgentID string
	// RunID identifies this reply; the events clients see carry it.
	RunID string
	// Seq is the seq of the user message in the agent's log.
	Seq uint64
	// Message is the user message to answer.
	Message Message
	// History is the conversation before Message, oldest first: the last
	// CONTEXT_MESSAGES user messages and replies, with their tool calls.
	// Run errors are not part of it.
	History []Message
}

// Role says who wrote a Message.
type Role string

// The roles of a conversation's messages.
const (
	RoleUser      Role = "user"
	RoleAssistant Role = "assistant"
)

// Message is one message of the conversation.
type Message struct {
	// ID is the message's id in the log.
	ID   string
	Role Role
	Text string
	// ToolCalls are the tool calls of an assistant message, in order.
	ToolCalls []ToolCall
}

// ToolCall is a tool call of a reply.
type ToolCall struct {
	ID   string
	Name string
	// Arguments are the call's arguments, usually JSON.
	Arguments string
	// Result is what the tool returned, if the agent reported it.
	Result string
}

// Stream is where a Responder writes its reply. Its methods are called from
// one goroutine, in order; each returns an error only if the reply can no
// longer be written (the run was cancelled or timed out, or the reply
// reached its size limit: ErrReplyTooLarge), and the Responder should then
// return.
//
// Text pieces concatenate to the reply's text. A tool call is
// ToolCallStart, any number of ToolCallArgs pieces (they concatenate to the
// arguments), ToolCallEnd, and optionally ToolCallResult.
type Stream interface {
	Text(delta string) error
	ToolCallStart(id, name string) error
	ToolCallArgs(id, delta string) error
	ToolCallEnd(id string) error
	ToolCallResult(id, content string) error
}

// ErrReplyTooLarge is what a Stream's methods return once the reply reached
// the gateway's size limit (MAX_REPLY_BYTES): the piece that crossed it was
// cut to fit, and nothing more is taken. It is not a failure: whatever the
// Responder returns then, the reply is kept as written, with finish reason
// FinishLength, and is not retried.
var ErrReplyTooLarge = errors.New("responder: the reply reached its size limit")

// FinishReason says why the reply ended.
type FinishReason string

// The finish reasons a reply records. A Responder that returns none (the
// zero value) finished normally: the gateway records FinishStop.
const (
	FinishStop          FinishReason = "stop"
	FinishLength        FinishReason = "length"
	FinishCancelled     FinishReason = "cancelled"
	FinishContentFilter FinishReason = "content_filter"
	FinishToolCalls     FinishReason = "tool_calls"
)

// Usage is what the reply cost, where the model reports it.
type Usage struct {
	InputTokens  int64
	OutputTokens int64
	// Model is the model that wrote the reply, as the upstream named it.
	Model string
}

// Result is how a reply ended.
type Result struct {
	// FinishReason defaults to FinishStop.
	FinishReason FinishReason
	// Usage is nil if the responder does not know it.
	Usage *Usage
}

// Error is a failure with a stable code, which becomes the run error that
// clients see. Message is shown to people: say what to do, and never include
// a secret. Err is the cause, for the server's log only.
type Error struct {
	// Code is machine-readable, such as "upstream_rate_limited".
	Code    string
	Message string
	Err     error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return e.Code + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// AsError returns err's *Error, if it holds one.
func AsError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}
