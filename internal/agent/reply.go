package agent

import (
	"context"
	"errors"
	"fmt"
	"time"

	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/agentgate/agentgate/internal/engine"
	"github.com/agentgate/agentgate/tool"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// This file is the Follower of one reply: the answer to one user message,
// which SendMessage waits for and the frontend doors stream (they answer
// one message per request, where the WebSocket and Subscribe follow the
// whole agent). It delivers the events of the run that writes the answer
// (run_started, step_started, text deltas, tool call events, approval
// requests), the run's persisted steps and the results and decisions
// persisted between them, until the run ends or pauses (Stops): that
// step, or a run error, is the reply, and nothing else is delivered.
// Started while the run is being written, it first delivers the run so
// far; started after the answer was written, the steps and the reply.
// Either way what it delivers describes the whole answer. A follower of a
// resumed run (followRun) delivers what the run does after an answer, to
// its next pause or its end.

// How a followed reply can end without its answer, besides the errors of
// any stream: the Err of the *Error that Start, Pump or Check returns, so
// that a door can name the ending to its client (codes history_reset and
// agent_deleted).
var (
	// ErrHistoryReset: the log under the reply is gone (the store lost
	// it) or was created anew, so the message it follows is gone too.
	ErrHistoryReset = errors.New("history_reset")
	// ErrAgentDeleted: the agent was deleted.
	ErrAgentDeleted = errors.New("agent_deleted")
)

var (
	// errReplyDone stops a turn of delivery once the reply was passed on.
	errReplyDone = errors.New("reply delivered")
	// errReplyTrimmed: the message was answered, but the history no longer
	// holds the reply.
	errReplyTrimmed = errors.New("reply trimmed")
)

// oneReply is what a Follower of one reply knows of it.
type oneReply struct {
	// message is the user message answered; duplicate is true if it was
	// sent before (a retry).
	message   *agentv1.AgentEvent
	duplicate bool
	// runID is the run seen answering the message, once its run_started
	// or a step of it was delivered: the run's other events are passed
	// on, others dropped.
	runID string
	// answeredBefore is true if the message had its reply before the
	// follower subscribed: the replay must hold it.
	answeredBefore bool
	// fresh is true for a new message whose follower subscribed before it
	// was appended: every event of its run arrives live, none compacted.
	fresh bool
	// minStep is the first step that may end what is followed: the steps
	// before it paused the run earlier (ActiveRun of a run resumed).
	minStep uint32
	// from, if set, is the persisted event after which a fresh follower
	// starts, instead of the message: the answer that resumed the run.
	from *agentv1.AgentEvent
	done bool
	// emit is the caller's, for the turn of delivery under way (see
	// Follower.bind); filter is pass, made once.
	emit   func(*agentv1.AgentEvent) error
	filter func(*agentv1.AgentEvent) error
}

func newOneReply(message *agentv1.AgentEvent, duplicate, fresh bool) *oneReply {
	r := &oneReply{message: message, duplicate: duplicate, fresh: fresh}
	r.filter = r.pass
	return r
}

// Message is the user message a follower of one reply follows the answer
// to, as persisted (for ActiveRun's, only its seq is set); nil for a
// follower of the whole agent.
func (f *Follower) Message() *agentv1.AgentEvent {
	if f.one == nil {
		return nil
	}
	return f.one.message
}

// Duplicate reports whether the message was sent before, so that nothing
// was appended.
func (f *Follower) Duplicate() bool { return f.one != nil && f.one.duplicate }

// Ask appends a user message, as Enqueue does, and follows its reply. If
// clientMessageID repeats an earlier message, nothing is appended and the
// Follower follows that message's reply, whether it is written already or
// still being written. The caller must Close the Follower.
//
// Ask subscribes before it appends, so that the reply to a new message is
// delivered event by event, as it is written.
//
// tools are the client tools the message lends (see ValidateTools).
func (s *Service) Ask(ctx context.Context, agentID, text, clientMessageID string, tools ...tool.Def) (*Follower, error) {
	return s.ask(ctx, agentID, text, clientMessageID, tools, engine.SubscribeOptions{})
}

// ask is Ask with the subscription's options.
func (s *Service) ask(ctx context.Context, agentID, text, clientMessageID string, tools []tool.Def, opts engine.SubscribeOptions) (*Follower, error) {
	ev, err := s.validateSend(ctx, agentID, text, clientMessageID, tools)
	if err != nil {
		return nil, err
	}
	return s.askEvent(ctx, agentID, ev, clientMessageID, opts)
}

// askEvent is ask of a message validated already.
func (s *Service) askEvent(ctx context.Context, agentID string, ev *agentv1.AgentEvent, clientMessageID string, opts engine.SubscribeOptions) (*Follower, error) {
	f, err := s.follow(ctx, agentID, opts)
	if err != nil {
		return nil, err
	}
	res, err := s.enqueue(ctx, agentID, ev, clientMessageID)
	if err != nil {
		f.Close()
		return nil, err
	}
	r := newOneReply(res.Event, res.Duplicate, !res.Duplicate)
	if res.Duplicate {
		if err := r.checkAnswered(ctx, s, agentID); err != nil {
			f.Close()
			return nil, err
		}
	}
	f.one = r
	seq := res.Event.GetSeq()
	f.after = &seq
	return f, nil
}

// ActiveRun follows the reply being written to the agent from its start,
// or returns nil if no reply is being written now. The caller must Close
// the Follower.
func (s *Service) ActiveRun(ctx context.Context, agentID string) (*Follower, error) {
	if err := ValidateID(agentID); err != nil {
		return nil, err
	}
	evs, err := s.runs.Run(ctx, agentID)
	if err != nil {
		return nil, s.engineError(ctx, "read the active run", err)
	}
	if len(evs) == 0 || !engine.BeginsStep(evs[0]) {
		return nil, nil
	}
	// The run may end before the follower subscribes: the replay then
	// holds its reply, and the follower delivers that.
	r := newOneReply(&agentv1.AgentEvent{Seq: runReplyTo(evs[0])}, false, false)
	r.minStep = evs[0].GetStepStarted().GetStep()
	if err := r.checkAnswered(ctx, s, agentID); err != nil {
		return nil, err
	}
	f, err := s.follow(ctx, agentID, engine.SubscribeOptions{})
	if err != nil {
		return nil, err
	}
	f.one = r
	after := r.message.GetSeq()
	f.after = &after
	return f, nil
}

// SendResult is the outcome of Send.
type SendResult struct {
	// Message is the persisted user message.
	Message *agentv1.AgentEvent
	// Reply is the persisted answer: the step that ended or paused the
	// run, or a run error. It is nil only for a duplicate whose reply was
	// trimmed from the history.
	Reply *agentv1.AgentEvent
	// Events are the run's persisted events up to Reply, which is the last
	// of them: its steps, and the results and decisions persisted between
	// them.
	Events []*agentv1.AgentEvent
	// Duplicate is true if clientMessageID matched an earlier send.
	Duplicate bool
}

// collect keeps the persisted events a follower of one reply delivers, and
// the reply.
func (res *SendResult) collect(ev *agentv1.AgentEvent) error {
	if ev.GetSeq() == 0 {
		return nil
	}
	res.Events = append(res.Events, ev)
	if Stops(ev) {
		res.Reply = ev
	}
	return nil
}

// Send appends a user message to the agent's log and waits for the reply,
// the step that ends or pauses the run, or a run error. If clientMessageID
// repeats an earlier one, nothing is appended and the original message and
// reply are returned. tools are the client tools the message lends.
//
// When no reply of the agent is being written here, Send offers to write
// the reply itself, on its caller's goroutine (see replier.answerOwn): if
// its append takes the agent's lease, the append begins the run too
// (engine.AppendOptions.Begin), and Send returns the reply from what the
// run appended: no hand-off to the replier's goroutine, no subscription
// to wait on, and no store call of its own for the run's start.
// Otherwise it follows the reply to its message, on a subscription of its
// own that skips the deltas, until the run ends or pauses. Either way a
// caller that goes away cancels nothing: the reply is written, and Send
// returns then at once if it follows the reply, once the reply is
// written if it writes it.
func (s *Service) Send(ctx context.Context, agentID, text, clientMessageID string, tools ...tool.Def) (SendResult, error) {
	ev, err := s.validateSend(ctx, agentID, text, clientMessageID, tools)
	if err != nil {
		return SendResult{}, err
	}
	r := s.takeReplier(agentID)
	if r == nil {
		// A reply is being written here, and the message waits behind
		// it: subscribed before the append, the follower has its reply
		// live.
		f, err := s.askEvent(ctx, agentID, ev, clientMessageID, sendSubscription)
		if err != nil {
			return SendResult{}, err
		}
		return s.awaitSend(ctx, f)
	}
	res, out, err := s.sendOwn(ctx, r, ev, clientMessageID)
	switch {
	case err != nil:
		return SendResult{}, err
	case out.Reply != nil:
		if ctx.Err() != nil {
			return SendResult{}, ctxError(ctx)
		}
		return out, nil
	}
	// Another writes the reply, or it was not written here after all:
	// the log, then the live events, have it.
	f, err := s.follow(ctx, agentID, sendSubscription)
	if err != nil {
		return SendResult{}, err
	}
	one := newOneReply(res.Event, res.Duplicate, false)
	if err := one.checkAnswered(ctx, s, agentID); err != nil {
		f.Close()
		return SendResult{}, err
	}
	f.one = one
	seq := res.Event.GetSeq()
	f.after = &seq
	return s.awaitSend(ctx, f)
}

// sendSubscription is the subscription Send follows a reply on: its own,
// not a client's, and without the deltas, which the reply holds.
var sendSubscription = engine.SubscribeOptions{Internal: true, SkipDeltas: true}

// sendOwn appends ev for Send, which holds r, the agent's replier here
// (takeReplier), and, if the append takes the lease, writes the reply on
// the caller's goroutine: out is it, with no Reply if it must be
// followed instead. The replier listens for cancels before the append,
// which begins the run a CancelRun may then find.
//
// The run is written here, on the caller's goroutine, whoever the caller
// is: no hop to another goroutine, no hand-off to the replier's, no
// subscription to wait on. A caller that goes away cancels nothing, and
// returns once the run is written; a door that must not wait that long
// detaches the call (the socket's cancel frame and close do: see
// internal/bridge).
func (s *Service) sendOwn(ctx context.Context, r *replier, ev *agentv1.AgentEvent, clientMessageID string) (engine.Appended, SendResult, error) {
	defer s.wg.Done()
	r.listen()
	begin := &agentv1.AgentEvent{CreateTime: timestamppb.New(s.cfg.Now()), RunSeq: 1,
		Kind: &agentv1.AgentEvent_RunStarted{RunStarted: &agentv1.RunStarted{RunId: newID(), MessageId: newID()}}}
	r.cancels.expect(begin.GetRunStarted().GetRunId())
	res, err := s.log.AppendUser(ctx, r.agentID, ev,
		engine.AppendOptions{IdempotencyKey: clientMessageID, Claim: s.claim, Begin: begin})
	if err != nil || res.Work == nil {
		r.done(nil)
		if err != nil {
			return res, SendResult{}, s.engineError(ctx, "append message", err)
		}
		return res, SendResult{}, nil
	}
	kept := r.answerOwn(res.Work, res.Event.GetSeq())
	for i, ev := range kept {
		if Stops(ev) {
			return res, SendResult{Message: res.Event, Reply: ev, Events: kept[: i+1 : i+1]}, nil
		}
	}
	return res, SendResult{}, nil
}

// awaitSend waits for the reply f, a follower of one reply, follows, and
// closes f.
func (s *Service) awaitSend(ctx context.Context, f *Follower) (SendResult, error) {
	defer f.Close()
	res := SendResult{Message: f.one.message, Duplicate: f.one.duplicate}
	err := s.await(ctx, f, res.collect)
	switch {
	case err == nil:
	case res.Duplicate && errors.Is(err, errReplyTrimmed):
		// A retry of a message whose reply was trimmed: the message alone.
	case errors.Is(err, ErrAgentDeleted), errors.Is(err, ErrHistoryReset):
		return SendResult{}, &Error{Kind: KindAborted, Err: err,
			Msg: "the agent was deleted or its history lost before the message was answered; send it again"}
	default:
		return SendResult{}, err
	}
	return res, nil
}

// await drives f, a follower of one reply, until it is done, looking at
// the log every PollInterval as a backstop for fan-out lost in a store
// outage.
func (s *Service) await(ctx context.Context, f *Follower, emit func(*agentv1.AgentEvent) error) error {
	if err := f.Start(ctx, emit); err != nil || f.Done() {
		return err
	}
	poll := time.NewTicker(f.CheckEvery())
	defer poll.Stop()
	for {
		var err error
		select {
		case <-f.Ready():
			err = f.Pump(ctx, emit)
		case <-poll.C:
			err = f.Check(ctx, emit)
		case <-ctx.Done():
			return ctxError(ctx)
		case <-s.ctx.Done():
			return &Error{Kind: KindUnavailable, Msg: "the server is shutting down; the reply will be in the history"}
		}
		if err != nil || f.Done() {
			return err
		}
	}
}

// checkAnswered records whether the message had its answer already. The
// replay must then hold it, unless the history no longer does: this tells
// a trimmed reply from one still to come.
func (r *oneReply) checkAnswered(ctx context.Context, s *Service, agentID string) error {
	bounds, err := s.log.Read(ctx, agentID, 0, 0)
	if err != nil {
		return s.engineError(ctx, "read history", err)
	}
	r.answeredBefore = bounds.Answered >= r.message.GetSeq()
	return nil
}

// start is Follower.Start for a follower of one reply.
func (r *oneReply) start(ctx context.Context, f *Follower, emit func(*agentv1.AgentEvent) error) error {
	if r.fresh {
		// Subscribed before the message (or the answer that resumed the
		// run) was appended: everything after it arrives live, in order,
		// the run's events before its reply.
		if r.from != nil {
			f.startAfter(r.from)
		} else {
			f.startAfter(r.message)
		}
		return nil
	}
	if err := f.replay(ctx, emit); err != nil || r.done {
		return err
	}
	if r.answeredBefore {
		// Answered before the subscription, yet not in the replay: the
		// history no longer holds the reply.
		return &Error{Kind: KindNotFound, Err: errReplyTrimmed, Msg: fmt.Sprintf(
			"the reply to message %d is no longer in the agent's history", r.message.GetSeq())}
	}
	return nil
}

// lost tells, from the first page of a catch-up, that the message was
// trimmed from the history before it was answered: no answer will come.
// It is nil for a follower of the whole agent.
func (r *oneReply) lost(p engine.Page) error {
	if r == nil || r.done {
		return nil
	}
	if seq := r.message.GetSeq(); p.FirstSeq > seq && p.Answered < seq {
		return &Error{Kind: KindAborted, Err: ErrHistoryReset,
			Msg: "the agent's history was trimmed before the message was answered; send it again"}
	}
	return nil
}

// pass passes on the events of the reply to r's message and drops the
// rest of the agent's events.
func (r *oneReply) pass(ev *agentv1.AgentEvent) error {
	if r.done {
		return errReplyDone
	}
	seq := r.message.GetSeq()
	switch k := ev.GetKind().(type) {
	case *agentv1.AgentEvent_RunStarted:
		if k.RunStarted.GetReplyToSeq() != seq {
			return nil
		}
		// A second run for the message is a retry after its writer
		// died: it starts the answer over.
		r.runID = k.RunStarted.GetRunId()
		return r.emit(ev)
	case *agentv1.AgentEvent_StepStarted:
		if k.StepStarted.GetReplyToSeq() != seq {
			return nil
		}
		r.runID = k.StepStarted.GetRunId()
		return r.emit(ev)
	case *agentv1.AgentEvent_Message:
		if k.Message.GetRole() != agentv1.Role_ROLE_ASSISTANT || k.Message.GetReplyToSeq() != seq {
			return nil
		}
		r.runID = k.Message.GetRunId()
		if !Stops(ev) || k.Message.GetStep() < r.minStep {
			return r.emit(ev) // a step after which the run went on
		}
		return r.end(ev)
	case *agentv1.AgentEvent_RunError:
		if k.RunError.GetReplyToSeq() != seq {
			return nil
		}
		return r.end(ev)
	case *agentv1.AgentEvent_HistoryReset:
		return &Error{Kind: KindAborted, Err: ErrHistoryReset,
			Msg: "the agent's history was lost while its reply was being written (the store lost it, or the agent began anew); send the message again"}
	}
	if r.runID != "" && engine.RunID(ev) == r.runID {
		return r.emit(ev) // an event of the run: ephemeral, or a result or decision persisted
	}
	return nil
}

func (r *oneReply) end(ev *agentv1.AgentEvent) error {
	r.done = true
	if err := r.emit(ev); err != nil {
		return err
	}
	return errReplyDone
}

// ReplyTo returns the seq of the user message that ev answers, or 0 if ev
// is not an answer: a persisted assistant message (a step) or run error
// of the run that answers the message its reply_to_seq names. Whether it
// is the whole answer, Stops says.
func ReplyTo(ev *agentv1.AgentEvent) uint64 {
	if ev.GetSeq() == 0 {
		return 0
	}
	switch k := ev.GetKind().(type) {
	case *agentv1.AgentEvent_Message:
		if k.Message.GetRole() == agentv1.Role_ROLE_ASSISTANT {
			return k.Message.GetReplyToSeq()
		}
	case *agentv1.AgentEvent_RunError:
		return k.RunError.GetReplyToSeq()
	}
	return 0
}
