package agent

import (
	"context"
	"errors"
	"fmt"
	"time"

	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/agentgate/agentgate/internal/engine"
)

// A Reply follows the answer to one user message: the events of the run
// that writes it (run_started, text deltas, tool call events), then the
// persisted reply, an assistant message or a run error, and nothing else.
// The frontend doors (AG-UI, the AI SDK) stream one reply per request, so
// they use it where the WebSocket and Subscribe follow the whole agent.
//
// A Reply that starts while the run is being written first gets the run so
// far, as a Follower does (run_started, one text_delta with the text so
// far, the tool call events); a Reply whose answer was written already gets
// just the persisted reply. Either way the events it delivers, with the
// reply at the end, describe the whole answer.
//
// Like a Follower, a Reply is used by one goroutine and owns none: the
// caller selects on Ready with its other work and calls Pump.
type Reply struct {
	f *Follower
	// message is the user message answered; duplicate is true if it was
	// sent before (a retry).
	message   *agentv1.AgentEvent
	duplicate bool
	// runID is the run seen answering the message, once its run_started
	// was delivered: the run's other events are passed on, others dropped.
	runID string
	// answeredBefore is true if the message had its reply before the
	// Reply subscribed: the replay must hold it.
	answeredBefore bool
	// fresh is true for a new message whose Reply subscribed before it was
	// appended: every event of its run arrives live, none compacted.
	fresh bool
	done  bool
}

// errReplyDone stops a Follower's delivery once the reply was passed on.
var errReplyDone = errors.New("reply delivered")

// How a followed reply can end without its answer, besides the errors of
// any stream: the Err of the *Error that Start, Pump or Check returns, so
// that a door can name the ending to its client (codes history_reset and
// agent_deleted).
var (
	// ErrHistoryReset: the log under the Reply is gone (the store lost
	// it) or was created anew, so the message it follows is gone too.
	ErrHistoryReset = errors.New("history_reset")
	// ErrAgentDeleted: the agent was deleted.
	ErrAgentDeleted = errors.New("agent_deleted")
)

// Ask appends a user message, as Enqueue does, and follows its reply. If
// clientMessageID repeats an earlier message, nothing is appended and the
// Reply follows that message's reply, whether it is written already or
// still being written. The caller must Close the Reply.
//
// Ask subscribes before it appends, so that the reply to a new message is
// delivered event by event, as it is written.
func (s *Service) Ask(ctx context.Context, agentID, text, clientMessageID string) (*Reply, error) {
	if err := s.validateSend(agentID, text, clientMessageID); err != nil {
		return nil, err
	}
	f, err := s.Follow(ctx, agentID, FollowOptions{})
	if err != nil {
		return nil, err
	}
	stored, dup, err := s.Enqueue(ctx, agentID, text, clientMessageID)
	if err != nil {
		f.Close()
		return nil, err
	}
	f.rejoin = true
	r := &Reply{f: f, message: stored, duplicate: dup, fresh: !dup}
	if dup {
		if err := r.checkAnswered(ctx, s, agentID); err != nil {
			f.Close()
			return nil, err
		}
	}
	seq := stored.GetSeq()
	f.after = &seq
	return r, nil
}

// ActiveRun follows the reply being written to the agent from its start,
// or returns nil if no reply is being written now. The caller must Close
// the Reply.
func (s *Service) ActiveRun(ctx context.Context, agentID string) (*Reply, error) {
	if err := ValidateID(agentID); err != nil {
		return nil, err
	}
	evs, err := s.eng.Run(ctx, agentID)
	if err != nil {
		return nil, s.engineError(ctx, "read the active run", err)
	}
	if len(evs) == 0 || evs[0].GetRunStarted() == nil {
		return nil, nil
	}
	// The run may end before the Reply subscribes: the replay then holds
	// its reply, and the Reply delivers that.
	msg := &agentv1.AgentEvent{Seq: evs[0].GetRunStarted().GetReplyToSeq()}
	return s.followReply(ctx, agentID, msg, false)
}

// followReply follows the reply to the user message msg (of which only the
// seq is needed), which may be written already.
func (s *Service) followReply(ctx context.Context, agentID string, msg *agentv1.AgentEvent, dup bool) (*Reply, error) {
	r := &Reply{message: msg, duplicate: dup}
	if err := r.checkAnswered(ctx, s, agentID); err != nil {
		return nil, err
	}
	after := msg.GetSeq()
	f, err := s.Follow(ctx, agentID, FollowOptions{After: &after})
	if err != nil {
		return nil, err
	}
	f.rejoin = true
	r.f = f
	return r, nil
}

// checkAnswered records whether the message had its answer already. The
// replay must then hold it, unless the history no longer does: this tells
// a trimmed reply from one still to come.
func (r *Reply) checkAnswered(ctx context.Context, s *Service, agentID string) error {
	bounds, err := s.eng.Read(ctx, agentID, 0, 0)
	if err != nil {
		return s.engineError(ctx, "read history", err)
	}
	r.answeredBefore = bounds.Answered >= r.message.GetSeq()
	return nil
}

