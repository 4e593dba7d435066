// Package responder defines what an agent's logic implements to answer
// behind the gateway: a Responder gets one user message with the
// conversation before it and writes the reply to a Stream, text and tool
// calls as they come. The gateway owns everything else (the log, fan-out,
// resume, one reply at a time per agent, retries of a crashed replica), so a
// Responder keeps no state of its own and any replica can run it.
//
// # Tools and steps
//
// The gateway runs the tool loop, not the Responder. A run that answers a
// user message is one or more steps, and each step is one call of Respond:
// Request.Tools are the tools the model may call in that step, and a step
// that calls some of them ends with FinishToolCalls. The gateway then runs
// the server tools, waits for the results of the client's tools (and for
// the approvals a person must give), and calls Respond again for the next
// step, with Request.Steps holding the run so far: every earlier step's
// reply with its tool calls and their results. A step that calls no tool
// ends the run. A Responder thus translates: it offers Tools to its model
// and sends History, Message and Steps as the model's conversation, tool
// calls and results included; it never runs a tool of the gateway's itself.
//
// An upstream agent that runs its own tools (an AG-UI agent) reports their
// calls and results on the Stream as they happen; when it pauses to ask a
// person (an AG-UI interrupt), the Responder reports the interrupts with
// Stream.Interrupt and ends the step with FinishToolCalls, and the next
// step's Request.Resume carries the answers back.
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

	"github.com/agentgate/agentgate/tool"
)

// DefaultMaxEventBytes is the default of UPSTREAM_MAX_EVENT_BYTES, 1 MiB:
// the largest event (and line) of a server-sent event stream that the
// built-in upstream responders read (openai.Config.MaxEventBytes,
// agui.Config.MaxFrameBytes), so that a broken upstream cannot grow a
// buffer without bound. A model's delta or an agent's event is far
// smaller.
const DefaultMaxEventBytes = 1 << 20

// Responder writes the reply to one user message. The gateway calls it for
// one message of an agent at a time, in seq order, on whichever replica
// holds the agent's reply lease: once per step of the run that answers it
// (see Request.Step).
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
	// Run errors are not part of it. A reply of an earlier run appears as
	// one assistant message per step, in order.
	History []Message

	// Tools are the tools the model may call in this step: the client
	// tools sent with the message, those of CLIENT_TOOLS, and the server
	// tools. Empty means no tool may be called: offer the model none.
	// Their names are valid and distinct (tool.ValidateDef).
	Tools []tool.Def
	// Step is the step of the run this call answers, from 0: 0 answers
	// Message, and step n goes on after the results of step n-1's tool
	// calls. Its run is the same (RunID), so a Responder whose upstream
	// needs a fresh id per call derives one from both.
	Step int
	// Steps is the run so far, oldest first: the reply of each earlier
	// step (Step of them), an assistant message whose tool calls carry
	// their results. They follow Message in the model's conversation.
	// Every call in Steps has its result, except an upstream agent's own
	// call that an interrupt held (see Resume): the upstream answers that
	// one itself.
	Steps []Message
	// Resume answers the interrupts the previous step reported with
	// Stream.Interrupt, one entry per interrupt, in the order they were
	// reported; empty for a step that follows no interrupt. Only a
	// Responder that reports interrupts gets it.
	Resume []Resume
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
	// Result is what the tool returned: its output, or with IsError the
	// reason it failed. In Steps every call has one, which may be empty,
	// except the calls an upstream's interrupts held: those of the last
	// step still without a result when Request.Resume answers interrupts.
	// In History a call with neither Result nor IsError is one that was
	// never answered (a reply from before the tool loop, or an upstream's
	// call left pending), which a Responder leaves out of what it sends a
	// model, since model APIs refuse a call without its result.
	Result string
	// IsError marks a Result that reports a failure: the tool failed, timed
	// out or does not exist, the arguments were not JSON, or a person
	// denied the call. The model must be told it failed: the built-in
	// responders send it as an OpenAI tool message's content marked as an
	// error, and as an AG-UI tool message's error.
	IsError bool
}

