package agent

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/agentgate/agentgate/internal/engine"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// This file is the answers a paused run waits for: a client's result of
// its tool's call (SubmitToolResult) and a person's decision on an
// approval request (DecideToolCall). Each is checked and appended by the
// store in one step (engine.Runs.AnswerCall), so that it is taken once
// whoever sends it and on whichever replica; one that is not awaited is
// read against the log, to say why (duplicate, answered otherwise, closed,
// never asked, unknown). The last answer resumes the run: the store marks
// it, and whoever takes the lease goes on with it (see loop.go).

// Answer is what SubmitToolResult and DecideToolCall did.
type Answer struct {
	// Event is the persisted tool_call_result or tool_call_decision: the
	// original one for a duplicate.
	Event *agentv1.AgentEvent
	// Duplicate is set when the same answer was given before, and nothing
	// was appended.
	Duplicate bool
	// Resumed is set when this was the last answer the run waited for.
	Resumed bool
	// With Wait and Resumed: the run's persisted events after Event (a
	// denial's result first), to its next pause or end, and that step (or
	// its run error).
	Events []*agentv1.AgentEvent
	Reply  *agentv1.AgentEvent
	// Follower, with Follow, follows the run after the answer, to its next
	// pause or its end, as Ask's follows a reply: the caller drives it
	// (Start, Pump, Check) and must Close it. A door streams the run on
	// with it. It is set when this answer resumed the run, and for a
	// duplicate whose run went on after the original answer (a retried
	// request then streams what the first one did); it is nil while the
	// run still waits for other answers.
	Follower *Follower
	// Appended are the events the answer appended, in order: the result or
	// the decision, then, for a denial, the call's result (for a
	// duplicate, the original ones). A door shows a denial's result from
	// here: a follower starts after it.
	Appended []*agentv1.AgentEvent
}

// ToolResult is a client's result of its tool's call.
type ToolResult struct {
	AgentID    string
	ToolCallID string
	// Output is what the tool returned, or, with IsError, why it failed.
	Output  string
	IsError bool
	// Wait follows the run after the result, to its next pause or end.
	Wait bool
	// Follow returns a Follower of the run after the result instead (see
	// Answer.Follower).
	Follow bool
}

// Decision is a person's decision on an approval request.
type Decision struct {
	AgentID string
	// ToolCallID is the call decided; InterruptID, instead, an upstream
	// interrupt that holds no call.
	ToolCallID  string
	InterruptID string
	Approve     bool
	Reason      string
	// ApprovalID, if set, must be the request's.
	ApprovalID string
	// DecidedBy names who decided (the caller's identity), for the log.
	DecidedBy string
	// Wait follows the run after the decision, to its next pause or end.
	Wait bool
	// Follow returns a Follower of the run after the decision instead.
	Follow bool
}

// MaxReasonBytes bounds a decision's reason.
const MaxReasonBytes = 1024

// deniedResult is what the model is told of a call a person denied.
func deniedResult(reason string) string {
	if reason == "" {
		return "denied: the user did not approve this call"
	}
	return "denied: the user did not approve this call: " + reason
}

// SubmitToolResult appends a client's result of its tool's call, if the
// call waits for it. See agent.v1.AgentService.SubmitToolResult.
func (s *Service) SubmitToolResult(ctx context.Context, in ToolResult) (Answer, error) {
	if err := ValidateID(in.AgentID); err != nil {
		return Answer{}, err
	}
	switch {
	case in.ToolCallID == "":
		return Answer{}, invalidf("tool_call_id is required")
	case len(in.ToolCallID) > maxToolCallID:
		return Answer{}, invalidf("tool_call_id is %d bytes long; the limit is %d", len(in.ToolCallID), maxToolCallID)
	case len(in.Output) > s.cfg.ToolResultMaxBytes:
		return Answer{}, invalidf("the result is %d bytes long; the limit is %d (TOOL_RESULT_MAX_BYTES): send less, or a summary", len(in.Output), s.cfg.ToolResultMaxBytes)
	case !utf8.ValidString(in.Output):
		return Answer{}, invalidf("the result is not valid UTF-8")
	}
	state := agentv1.ToolCallState_TOOL_CALL_STATE_DONE
	if in.IsError {
		state = agentv1.ToolCallState_TOOL_CALL_STATE_ERROR
	}
	return s.answer(ctx, answering{
		agentID: in.AgentID, key: engine.CallKey(in.ToolCallID), kind: engine.PendingResult, wait: in.Wait, follow: in.Follow,
		events: func(pc engine.PendingCall) []*agentv1.AgentEvent {
			return []*agentv1.AgentEvent{s.resultEvent(pc, in.Output, in.IsError, state)}
		},
		same: func(ev *agentv1.AgentEvent) bool {
			r := ev.GetToolCallResult()
			return r.GetContent() == in.Output && r.GetIsError() == in.IsError
		},
		what: fmt.Sprintf("tool call %q", in.ToolCallID),
	})
}