// Message is the user message answered, as persisted. For a Reply from
// ActiveRun only its seq is set.
func (r *Reply) Message() *agentv1.AgentEvent { return r.message }

// Duplicate reports whether the message was sent before, so that nothing
// was appended.
func (r *Reply) Duplicate() bool { return r.duplicate }

// Start delivers what is known already: the reply if it was written, else
// the run so far if it is being written. done is true once the reply was
// delivered; then the Reply has nothing more to deliver.
func (r *Reply) Start(ctx context.Context, emit func(*agentv1.AgentEvent) error) (done bool, err error) {
	if r.fresh {
		// Subscribed before the message was appended: everything after
		// it arrives live, in order, the run's events before its reply.
		r.f.startAfter(r.message)
	} else {
		err = r.f.Replay(ctx, r.filter(emit))
	}
	if done, err = r.finish(err); done || err != nil {
		return done, err
	}
	if r.answeredBefore {
		// Answered before the subscription, yet not in the replay: the
		// history no longer holds the reply.
		return false, &Error{Kind: KindNotFound, Msg: fmt.Sprintf(
			"the reply to message %d is no longer in the agent's history", r.message.GetSeq())}
	}
	return false, nil
}

// Ready has a value, or is closed, when Pump has something to do.
func (r *Reply) Ready() <-chan struct{} { return r.f.Ready() }

// Pump delivers the events of the reply that wait, as Follower.Pump does;
// done is true once the reply was delivered.
func (r *Reply) Pump(ctx context.Context, emit func(*agentv1.AgentEvent) error) (done bool, err error) {
	if r.done {
		return true, nil
	}
	return r.finish(r.f.Pump(ctx, r.filter(emit)))
}

// CheckEvery is how often a caller should Check while the Reply is
// silent: the service's PollInterval.
func (r *Reply) CheckEvery() time.Duration { return r.f.s.cfg.PollInterval }

// Check looks at the log itself, for what the live feed cannot tell: that
// the log is gone (the store lost it, and nothing was appended since to
// announce a new one) or that the reply was appended while its live copy
// was lost. It delivers the reply if it finds it, and ends the Reply with
// ErrHistoryReset if the log is not the one followed. A store that cannot
// be reached is not an ending: the subscription reports outages itself.
func (r *Reply) Check(ctx context.Context, emit func(*agentv1.AgentEvent) error) (done bool, err error) {
	if r.done {
		return true, nil
	}
	done, err = r.finish(r.f.catchUp(ctx, 0, r.filter(emit)))
	if KindOf(err) == KindUnavailable && ctx.Err() == nil {
		return false, nil
	}
	return done, err
}

// Close ends the Reply's subscription. It cancels nothing: the reply is
// written whether or not anyone follows it.
func (r *Reply) Close() { r.f.Close() }

func (r *Reply) finish(err error) (bool, error) {
	switch {
	case errors.Is(err, errReplyDone):
		return true, nil
	case errors.Is(err, engine.ErrDeleted):
		return false, &Error{Kind: KindNotFound, Msg: "the agent was deleted while its reply was being written", Err: ErrAgentDeleted}
	}
	return r.done, err
}

// filter passes on the events of the reply to r's message and drops the
// rest of the agent's events.
func (r *Reply) filter(emit func(*agentv1.AgentEvent) error) func(*agentv1.AgentEvent) error {
	seq := r.message.GetSeq()
	return func(ev *agentv1.AgentEvent) error {
		if r.done {
			return errReplyDone
		}
		switch k := ev.GetKind().(type) {
		case *agentv1.AgentEvent_RunStarted:
			if k.RunStarted.GetReplyToSeq() != seq {
				return nil
			}
			// A second run for the message is a retry after its writer
			// died: it starts the answer over.
			r.runID = k.RunStarted.GetRunId()
			return emit(ev)
		case *agentv1.AgentEvent_Message:
			if k.Message.GetRole() != agentv1.Role_ROLE_ASSISTANT || k.Message.GetReplyToSeq() != seq {
				return nil
			}
			return r.end(ev, emit)
		case *agentv1.AgentEvent_RunError:
			if k.RunError.GetReplyToSeq() != seq {
				return nil
			}
			return r.end(ev, emit)
		case *agentv1.AgentEvent_HistoryReset:
			return &Error{Kind: KindAborted, Err: ErrHistoryReset,
				Msg: "the agent's history was lost while its reply was being written (the store lost it, or the agent began anew); send the message again"}
		}
		if ev.GetSeq() == 0 && r.runID != "" && engine.RunID(ev) == r.runID {
			return emit(ev)
		}
		return nil
	}
}

func (r *Reply) end(ev *agentv1.AgentEvent, emit func(*agentv1.AgentEvent) error) error {
	r.done = true
	if err := emit(ev); err != nil {
		return err
	}
	return errReplyDone
}