// Interrupt is an upstream agent's request for a person's answer, which
// paused its run: an AG-UI interrupt (RUN_FINISHED with outcome
// interrupt). The gateway holds the run until the answers come, and gives
// them back in the next step's Request.Resume.
type Interrupt struct {
	// ID names the interrupt; Resume.InterruptID answers it. Required, and
	// distinct within a step.
	ID string
	// Reason says what is asked, as the upstream words it: "tool_call" (a
	// tool call needs an approval), "input_required", "confirmation", or
	// the upstream's own.
	Reason string
	// Message is what to ask the person, if the upstream says; optional.
	Message string
	// ToolCallID is the tool call the interrupt holds, if any: a call of
	// this step that ended without a result, or an earlier step's call
	// still without one. Empty for an interrupt about no call.
	ToolCallID string
}

// ResumeStatus says how an interrupt was answered.
type ResumeStatus string

// The ways an interrupt is answered.
const (
	// ResumeResolved: a person answered; Approved and Reason say how.
	ResumeResolved ResumeStatus = "resolved"
	// ResumeCancelled: nobody will answer (the user moved on, or the run
	// was cancelled); the upstream should drop what it asked.
	ResumeCancelled ResumeStatus = "cancelled"
)

// Resume is the answer to one Interrupt.
type Resume struct {
	// InterruptID is the Interrupt.ID answered.
	InterruptID string
	Status      ResumeStatus
	// Approved is the person's yes (true) or no, for a resolved interrupt.
	Approved bool
	// Reason is what the person said with the decision; optional.
	Reason string
}

// Stream is where a Responder writes its reply. Its methods are called from
// one goroutine, in order; each returns an error only if the reply can no
// longer be written (the run was cancelled or timed out, or the reply
// reached its size limit: ErrReplyTooLarge), and the Responder should then
// return.
//
// Text pieces concatenate to the reply's text. A tool call is
// ToolCallStart, any number of ToolCallArgs pieces (they concatenate to the
// arguments), ToolCallEnd, and optionally ToolCallResult. Tool call ids are
// distinct within the step. A call without a result at the end of a step
// that finished with FinishToolCalls is the gateway's to answer: it runs a
// server tool, or waits for the client's result.
//
// ToolCallResult is for a result the Responder's upstream produced itself
// (an agent that runs its own tools); it may also answer an earlier step's
// call that has no result yet in Request.Steps, which an upstream does once
// an interrupt about that call was resolved.
//
// Interrupt reports an upstream's Interrupt, after every call of the step
// ended; a step that reports any ends with FinishToolCalls.
type Stream interface {
	Text(delta string) error
	ToolCallStart(id, name string) error
	ToolCallArgs(id, delta string) error
	ToolCallEnd(id string) error
	ToolCallResult(id, content string) error
	Interrupt(i Interrupt) error
}

// ErrReplyTooLarge is what a Stream's methods return once the reply reached
// the gateway's size limit (MAX_REPLY_BYTES): the piece that crossed it was
// cut to fit, and nothing more is taken. It is not a failure: whatever the
// Responder returns then, the reply is kept as written, with finish reason
// FinishLength, and is not retried.
var ErrReplyTooLarge = errors.New("responder: the reply reached its size limit")

// ErrContextTooLong is the cause, within an *Error of code
// CodeContextTooLong, of a failure where the model server refused the
// request because the conversation does not fit in the model's context
// window. Unlike other failures, less of it may succeed: the gateway tries
// the step once more with a shorter History. Check for it with errors.Is.
var ErrContextTooLong = errors.New("responder: the conversation is too long for the model's context window")

// CodeContextTooLong is the Error.Code of a failure caused by
// ErrContextTooLong.
const CodeContextTooLong = "upstream_context_too_long"

// FinishReason says why the reply ended.
type FinishReason string

// The finish reasons a reply records. A Responder that returns none (the
// zero value) finished normally: the gateway records FinishStop.
const (
	FinishStop          FinishReason = "stop"
	FinishLength        FinishReason = "length"
	FinishCancelled     FinishReason = "cancelled"
	FinishContentFilter FinishReason = "content_filter"
	// FinishToolCalls ends a step that called tools, or that an upstream's
	// interrupt paused: the run goes on with the next step once every call
	// has its result and every interrupt its answer.
	FinishToolCalls FinishReason = "tool_calls"
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