// DecideToolCall appends a person's decision on a call (or an upstream
// interrupt) that waits for one. See agent.v1.AgentService.DecideToolCall.
func (s *Service) DecideToolCall(ctx context.Context, in Decision) (Answer, error) {
	if err := ValidateID(in.AgentID); err != nil {
		return Answer{}, err
	}
	switch {
	case in.ToolCallID == "" && in.InterruptID == "":
		return Answer{}, invalidf("tool_call_id is required (or interrupt_id, for an interrupt that holds no call)")
	case in.ToolCallID != "" && in.InterruptID != "":
		return Answer{}, invalidf("set tool_call_id or interrupt_id, not both")
	case len(in.ToolCallID) > maxToolCallID || len(in.InterruptID) > maxToolCallID:
		return Answer{}, invalidf("the id is longer than %d bytes", maxToolCallID)
	case len(in.ApprovalID) > MaxIDLen:
		return Answer{}, invalidf("approval_id is %d characters long; the limit is %d", len(in.ApprovalID), MaxIDLen)
	case len(in.Reason) > MaxReasonBytes:
		return Answer{}, invalidf("reason is %d bytes long; the limit is %d", len(in.Reason), MaxReasonBytes)
	case !utf8.ValidString(in.Reason):
		return Answer{}, invalidf("reason is not valid UTF-8")
	}
	what := fmt.Sprintf("tool call %q", in.ToolCallID)
	if in.ToolCallID == "" {
		what = fmt.Sprintf("interrupt %q", in.InterruptID)
	}
	return s.answer(ctx, answering{
		agentID: in.AgentID, key: decisionKey(in.ToolCallID, in.InterruptID), kind: engine.PendingDecision,
		approvalID: in.ApprovalID, wait: in.Wait, follow: in.Follow, what: what,
		events: func(pc engine.PendingCall) []*agentv1.AgentEvent {
			evs := []*agentv1.AgentEvent{{CreateTime: timestamppb.New(s.cfg.Now()), Kind: &agentv1.AgentEvent_ToolCallDecision{ToolCallDecision: &agentv1.ToolCallDecision{
				RunId: pc.RunID, MessageId: pc.MessageID, ToolCallId: pc.ToolCallID, InterruptId: pc.InterruptID,
				ApprovalId: pc.ApprovalID, Approved: in.Approve, Reason: in.Reason, DecidedBy: in.DecidedBy,
			}}}}
			if !in.Approve && pc.InterruptID == "" {
				// A server tool's call denied: the model is told so, as
				// the call's result. (An upstream answers its own.)
				evs = append(evs, s.resultEvent(pc, deniedResult(in.Reason), true, agentv1.ToolCallState_TOOL_CALL_STATE_DENIED))
			}
			return evs
		},
		same: func(ev *agentv1.AgentEvent) bool {
			d := ev.GetToolCallDecision()
			return d.GetApproved() == in.Approve && d.GetReason() == in.Reason
		},
	})
}

// resultEvent is the persisted result of the pending call pc.
func (s *Service) resultEvent(pc engine.PendingCall, content string, isError bool, state agentv1.ToolCallState) *agentv1.AgentEvent {
	return &agentv1.AgentEvent{CreateTime: timestamppb.New(s.cfg.Now()), Kind: &agentv1.AgentEvent_ToolCallResult{ToolCallResult: &agentv1.ToolCallResult{
		RunId: pc.RunID, MessageId: pc.MessageID, ToolCallId: pc.ToolCallID, Content: content, IsError: isError, State: state,
	}}}
}

// answering is one answer on its way: what it answers and how to build it.
type answering struct {
	agentID    string
	key        string
	kind       engine.PendingKind
	approvalID string
	wait       bool
	follow     bool
	// events builds the answer's events for what is pending; same tells
	// whether a persisted answer (the first of those events) is this one.
	events func(engine.PendingCall) []*agentv1.AgentEvent
	same   func(*agentv1.AgentEvent) bool
	// what names it in errors.
	what string
}

