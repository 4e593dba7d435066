package agent

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/agentgate/agentgate/internal/backoff"
	"github.com/agentgate/agentgate/internal/engine"
	"github.com/agentgate/agentgate/responder"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// A worker answers an agent's pending user messages in this process. There is
// at most one per agent per process; across replicas, the engine's reply
// lease lets one of them write at a time, and the engine's Answered cursor
// makes "pending" mean the same thing everywhere. A message whose replica
// crashed mid-reply is pending again once the lease expires, and the next
// worker answers it.
type worker struct {
	agentID string
	again   bool // guarded by Service.mu: more work arrived while answering
}

// kick makes sure a worker looks at the agent's pending messages soon.
func (s *Service) kick(agentID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	if w := s.workers[agentID]; w != nil {
		w.again = true
		return
	}
	w := &worker{agentID: agentID}
	s.workers[agentID] = w
	s.wg.Add(1)
	go s.runWorker(w)
}

func (s *Service) runWorker(w *worker) {
	defer s.wg.Done()
	for {
		s.answerPending(w.agentID)
		s.mu.Lock()
		if !w.again || s.ctx.Err() != nil {
			delete(s.workers, w.agentID)
			s.mu.Unlock()
			return
		}
		w.again = false
		s.mu.Unlock()
	}
}

// answerPending returns once the agent has no pending message, answering them itself
// whenever it can take the reply lease. While another holder has the lease,
// it checks again every tenth of the lease time.
func (s *Service) answerPending(agentID string) {
	ctx := s.ctx
	retry := backoff.New(20*time.Millisecond, time.Second)
	leaseWait := min(max(s.cfg.LeaseTTL/10, 10*time.Millisecond), time.Second)
	for ctx.Err() == nil {
		pending, err := s.pending(ctx, agentID, 0)
		if err != nil {
			s.log.Warn("reading pending messages failed", "agent", agentID, "err", err)
			backoff.Sleep(ctx, retry.Next())
			continue
		}
		if len(pending) == 0 {
			return
		}
		lease, ok, err := s.eng.AcquireLease(ctx, agentID, s.cfg.LeaseTTL)
		switch {
		case err != nil:
			s.log.Warn("taking the reply lease failed", "agent", agentID, "err", err)
			backoff.Sleep(ctx, retry.Next())
		case !ok:
			backoff.Sleep(ctx, leaseWait)
		default:
			retry.Reset()
			done := s.answerWithLease(agentID, lease, pending)
			// A fresh context: the lease is worth releasing even on shutdown,
			// so that another replica need not wait for it to expire.
			rctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_ = s.eng.ReleaseLease(rctx, lease)
			cancel()
			if done {
				return
			}
		}
	}
}

// answerWithLease answers pending messages in seq order, starting with
// pending, while it holds the lease, renewing it in the background. It
// reports done when it saw no message left waiting.
func (s *Service) answerWithLease(agentID string, lease engine.Lease, pending []*agentv1.AgentEvent) (done bool) {
	ctx, cancel := context.WithCancel(s.ctx)
	renewed := make(chan struct{})
	go func() {
		defer close(renewed)
		s.renew(ctx, cancel, lease)
	}()
	defer func() {
		cancel()
		<-renewed
	}()
	// CancelRun reaches this worker, on whichever replica, through a
	// subscription that only hears cancels. DeleteAgent ends it: then the
	// run stops at once, as a cancelled one does, rather than write on for
	// a log that is gone until the lease renewal notices.
	cw := &cancels{}
	var deleted atomic.Bool
	sub, err := s.eng.SubscribeCancels(ctx, agentID, cw.cancel)
	if err != nil {
		s.log.Warn("cancel subscription failed; answering anyway", "agent", agentID, "err", err)
	} else {
		defer sub.Close()
		sub.Notify(func() {
			if errors.Is(sub.Err(), engine.ErrDeleted) {
				deleted.Store(true)
				cancel()
			}
		})
	}
	var answered uint64 // the newest seq this loop answered: where to look next
	for ctx.Err() == nil {
		var replySeq uint64
		for _, ev := range pending {
			var err error
			if replySeq, err = s.answer(ctx, agentID, ev, lease, cw); err != nil {
				switch {
				case deleted.Load():
					s.log.Info("reply stopped: the agent was deleted", "agent", agentID, "seq", ev.GetSeq())
				case !errors.Is(err, context.Canceled):
					s.log.Warn("reply not written", "agent", agentID, "seq", ev.GetSeq(), "err", err)
				}
				return false
			}
			answered = ev.GetSeq()
		}
		if replySeq == answered+1 {
			// The reply came right after the message it answers: nothing
			// arrived in between, so nothing waits. A message appended
			// after the reply kicks a worker of its own.
			return true
		}
		var err error
		if pending, err = s.pending(ctx, agentID, answered); err != nil {
			return false
		}
		if len(pending) == 0 {
			return true
		}
	}
	return false
}

