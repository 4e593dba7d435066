package agui

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	wire "github.com/agentgate/agentgate/internal/agui"
	"github.com/agentgate/agentgate/internal/redact"
	"github.com/agentgate/agentgate/responder"
)

// reply turns one run's AG-UI events into the Stream's calls. It keeps what
// the Stream's contract needs that AG-UI leaves implicit: a tool call is
// started before its arguments and ended before its result, the chunk
// shorthands continue the message or call already open, and only the
// assistant's text is the reply.
//
// A reply is used by one goroutine.
type reply struct {
	out responder.Stream
	log *slog.Logger
	// red takes the responder's secrets out of a RUN_ERROR; nil takes
	// nothing out.
	red *redact.Redactor

	// roles holds the role of each text message that is not the assistant's.
	roles map[string]string
	// textChunk is the message that TEXT_MESSAGE_CHUNK continues.
	textChunk string

	// calls holds every tool call started, by id: true while it is open.
	// order is their ids in start order, so that the run's end closes them
	// in order.
	calls map[string]bool
	order []string
	// toolChunk is the call that TOOL_CALL_CHUNK continues.
	toolChunk string
	// answered holds the calls whose result was written.
	answered map[string]bool
	// earlier holds the calls of the run's earlier steps that have no
	// result: a resumed agent answers a call an interrupt held with a
	// TOOL_CALL_RESULT alone.
	earlier map[string]bool
}

// newReply reads the events of a step of req.
func newReply(out responder.Stream, log *slog.Logger, req responder.Request) *reply {
	r := &reply{out: out, log: log, roles: map[string]string{}, calls: map[string]bool{},
		answered: map[string]bool{}, earlier: map[string]bool{}}
	for _, m := range req.Steps {
		for _, tc := range m.ToolCalls {
			if tc.Result == "" && !tc.IsError {
				r.earlier[tc.ID] = true
			}
		}
	}
	return r
}

// errBadEvent marks an event that is not JSON, or whose fields have the
// wrong JSON types.
var errBadEvent = errors.New("invalid AG-UI event")

// streamError marks an error returned by the Stream, so that it reaches
// the gateway as it is, not as an upstream failure: it means the reply can
// no longer be written.
type streamError struct{ err error }

func (e streamError) Error() string { return e.err.Error() }
func (e streamError) Unwrap() error { return e.err }

func wrapStream(err error) error {
	if err != nil {
		return streamError{err}
	}
	return nil
}

// handle applies one event. It returns a non-nil Result when the event
// finished the run, and an error when the run failed (a RUN_ERROR is a
// *responder.Error), when the event is not JSON, or when the Stream refused
// a write.
func (r *reply) handle(data []byte) (*responder.Result, error) {
	var head wire.Head
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, fmt.Errorf("%w: %w", errBadEvent, err)
	}
	switch head.Type {
	case wire.TypeRunFinished:
		return r.finished(data)
	case wire.TypeRunError:
		return nil, r.runError(data)
	case wire.TypeTextMessageStart, wire.TypeTextMessageContent, wire.TypeTextMessageChunk:
		return nil, decodeThen(data, head.Type, r.text)
	case wire.TypeToolCallStart, wire.TypeToolCallArgs, wire.TypeToolCallEnd, wire.TypeToolCallChunk:
		return nil, decodeThen(data, head.Type, r.toolCall)
	case wire.TypeToolCallResult:
		return nil, decodeThen(data, head.Type, r.toolResult)
	default:
		return nil, nil
	}
}

// decodeThen decodes data into an E and hands it to apply.
func decodeThen[E any](data []byte, typ string, apply func(string, E) error) error {
	var e E
	if err := json.Unmarshal(data, &e); err != nil {
		return fmt.Errorf("%w: %s: %w", errBadEvent, typ, err)
	}
	return apply(typ, e)
}

// text writes the assistant's text deltas. Text messages of other roles
// (an upstream echoing the user's message, a system note) are not part of
// the reply; several assistant messages concatenate in order. Every text
// message event is decoded as the chunk, whose fields are those of the
// start and the content events together.
func (r *reply) text(typ string, e wire.TextMessageChunk) error {
	id := e.MessageID
	switch typ {
	case wire.TypeTextMessageStart:
		r.setRole(id, e.Role)
		return nil
	case wire.TypeTextMessageChunk:
		if id == "" {
			id = r.textChunk
		} else if id != r.textChunk {
			r.textChunk = id
			r.setRole(id, e.Role)
		}
	}
	if e.Delta == "" || !r.isAssistant(id) {
		return nil
	}
	return wrapStream(r.out.Text(e.Delta))
}