// answer appends a's answer if it is awaited; otherwise it says why not,
// from the log. An answer to a call of the step being written (a client
// may answer as soon as the call's end streamed) waits for the step.
func (s *Service) answer(ctx context.Context, a answering) (Answer, error) {
	var f *Follower
	if a.wait || a.follow {
		// Subscribed before the answer, so that what the run does after
		// it arrives live.
		opts := engine.SubscribeOptions{Internal: true, SkipDeltas: true}
		if a.follow {
			opts = engine.SubscribeOptions{}
		}
		var err error
		if f, err = s.follow(ctx, a.agentID, opts); err != nil {
			return Answer{}, err
		}
		defer func() {
			if f != nil {
				f.Close()
			}
		}()
	}
	for try := 0; ; try++ {
		pc, ok, err := s.runs.PendingCall(ctx, a.agentID, a.key)
		if err != nil {
			return Answer{}, s.engineError(ctx, "read a pending call", err)
		}
		if ok {
			res, err := s.runs.AnswerCall(ctx, a.agentID, engine.Answer{Key: a.key, Kind: a.kind, ApprovalID: a.approvalID, Events: a.events(pc), Claim: s.claim})
			switch {
			case err == nil:
				out, err := s.answered(ctx, a, pc, res, f)
				if out.Follower != nil {
					f = nil // the caller's now
				}
				return out, err
			case !errors.Is(err, engine.ErrNotPending):
				return Answer{}, s.refusal(ctx, a, err)
			}
			// Answered or closed meanwhile: the log says how.
		}
		out, found, err := s.notPending(ctx, a)
		if !errors.Is(err, errStepUnderWay) || try > 0 {
			if err == nil && out.Duplicate && a.follow && f != nil {
				if out, err = s.followDuplicate(ctx, a, out, found, f); out.Follower != nil {
					f = nil // the caller's now
				}
			}
			return out, err
		}
		if err := s.awaitStep(ctx, a); err != nil {
			return Answer{}, err
		}
	}
}

// answered completes an answer the store took: the lease taken with a
// resumed run goes to the replier here, and, with wait, the run is
// followed to its next pause or end.
func (s *Service) answered(ctx context.Context, a answering, pc engine.PendingCall, res engine.Answered, f *Follower) (Answer, error) {
	out := Answer{Event: res.Events[0], Resumed: res.Resumed, Appended: res.Events}
	if res.Work != nil {
		s.hand(a.agentID, res.Work)
	}
	if f == nil || !res.Resumed {
		return out, nil
	}
	last := res.Events[len(res.Events)-1]
	r := newOneReply(&agentv1.AgentEvent{Seq: pc.ReplyTo}, false, true)
	r.runID, r.from = pc.RunID, last
	f.one = r
	if a.follow {
		out.Follower = f
		return out, nil
	}
	var follow SendResult
	if err := s.await(ctx, f, follow.collect); err != nil {
		return Answer{}, err
	}
	// The answer's own events after the first (a denial's result) are
	// the run's too: the caller sees every event after the answer.
	out.Events = append(res.Events[1:len(res.Events):len(res.Events)], follow.Events...)
	out.Reply = follow.Reply
	return out, nil
}

// followDuplicate gives out, a duplicate answer, a Follower of the run
// after the original answer: f, subscribed before the log was read, then
// replays what followed the answer in the log, and goes on live. Nothing
// is followed while the run still waits at the step the answer answered
// (other answers are missing): the caller says so itself (Paused).
func (s *Service) followDuplicate(ctx context.Context, a answering, out Answer, found *foundCall, f *Follower) (Answer, error) {
	if found == nil || found.runID == "" || found.replyTo == 0 {
		return out, nil
	}
	after := out.Appended[len(out.Appended)-1].GetSeq()
	p, err := s.Paused(ctx, a.agentID)
	if err != nil {
		return Answer{}, err
	}
	if p != nil && p.RunID == found.runID && p.StepSeq < after {
		return out, nil
	}
	r := newOneReply(&agentv1.AgentEvent{Seq: found.replyTo}, false, false)
	r.runID = found.runID
	f.one, f.after = r, &after
	out.Follower = f
	return out, nil
}

// refusal words what AnswerCall refused.
func (s *Service) refusal(ctx context.Context, a answering, err error) error {
	switch {
	case errors.Is(err, engine.ErrAwaitsDecision):
		return &Error{Kind: KindFailedPrecondition, Msg: a.what + " waits for a person's decision (DecideToolCall), not a result"}
	case errors.Is(err, engine.ErrAwaitsResult):
		return &Error{Kind: KindFailedPrecondition, Msg: a.what + " asked no approval: it waits for its client's result (SubmitToolResult); a decision on it is refused"}
	case errors.Is(err, engine.ErrApprovalMismatch):
		return &Error{Kind: KindFailedPrecondition, Msg: "approval_id is not the one the server issued for " + a.what + "; the decision is refused"}
	}
	return s.engineError(ctx, "answer a pending call", err)
}

