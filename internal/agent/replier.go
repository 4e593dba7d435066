package agent

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"time"

	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/agentgate/agentgate/internal/backoff"
	"github.com/agentgate/agentgate/internal/engine"
	"github.com/agentgate/agentgate/responder"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// A replier answers one agent's waiting user messages in this process,
// under the agent's reply lease, so that one replica at a time writes its
// replies; the engine's Answered cursor makes "waiting" mean the same
// thing on every replica.
//
// It is handed work, never looks for it on its own: an append that found
// the lease free took it with the work (engine.AppendOptions.Claim), and
// each reply hands the next message back with the lease kept, or releases
// the lease when none waits (AppendReply's next), so that an idle agent
// holds no lease and its messages on another replica need not wait. A
// replica that crashed mid-reply leaves its agents' messages waiting with
// nobody answering once its lease expires: the service's sweep finds them
// (engine.Leases.Due) on every replica and asks the replier here to look,
// and the first replica to take the lease answers.
//
// A replier lives while its agent is busy, and replierLinger after: its
// goroutine, its lease-renewal timer and its cancel listener are made once
// for back-to-back messages, not per message.
type replier struct {
	s       *Service
	agentID string
	wake    chan struct{} // a token when work was handed over or asked for

	// Guarded by Service.mu:
	work *engine.Work // handed over with its lease, to answer next
	look bool         // asked to look for work nobody answers (the sweep)
	busy bool         // answering now

	// cancels routes CancelRun to the run being written.
	cancels cancels
	// listener hears the cancels, while it lasts; owned by the goroutine.
	listener engine.Subscription

	// mu guards the lease held now, for its renewal. The cancel
	// listener's Notify takes it with the engine's lock held, which so
	// comes first; mu is never held over a call of the engine.
	mu     sync.Mutex
	lease  engine.Lease
	held   bool
	stop   context.CancelFunc // stops the answering: the lease is lost, or the agent deleted
	renewT *time.Timer
}

// replierLinger is how long a replier stays after its last message, so
// that a client sending one message after another finds it.
const replierLinger = 10 * time.Second

// hand gives the agent's replier here work to answer (whose lease the
// caller took), or, with none, asks it to look for work nobody answers.
func (s *Service) hand(agentID string, work *engine.Work) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		if work != nil {
			s.giveUp(work.Lease)
		}
		return
	}
	r := s.repliers[agentID]
	if r == nil {
		r = &replier{s: s, agentID: agentID, wake: make(chan struct{}, 1)}
		s.repliers[agentID] = r
		s.wg.Add(1)
		go r.loop()
	}
	switch {
	case work != nil:
		// An older work's lease was lost, or the new one would not have
		// been taken.
		r.work = work
	case r.busy:
		s.mu.Unlock()
		return
	default:
		r.look = true
	}
	s.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// giveUp releases a lease without answering: what waits stays due, for
// the sweep of any replica. The release is worth making even on shutdown,
// so that another replica need not wait for the lease to expire.
func (s *Service) giveUp(lease engine.Lease) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = s.leases.ReleaseLease(ctx, lease)
}

// loop is the replier's goroutine: it answers what it is handed until it
// was idle for replierLinger or the service closes.
func (r *replier) loop() {
	s := r.s
	defer s.wg.Done()
	defer r.quiet()
	idle := time.NewTimer(replierLinger)
	defer idle.Stop()
	for {
		select {
		case <-r.wake:
		case <-idle.C:
			if r.retire() {
				return
			}
			idle.Reset(replierLinger)
			continue
		case <-s.ctx.Done():
			if w := r.take(false); w != nil {
				s.giveUp(w.Lease)
			}
			return
		}
		if w := r.take(true); w != nil {
			r.answerAll(w)
		}
		s.mu.Lock()
		r.busy = false
		s.mu.Unlock()
		idle.Reset(replierLinger)
	}
}

// take returns the work handed over, or, if asked to look, the work of
// the lease if it can take it. busy marks the replier as answering.
func (r *replier) take(busy bool) *engine.Work {
	s := r.s
	s.mu.Lock()
	w, look := r.work, r.look
	r.work, r.look = nil, false
	r.busy = busy
	s.mu.Unlock()
	if w != nil || !look || !busy {
		return w
	}
	lease, ok, err := s.leases.AcquireLease(s.ctx, r.agentID, s.cfg.LeaseTTL)
	if err != nil || !ok {
		return nil
	}
	w, err = s.leases.Settle(s.ctx, lease, 0, s.claim)
	if err != nil {
		s.logger.Warn("reading the waiting messages failed", "agent", r.agentID, "err", err)
		s.giveUp(lease)
		return nil
	}
	return w
}

// retire ends an idle replier, unless work arrived meanwhile.
func (r *replier) retire() bool {
	s := r.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.work != nil || r.look {
		return false
	}
	delete(s.repliers, r.agentID)
	return true
}