func (r *reply) setRole(id, role string) {
	if role != "" && role != wire.RoleAssistant {
		r.roles[id] = role
	}
}

func (r *reply) isAssistant(id string) bool {
	_, other := r.roles[id]
	return !other
}

// toolCall applies TOOL_CALL_START, _ARGS, _END and _CHUNK, each decoded
// as the chunk, whose fields are those of the others together.
func (r *reply) toolCall(typ string, e wire.ToolCallChunk) error {
	switch typ {
	case wire.TypeToolCallStart:
		return r.start(e.ToolCallID, e.ToolCallName)
	case wire.TypeToolCallArgs:
		return r.args(e.ToolCallID, e.Delta)
	case wire.TypeToolCallEnd:
		return r.end(e.ToolCallID)
	default:
		return r.chunk(e)
	}
}

// chunk applies TOOL_CALL_CHUNK: the first chunk of an id starts the call,
// and a chunk for another id ends the call the previous chunks opened.
// Chunks without an id continue the open call.
func (r *reply) chunk(e wire.ToolCallChunk) error {
	id := e.ToolCallID
	if id == "" {
		id = r.toolChunk
	}
	if id == "" {
		r.log.Warn("agui: TOOL_CALL_CHUNK with no tool call open, skipped")
		return nil
	}
	if id != r.toolChunk {
		if err := r.endChunk(); err != nil {
			return err
		}
		r.toolChunk = id
		if _, started := r.calls[id]; !started {
			if err := r.start(id, e.ToolCallName); err != nil {
				return err
			}
		}
	}
	return r.args(id, e.Delta)
}

// endChunk ends the call that TOOL_CALL_CHUNK opened, if it is still open.
func (r *reply) endChunk() error {
	id := r.toolChunk
	r.toolChunk = ""
	if r.calls[id] {
		return r.end(id)
	}
	return nil
}

func (r *reply) start(id, name string) error {
	if id == "" {
		r.log.Warn("agui: TOOL_CALL_START without a toolCallId, skipped")
		return nil
	}
	if _, started := r.calls[id]; started {
		r.log.Warn("agui: tool call started twice, the second start skipped", "tool_call_id", id)
		return nil
	}
	r.calls[id] = true
	r.order = append(r.order, id)
	return wrapStream(r.out.ToolCallStart(id, name))
}

func (r *reply) args(id, delta string) error {
	if !r.calls[id] {
		r.log.Warn("agui: arguments for a tool call that is not open, skipped", "tool_call_id", id)
		return nil
	}
	if delta == "" {
		return nil
	}
	return wrapStream(r.out.ToolCallArgs(id, delta))
}

func (r *reply) end(id string) error {
	if !r.calls[id] {
		r.log.Warn("agui: end of a tool call that is not open, skipped", "tool_call_id", id)
		return nil
	}
	r.calls[id] = false
	return wrapStream(r.out.ToolCallEnd(id))
}

// toolResult writes a tool call's result, ending the call first if the
// upstream had not: AG-UI lets a result follow a chunked call directly.
// A result may also answer a call of an earlier step that has none, as a
// resumed agent answers the call an interrupt held. A result for any other
// call never started has no name to record, and a second result of a call
// would contradict the first: both are skipped. Its content is the text of
// its text parts, every media part dropped, as a string-only consumer
// keeps it; content of any other shape is an invalid event.
func (r *reply) toolResult(typ string, e wire.ToolCallResult) error {
	content, err := e.Content.Text()
	if err != nil {
		return fmt.Errorf("%w: %s: content %w", errBadEvent, typ, err)
	}
	open, started := r.calls[e.ToolCallID]
	switch {
	case r.answered[e.ToolCallID]:
		r.log.Warn("agui: a second result of a tool call, skipped", "tool_call_id", e.ToolCallID)
		return nil
	case !started && r.earlier[e.ToolCallID]:
		delete(r.earlier, e.ToolCallID)
		r.answered[e.ToolCallID] = true
		return wrapStream(r.out.ToolCallResult(e.ToolCallID, content))
	case !started:
		r.log.Warn("agui: result of a tool call never started, skipped", "tool_call_id", e.ToolCallID)
		return nil
	}
	r.answered[e.ToolCallID] = true
	if open {
		if err := r.end(e.ToolCallID); err != nil {
			return err
		}
	}
	if r.toolChunk == e.ToolCallID {
		r.toolChunk = ""
	}
	return wrapStream(r.out.ToolCallResult(e.ToolCallID, content))
}