// renew keeps the lease alive every third of its time; if it is lost, the
// answering stops (cancel), so that two replicas never reply at once.
func (s *Service) renew(ctx context.Context, cancel context.CancelFunc, lease engine.Lease) {
	t := time.NewTicker(s.cfg.LeaseTTL / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			err := s.eng.RenewLease(ctx, lease, s.cfg.LeaseTTL)
			if errors.Is(err, engine.ErrLeaseLost) {
				s.log.Warn("reply lease lost", "agent", lease.AgentID)
				cancel()
				return
			}
		}
	}
}

// pending returns the user messages that wait for an answer, oldest first
// (at most one page of them). Replies to earlier messages may stand between
// the last answered message and the next pending one (a burst of messages is
// followed by a burst of replies), so it reads on until it finds one.
//
// hint, if not 0, is a seq known to be answered: reading from there saves
// the round trip that asks the engine where the answered messages end.
func (s *Service) pending(ctx context.Context, agentID string, hint uint64) ([]*agentv1.AgentEvent, error) {
	after, last := hint, ^uint64(0)
	if hint == 0 {
		bounds, err := s.eng.Read(ctx, agentID, 0, 0)
		if err != nil {
			return nil, err
		}
		after, last = bounds.Answered, bounds.LastSeq
	}
	for after < last {
		p, err := s.eng.Read(ctx, agentID, after, 256)
		if err != nil {
			return nil, err
		}
		if len(p.Events) == 0 {
			return nil, nil
		}
		last = p.LastSeq
		var out []*agentv1.AgentEvent
		for _, ev := range p.Events {
			if ev.GetSeq() > p.Answered && ev.GetMessage().GetRole() == agentv1.Role_ROLE_USER {
				out = append(out, ev)
			}
		}
		if len(out) > 0 {
			return out, nil
		}
		after = p.Events[len(p.Events)-1].GetSeq()
	}
	return nil, nil
}

