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
	// learned is a context budget in bytes that the model server took
	// after it refused a longer one (see budget); owned by the goroutine.
	learned int

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
		seq, seen, err := r.next(ctx, w)
		if err == nil && seq == 0 {
			w, err = s.leases.Settle(ctx, lease, seen, s.claim)
		} else if err == nil {
			w, err = r.runFor(ctx, seq, w)
		}
		if err != nil {
			r.failed(lease, seq, err)
			return
		}
		r.renewed()
	}
}

// failed logs why answering stopped and gives the lease up: the message
// (or the run to resume) stays due, and the sweep answers it later (here
// or on another replica). A lease lost was logged when it was found lost
// (renew), or is another holder's now.
func (r *replier) failed(lease engine.Lease, seq uint64, err error) {
	s := r.s
	switch {
	case r.cancels.wasDeleted():
		s.logger.Info("reply stopped: the agent was deleted", "agent", r.agentID, "seq", seq)
	case errors.Is(err, engine.ErrLeaseLost):
		s.logger.Warn("reply lease lost", "agent", r.agentID, "seq", seq)
		return
	case errors.Is(err, context.Canceled):
		// Shutting down, or the lease was lost.
	default:
		s.logger.Warn("reply not written", "agent", r.agentID, "seq", seq, "err", err)
	}
	s.giveUp(lease)
}

// next is what w's holder answers next: the run to resume (Page.Resume),
// which comes before any later message, or the oldest user message of w
// that waits for an answer, read on from the log where w's page ends
// before the log does. With neither, seq is 0 and seen the newest seq
// looked at, for Settle.
func (r *replier) next(ctx context.Context, w *engine.Work) (seq, seen uint64, err error) {
	p := w.Page
	if p.Resume != 0 {
		return p.Resume, 0, nil
	}
	if msg := waiting(p); msg != nil {
		return msg.GetSeq(), 0, nil
	}
	seen = p.LastSeq
	n := len(p.Events)
	if n == 0 || p.Events[n-1].GetSeq() >= p.LastSeq {
		return 0, seen, nil
	}
	for p, err := range pages(ctx, r.s.log, r.agentID, p.Events[n-1].GetSeq(), scanPage) {
		if err != nil {
			return 0, 0, err
		}
		if msg := waiting(p); msg != nil {
			return msg.GetSeq(), 0, nil
		}
		seen = max(seen, p.LastSeq)
	}
	return 0, seen, nil
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

// appendRunEnd appends the events that end or pause a run and takes the
// next work from it, retrying through short store outages while the lease
// lasts. Events that an earlier try appended after all (its answer was
// lost on the way) are there already: the lease is settled instead.
func (r *replier) appendRunEnd(ctx context.Context, evs []*agentv1.AgentEvent, opts engine.RunAppend) (*engine.Work, error) {
	s := r.s
	retry := backoff.New(20*time.Millisecond, time.Second)
	for {
		res, err := s.log.AppendRun(ctx, r.agentID, evs, opts)
		switch {
		case err == nil:
			if res.Closed {
				s.logger.Info("a newer message waits: the run closed instead of pausing", "agent", r.agentID, "seq", opts.Answers)
			}
			return res.Work, nil
		case errors.Is(err, engine.ErrAlreadyAnswered):
			return s.leases.Settle(ctx, opts.Lease, opts.Answers, s.claim)
		case errors.Is(err, engine.ErrUnavailable):
			if !backoff.Sleep(ctx, retry.Next()) {
				return nil, ctx.Err()
			}
		default:
			return nil, err
		}
	}
}

// budget is the most bytes of context a step sends: MaxContextBytes,
// CONTEXT_TOKENS at four bytes a token, and less if the model server
// found that too long before (learn).
func (r *replier) budget(s *Service) int {
	b := s.cfg.MaxContextBytes
	if t := s.cfg.ContextTokens; t > 0 {
		b = min(b, t*bytesPerToken)
	}
	if r.learned > 0 {
		b = min(b, r.learned)
	}
	return b
}

// learn remembers a context budget that the model server may take, for
// the agent's later steps while the replier lives.
func (r *replier) learn(bytes int) { r.learned = bytes }

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