// finished ends every call still open, in start order, reports the
// interrupts of an interrupted run, and returns how the run ended.
func (r *reply) finished(data []byte) (*responder.Result, error) {
	var e wire.RunFinished
	if err := json.Unmarshal(data, &e); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", errBadEvent, wire.TypeRunFinished, err)
	}
	for _, id := range r.order {
		if r.calls[id] {
			if err := r.end(id); err != nil {
				return nil, err
			}
		}
	}
	var interrupted int
	if o := e.Outcome; o != nil && o.Type == wire.OutcomeInterrupt {
		var err error
		if interrupted, err = r.interrupts(o.Interrupts); err != nil {
			return nil, err
		}
	}
	return &responder.Result{FinishReason: r.finishReason(e.Outcome, interrupted), Usage: sumUsage(e.Usage)}, nil
}

// interrupts reports an interrupted run's interrupts, and how many. An
// interrupt without an id could never be answered: the event is invalid.
// One whose id came before is skipped. One that names a tool call the
// gateway does not hold (not a call of the run, or one with its result) is
// reported without it, since the agent still waits for its answer.
func (r *reply) interrupts(list []wire.Interrupt) (int, error) {
	seen := map[string]bool{}
	for _, in := range list {
		switch {
		case in.ID == "":
			return 0, fmt.Errorf("%w: %s: an interrupt without an id", errBadEvent, wire.TypeRunFinished)
		case seen[in.ID]:
			r.log.Warn("agui: an interrupt's id came twice, the second skipped", "interrupt_id", in.ID)
			continue
		}
		seen[in.ID] = true
		callID := in.ToolCallID
		if callID != "" && !r.holds(callID) {
			r.log.Warn("agui: an interrupt names a tool call that is not waiting in this run; reported without it",
				"interrupt_id", in.ID, "tool_call_id", callID)
			callID = ""
		}
		if err := r.out.Interrupt(responder.Interrupt{ID: in.ID, Reason: in.Reason,
			Message: r.red.String(in.Message), ToolCallID: callID}); err != nil {
			return 0, wrapStream(err)
		}
	}
	return len(seen), nil
}

// holds reports whether an interrupt may hold the call id: a call of this
// run, or of an earlier step, that has no result.
func (r *reply) holds(id string) bool {
	_, started := r.calls[id]
	return (started && !r.answered[id]) || r.earlier[id]
}

// finishReason maps RUN_FINISHED's outcome. A success that leaves tool calls
// pending for the client is FinishToolCalls, as a model API reports a turn
// that waits for tools; so is an interrupt, which waits for a person. An
// interrupt outcome with no interrupts asks nothing, and the reply ends as
// it stands.
func (r *reply) finishReason(o *wire.Outcome, interrupted int) responder.FinishReason {
	switch {
	case o == nil:
		return responder.FinishStop
	case o.Type == wire.OutcomeCancelled:
		return responder.FinishCancelled
	case o.Type == wire.OutcomeInterrupt && interrupted > 0:
		return responder.FinishToolCalls
	case o.Type == wire.OutcomeInterrupt:
		r.log.Warn("agui: the run finished with an interrupt outcome that lists no interrupt; the reply ends as it is")
		return responder.FinishStop
	case o.Type == wire.OutcomeSuccess && len(o.PendingToolCallIDs) > 0:
		return responder.FinishToolCalls
	default:
		return responder.FinishStop
	}
}

// sumUsage adds up a run's usage entries, one per model call or model. The
// model is the one the entries name, or the distinct names joined by ","
// when the run used several. No entries means no usage known.
func sumUsage(entries []wire.TokenUsage) *responder.Usage {
	if len(entries) == 0 {
		return nil
	}
	u := &responder.Usage{}
	var models []string
	for _, e := range entries {
		u.InputTokens += e.InputTokens
		u.OutputTokens += e.OutputTokens
		if e.Model != "" && !slices.Contains(models, e.Model) {
			models = append(models, e.Model)
		}
	}
	u.Model = strings.Join(models, ",")
	return u
}

// runError is the run error a RUN_ERROR becomes: see runErrorOf.
func (r *reply) runError(data []byte) error {
	var e wire.RunError
	if err := json.Unmarshal(data, &e); err != nil {
		return fmt.Errorf("%w: %s: %w", errBadEvent, wire.TypeRunError, err)
	}
	return runErrorOf(e, r.red)
}