// quiet closes what the replier held while it lived.
func (r *replier) quiet() {
	if r.listener != nil {
		r.listener.Close()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.renewT != nil {
		r.renewT.Stop()
	}
}

// answerAll answers the waiting messages in seq order, one work after
// another, while it holds the lease: each reply hands back the next work,
// or releases the lease when none waits. It renews the lease in the
// background while a reply takes long.
func (r *replier) answerAll(w *engine.Work) {
	s := r.s
	ctx, stop := context.WithCancel(s.ctx)
	defer stop()
	r.hold(w.Lease, stop)
	defer r.unhold()
	r.listen()
	lease := w.Lease
	for w != nil {
		msg, seen, err := r.next(ctx, w)
		if err == nil && msg == nil {
			w, err = s.leases.Settle(ctx, lease, seen, s.claim)
		} else if err == nil {
			w, err = r.answer(ctx, msg, w)
		}
		if err != nil {
			r.failed(lease, msg, err)
			return
		}
		r.renewed()
	}
}

// failed logs why answering stopped and gives the lease up: the message
// stays due, and the sweep answers it later (here or on another replica).
// A lease lost was logged when it was found lost (renew), or is another
// holder's now.
func (r *replier) failed(lease engine.Lease, msg *agentv1.AgentEvent, err error) {
	s := r.s
	switch {
	case r.cancels.wasDeleted():
		s.logger.Info("reply stopped: the agent was deleted", "agent", r.agentID, "seq", msg.GetSeq())
	case errors.Is(err, engine.ErrLeaseLost):
		s.logger.Warn("reply lease lost", "agent", r.agentID, "seq", msg.GetSeq())
		return
	case errors.Is(err, context.Canceled):
		// Shutting down, or the lease was lost.
	default:
		s.logger.Warn("reply not written", "agent", r.agentID, "seq", msg.GetSeq(), "err", err)
	}
	s.giveUp(lease)
}

// next is the oldest user message of w that waits for an answer, read on
// from the log where w's page ends before the log does. With none, seen
// is the newest seq looked at, for Settle.
func (r *replier) next(ctx context.Context, w *engine.Work) (msg *agentv1.AgentEvent, seen uint64, err error) {
	p := w.Page
	if msg := waiting(p); msg != nil {
		return msg, 0, nil
	}
	seen = p.LastSeq
	n := len(p.Events)
	if n == 0 || p.Events[n-1].GetSeq() >= p.LastSeq {
		return nil, seen, nil
	}
	for p, err := range pages(ctx, r.s.log, r.agentID, p.Events[n-1].GetSeq(), scanPage) {
		if err != nil {
			return nil, 0, err
		}
		if msg := waiting(p); msg != nil {
			return msg, 0, nil
		}
		seen = max(seen, p.LastSeq)
	}
	return nil, seen, nil
}

// waiting is the oldest user message of p that waits for an answer.
func waiting(p engine.Page) *agentv1.AgentEvent {
	for _, ev := range p.Events {
		if ev.GetSeq() > p.Answered && ev.GetMessage().GetRole() == agentv1.Role_ROLE_USER {
			return ev
		}
	}
	return nil
}

// hold records the lease held for the answering that stop ends, and arms
// its renewal.
func (r *replier) hold(lease engine.Lease, stop context.CancelFunc) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lease, r.held, r.stop = lease, true, stop
	if r.renewT == nil {
		r.renewT = time.AfterFunc(r.renewEvery(), r.renew)
		return
	}
	r.renewT.Reset(r.renewEvery())
}

// renewed restarts the renewal's count: the engine gave the lease its
// full time again with the work it handed back.
func (r *replier) renewed() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.held {
		r.renewT.Reset(r.renewEvery())
	}
}

func (r *replier) unhold() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.held, r.stop = false, nil
	r.renewT.Stop()
}

// renewEvery is how often a held lease is renewed: every third of its
// time, so that one renewal may fail and the next still keep it.
func (r *replier) renewEvery() time.Duration { return r.s.cfg.LeaseTTL / 3 }

// renew keeps the lease alive while a reply takes long; the timer runs
// it. If the lease is lost, the answering stops, so that two replicas
// never reply at once.
func (r *replier) renew() {
	s := r.s
	r.mu.Lock()
	lease, held := r.lease, r.held
	r.mu.Unlock()
	if !held {
		return
	}
	ctx, cancel := context.WithTimeout(s.ctx, r.renewEvery())
	err := s.leases.RenewLease(ctx, lease, s.cfg.LeaseTTL)
	cancel()
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.held || r.lease != lease {
		return // released meanwhile
	}
	if errors.Is(err, engine.ErrLeaseLost) {
		s.logger.Warn("reply lease lost", "agent", r.agentID)
		r.stop()
		return
	}
	r.renewT.Reset(r.renewEvery())
}

// listen makes sure the replier hears CancelRun for its agent (and the
// agent's deletion, which stops the answering at once, as a cancel does,
// rather than let it write on for a log that is gone): one listener for
// the replier's life, made again only if the store ended it.
func (r *replier) listen() {
	if r.listener != nil {
		select {
		case <-r.listener.Ready():
			r.listener.Close() // ended: deleted, or the store broke it
		default:
			return
		}
	}
	r.listener = nil
	r.cancels.reset()
	sub, err := r.s.broker.SubscribeCancels(r.s.ctx, r.agentID, r.cancels.cancel)
	if err != nil {
		r.s.logger.Warn("cancel subscription failed; answering anyway", "agent", r.agentID, "err", err)
		return
	}
	r.listener = sub
	sub.Notify(func() {
		if errors.Is(sub.Err(), engine.ErrDeleted) {
			r.cancels.delete()
			r.mu.Lock()
			if r.held {
				r.stop()
			}
			r.mu.Unlock()
		}
	})
}