// errStepUnderWay: the call is in the step being written, not yet in the
// log.
var errStepUnderWay = errors.New("the call's step is being written")

// notPending says why nothing is pending under a.key, from the log: the
// same answer given before is a duplicate (the original returned); any
// other reason is an error naming it.
func (s *Service) notPending(ctx context.Context, a answering) (Answer, *foundCall, error) {
	found, err := s.findCall(ctx, a)
	if err != nil {
		return Answer{}, nil, err
	}
	out, err := found.why(a)
	return out, &found, err
}

// why is notPending's answer, from what the log says of the call.
func (found *foundCall) why(a answering) (Answer, error) {
	switch {
	case found.answer != nil && a.same(found.answer):
		appended := []*agentv1.AgentEvent{found.answer}
		if found.denial != nil {
			appended = append(appended, found.denial)
		}
		return Answer{Event: found.answer, Duplicate: true, Appended: appended}, nil
	case found.answer != nil && found.closed:
		return Answer{}, &Error{Kind: KindFailedPrecondition, Msg: fmt.Sprintf("%s was closed without its answer: %s", a.what, found.answer.GetToolCallResult().GetContent())}
	case found.answer != nil:
		return Answer{}, &Error{Kind: KindAlreadyExists, Msg: a.what + " was answered already, otherwise; an answer is final"}
	case found.call != nil && a.kind == engine.PendingDecision && found.call.GetState() != agentv1.ToolCallState_TOOL_CALL_STATE_AWAITING_APPROVAL:
		return Answer{}, &Error{Kind: KindFailedPrecondition, Msg: a.what + " asked no approval; a decision on it is refused"}
	case found.call != nil && found.call.GetKind() == agentv1.ToolCallKind_TOOL_CALL_KIND_SERVER && a.kind == engine.PendingResult:
		return Answer{}, &Error{Kind: KindFailedPrecondition, Msg: a.what + " is a server tool's: the gateway runs it, and a client's result is refused"}
	case found.call != nil && found.ended:
		return Answer{}, &Error{Kind: KindFailedPrecondition, Msg: a.what + "'s run has ended; it waits for nothing"}
	case found.call != nil || found.interrupt:
		return Answer{}, &Error{Kind: KindFailedPrecondition, Msg: a.what + " waits for no " + string(a.kind)}
	case found.underWay:
		return Answer{}, errStepUnderWay
	}
	return Answer{}, &Error{Kind: KindNotFound, Msg: fmt.Sprintf("agent %q has no %s: it is another agent's, was never made, or is no longer in the history", a.agentID, a.what)}
}

// foundCall is what the log says of an answer's call.
type foundCall struct {
	// call is the call as its step has it; interrupt is set for an
	// interrupt of a step.
	call      *agentv1.ToolCall
	interrupt bool
	// answer is the first answer of the kind asked persisted after the
	// step (a result, or a decision), closed if it closed the call.
	answer *agentv1.AgentEvent
	closed bool
	// ended is set when the call's run ended.
	ended bool
	// underWay is set when the call is in the step being written.
	underWay bool
	// runID and replyTo are the call's run and the user message it
	// answers; denial is the result a denial appended after answer, if
	// answer is one.
	runID   string
	replyTo uint64
	denial  *agentv1.AgentEvent
}

// findCall reads the log for the call or interrupt a answers, and, if it
// is not there, the active run's progress.
func (s *Service) findCall(ctx context.Context, a answering) (foundCall, error) {
	var f foundCall
	var runID string
	var replyTo uint64
	for p, err := range pages(ctx, s.log, a.agentID, 0, scanPage) {
		if err != nil {
			return foundCall{}, s.engineError(ctx, "read history", err)
		}
		for _, ev := range p.Events {
			f.see(ev, a, &runID, &replyTo)
		}
	}
	if f.call != nil || f.interrupt {
		f.runID, f.replyTo = runID, replyTo
		return f, nil
	}
	run, err := s.runs.Run(ctx, a.agentID)
	if err != nil {
		return foundCall{}, s.engineError(ctx, "read the active run", err)
	}
	for _, ev := range run {
		switch {
		case ev.GetToolCallStart().GetToolCallId() != "" && engine.CallKey(ev.GetToolCallStart().GetToolCallId()) == a.key,
			ev.GetToolApprovalRequest() != nil && decisionKey(ev.GetToolApprovalRequest().GetToolCallId(), ev.GetToolApprovalRequest().GetInterruptId()) == a.key:
			f.underWay = true
		}
	}
	return f, nil
}