// answer runs the responder on one user message, streams its events and
// appends the reply (or a run error, so the message is never left without an
// answer). A run stopped by CancelRun is a reply too: what was written by
// then, with finish reason cancelled; so is one that reached
// MAX_REPLY_BYTES, with finish reason length. It returns the reply's seq,
// or 0 if another worker answered first.
func (s *Service) answer(ctx context.Context, agentID string, ev *agentv1.AgentEvent, lease engine.Lease, cw *cancels) (uint64, error) {
	seq, msg := ev.GetSeq(), ev.GetMessage()
	runID, replyID := newID(), newID()
	history, err := s.conversation(ctx, agentID, seq, s.contextMessages())
	if err != nil {
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		s.log.Warn("reading the conversation failed; answering without it", "agent", agentID, "seq", seq, "err", err)
	}
	message := messageOf(msg)
	// The new message counts against the budget too; it is never cut itself
	// (MaxTextBytes bounds it).
	history = withinBudget(history, max(s.cfg.MaxContextBytes-messageBytes(message), 0))
	rctx, cancel := context.WithTimeout(ctx, s.cfg.ReplyTimeout)
	cw.begin(runID, cancel)
	out := newRunStream(rctx, s, lease, runID, replyID)
	out.stop = cancel
	out.epoch = ev.GetEpoch()
	_ = out.started(seq)
	res, err := s.cfg.Responder.Respond(rctx, responder.Request{
		AgentID: agentID, RunID: runID, Seq: seq, Message: message, History: history,
	}, out)
	cancelled := cw.end()
	timedOut := errors.Is(rctx.Err(), context.DeadlineExceeded)
	cancel()
	if ctx.Err() != nil {
		// Shutting down, or the lease is lost: another worker answers.
		return 0, ctx.Err()
	}

	reply := &agentv1.AgentEvent{CreateTime: timestamppb.New(s.cfg.Now())}
	switch {
	case out.full || errors.Is(err, responder.ErrReplyTooLarge):
		// The reply reached MAX_REPLY_BYTES: not a failure, and nothing to
		// retry. What fitted is the reply, whatever the responder made of
		// the stream's refusal.
		res.FinishReason = responder.FinishLength
		reply.Kind = &agentv1.AgentEvent_Message{Message: out.reply(seq, res)}
	case cancelled:
		res.FinishReason = responder.FinishCancelled
		reply.Kind = &agentv1.AgentEvent_Message{Message: out.reply(seq, res)}
	case err != nil:
		reply.Kind = &agentv1.AgentEvent_RunError{RunError: s.runError(agentID, runID, seq, err, timedOut)}
	default:
		reply.Kind = &agentv1.AgentEvent_Message{Message: out.reply(seq, res)}
	}
	stored, err := s.appendReply(ctx, agentID, reply, seq, lease)
	if release := s.cfg.ReleaseMemory; release != nil && out.written() >= largeRun {
		release()
	}
	return stored, err
}

// contextMessages is how much of the conversation the responder gets.
func (s *Service) contextMessages() int {
	n := s.cfg.ContextMessages
	if l, ok := s.cfg.Responder.(responder.HistoryLimiter); ok {
		n = min(n, l.HistoryLimit())
	}
	return n
}

// runError is the answer to a message the responder failed to reply to: its
// own code and message if it gave them (a *responder.Error), else a generic
// one, since its error may reveal what clients must not see. Either way
// the secrets are taken out (Config.Redact).
func (s *Service) runError(agentID, runID string, seq uint64, err error, timedOut bool) *agentv1.RunError {
	s.log.Warn("responder failed", "agent", agentID, "seq", seq, "err", err)
	re := &agentv1.RunError{RunId: runID, ReplyToSeq: seq,
		Code: "responder_failed", Message: "the agent failed to reply; send the message again"}
	if e, ok := responder.AsError(err); ok && e.Code != "" {
		re.Code, re.Message = e.Code, e.Message
	} else if timedOut {
		re.Code, re.Message = "reply_timeout", "the agent took too long to reply; send the message again"
	}
	re.Code, re.Message = s.cfg.Redact(re.Code), s.cfg.Redact(re.Message)
	return re
}

// appendReply appends the reply, retrying through short store outages while
// the lease lasts. It returns the reply's seq, or 0 if the message had an
// answer already.
func (s *Service) appendReply(ctx context.Context, agentID string, reply *agentv1.AgentEvent, seq uint64, lease engine.Lease) (uint64, error) {
	retry := backoff.New(20*time.Millisecond, time.Second)
	for {
		stored, err := s.eng.AppendReply(ctx, agentID, reply, seq, lease)
		switch {
		case err == nil:
			return stored.GetSeq(), nil
		case errors.Is(err, engine.ErrAlreadyAnswered):
			return 0, nil
		case errors.Is(err, engine.ErrUnavailable):
			if !backoff.Sleep(ctx, retry.Next()) {
				return 0, ctx.Err()
			}
		default:
			return 0, err
		}
	}
}