// answer runs the responder on one user message, streams its events and
// appends the reply (or a run error, so the message is never left without an
// answer). A run stopped by CancelRun is a reply too: what was written by
// then, with finish reason cancelled; so is one that reached
// MAX_REPLY_BYTES, with finish reason length. It returns the next work,
// nil once the lease is released.
func (r *replier) answer(ctx context.Context, ev *agentv1.AgentEvent, w *engine.Work) (*engine.Work, error) {
	s, agentID, lease := r.s, r.agentID, w.Lease
	seq, msg := ev.GetSeq(), ev.GetMessage()
	runID, replyID := newID(), newID()
	history, err := s.conversation(ctx, agentID, seq, s.contextMessages, w.Page)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		s.logger.Warn("reading the conversation failed; answering without it", "agent", agentID, "seq", seq, "err", err)
	}
	message := messageOf(msg)
	// The new message counts against the budget too; it is never cut itself
	// (MaxTextBytes bounds it).
	history = withinBudget(history, max(s.cfg.MaxContextBytes-messageBytes(message), 0))
	rctx, cancel := context.WithTimeout(ctx, s.cfg.ReplyTimeout)
	r.cancels.begin(runID, cancel)
	out := newRunStream(rctx, s, lease, runID, replyID)
	out.stop = cancel
	out.epoch = ev.GetEpoch()
	_ = out.started(seq)
	res, err := s.cfg.Responder.Respond(rctx, responder.Request{
		AgentID: agentID, RunID: runID, Seq: seq, Message: message, History: history,
	}, out)
	cancelled := r.cancels.end()
	timedOut := errors.Is(rctx.Err(), context.DeadlineExceeded)
	cancel()
	if ctx.Err() != nil {
		// Shutting down, the lease is lost, or the agent deleted.
		return nil, ctx.Err()
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
	next, err := r.appendReply(ctx, reply, seq, lease)
	if release := s.cfg.ReleaseMemory; release != nil && out.written() >= largeRun {
		release()
	}
	return next, err
}

// appendReply appends the reply and takes the next work from it,
// retrying through short store outages while the lease lasts. A reply
// that an earlier try appended after all (its answer was lost on the way)
// is there already: the lease is settled instead.
func (r *replier) appendReply(ctx context.Context, reply *agentv1.AgentEvent, seq uint64, lease engine.Lease) (*engine.Work, error) {
	s := r.s
	retry := backoff.New(20*time.Millisecond, time.Second)
	for {
		res, err := s.log.AppendReply(ctx, r.agentID, reply, seq, lease, s.claim)
		switch {
		case err == nil:
			return res.Work, nil
		case errors.Is(err, engine.ErrAlreadyAnswered):
			return s.leases.Settle(ctx, lease, seq, s.claim)
		case errors.Is(err, engine.ErrUnavailable):
			if !backoff.Sleep(ctx, retry.Next()) {
				return nil, ctx.Err()
			}
		default:
			return nil, err
		}
	}
}

// runError is the answer to a message the responder failed to reply to: its
// own code and message if it gave them (a *responder.Error), else a generic
// one, since its error may reveal what clients must not see. Either way
// the secrets are taken out (Config.Redact).
func (s *Service) runError(agentID, runID string, seq uint64, err error, timedOut bool) *agentv1.RunError {
	s.logger.Warn("responder failed", "agent", agentID, "seq", seq, "err", err)
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

// sweep looks for agents whose messages wait with nobody answering them
// (engine.Leases.Due) about every LeaseTTL, and asks their repliers here
// to answer: a replica that crashed mid-reply leaves its agents so once
// its lease expires. Every replica sweeps, at times spread by jitter; the
// first to take an agent's lease answers it. With the memory engine
// nothing crosses processes, and the sweep finds only the work a replier
// gave up on a failure; it runs all the same.
func (s *Service) sweep() {
	defer s.wg.Done()
	t := time.NewTimer(sweepEvery(s.cfg.LeaseTTL))
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
		ids, err := s.leases.Due(s.ctx, sweepBatch)
		if err != nil && s.ctx.Err() == nil {
			s.logger.Debug("looking for waiting messages failed", "err", err)
		}
		for _, id := range ids {
			s.hand(id, nil)
		}
		t.Reset(sweepEvery(s.cfg.LeaseTTL))
	}
}

// sweepBatch is how many agents one sweep asks for; the rest wait for the
// next one.
const sweepBatch = 256

// sweepEvery is ttl with a quarter of jitter either way.
func sweepEvery(ttl time.Duration) time.Duration {
	return ttl*3/4 + rand.N(ttl/2+1)
}