// see takes in one event of the log for findCall.
func (f *foundCall) see(ev *agentv1.AgentEvent, a answering, runID *string, replyTo *uint64) {
	switch k := ev.GetKind().(type) {
	case *agentv1.AgentEvent_Message:
		m := k.Message
		if m.GetRole() != agentv1.Role_ROLE_ASSISTANT {
			return
		}
		if m.GetRunId() == *runID && m.GetReplyToSeq() == *replyTo && m.GetFinishReason() != agentv1.FinishReason_FINISH_REASON_TOOL_CALLS {
			f.ended = true
		}
		for _, c := range m.GetToolCalls() {
			if engine.CallKey(c.GetToolCallId()) == a.key {
				f.call, f.interrupt, f.answer, f.closed, f.ended = c, false, nil, false, false
				*runID, *replyTo = m.GetRunId(), m.GetReplyToSeq()
				if m.GetFinishReason() != agentv1.FinishReason_FINISH_REASON_TOOL_CALLS {
					f.ended = true
				}
			}
		}
		for _, i := range m.GetInterrupts() {
			if decisionKey(i.GetToolCallId(), i.GetInterruptId()) == a.key && f.call == nil {
				f.interrupt = true
				*runID, *replyTo = m.GetRunId(), m.GetReplyToSeq()
			}
		}
	case *agentv1.AgentEvent_RunError:
		if k.RunError.GetRunId() == *runID && *runID != "" {
			f.ended = true
		}
	case *agentv1.AgentEvent_ToolCallResult:
		r := k.ToolCallResult
		if r.GetRunId() != *runID || engine.CallKey(r.GetToolCallId()) != a.key {
			return
		}
		switch {
		case f.answer != nil && !f.closed:
			if a.kind == engine.PendingDecision && r.GetState() == agentv1.ToolCallState_TOOL_CALL_STATE_DENIED && f.denial == nil {
				f.denial = ev // the result the decision, a denial, appended
			}
		case r.GetState() == agentv1.ToolCallState_TOOL_CALL_STATE_CLOSED:
			f.answer, f.closed = ev, true
		case a.kind == engine.PendingResult && r.GetState() != agentv1.ToolCallState_TOOL_CALL_STATE_DENIED:
			f.answer = ev
		}
	case *agentv1.AgentEvent_ToolCallDecision:
		d := k.ToolCallDecision
		if a.kind == engine.PendingDecision && d.GetRunId() == *runID && decisionKey(d.GetToolCallId(), d.GetInterruptId()) == a.key && f.answer == nil {
			f.answer = ev
		}
	}
}

// awaitStep waits until the step being written that holds a's call is
// appended (or its run ends another way), within the time a step may
// take.
func (s *Service) awaitStep(ctx context.Context, a answering) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.ReplyTimeout+s.cfg.ToolTimeout+time.Second)
	defer cancel()
	f, err := s.follow(ctx, a.agentID, engine.SubscribeOptions{Internal: true, SkipDeltas: true})
	if err != nil {
		return err
	}
	defer f.Close()
	bounds, err := s.log.Read(ctx, a.agentID, 0, 0)
	if err != nil {
		return s.engineError(ctx, "read history", err)
	}
	f.after = &bounds.LastSeq
	appended := errors.New("appended")
	watch := func(ev *agentv1.AgentEvent) error {
		if ev.GetSeq() != 0 && Stops(ev) || ev.GetMessage().GetRole() == agentv1.Role_ROLE_ASSISTANT {
			return appended
		}
		return nil
	}
	// The step may have been appended between the reads: the replay of
	// what follows bounds.LastSeq, or the progress gone, says so.
	if run, err := s.runs.Run(ctx, a.agentID); err == nil && len(run) == 0 {
		return nil
	}
	err = s.await(ctx, f, watch)
	switch {
	case errors.Is(err, appended), err == nil:
		return nil
	case ctx.Err() != nil && KindOf(err) == KindDeadlineExceeded:
		return &Error{Kind: KindDeadlineExceeded, Msg: "the step that made " + a.what + " was not written in time; send the answer again"}
	}
	return err
}
