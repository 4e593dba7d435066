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
// Two kinds of goroutine answer for it, one at a time (busy says whether
// one does): a SendMessage whose append took the lease answers its own
// message on its caller's goroutine (Send, answerOwn), which then has the
// reply in hand without a hand-off or a subscription; everything else
// (the sweep's finds, a run resumed by an answer, the messages queued
// behind a reply, Enqueue and Ask) is answered by the replier's goroutine,
// started when work is handed over (hand).
//
// A replier lives while its agent is busy, and replierLinger after: its
// goroutine, its lease-renewal timer and its cancel listener are made once
// for back-to-back messages, not per message.
type replier struct {
	s       *Service
	agentID string
	wake    chan struct{} // a token when work was handed over or asked for, or the replier retired

	// Guarded by Service.mu:
	work    *engine.Work // handed over with its lease, to answer next
	look    bool         // asked to look for work nobody answers (the sweep)
	busy    bool         // answering now, on its goroutine or a caller's
	running bool         // its goroutine lives
	retired bool         // taken out of Service.repliers: its goroutine ends
	// idle retires the replier once nobody answered for replierLinger;
	// whoever ends an answering arms it again.
	idle *time.Timer

	// cancels routes CancelRun to the run being written.
	cancels cancels
	// listener hears the cancels, while it lasts; learned is a context
	// budget in bytes that the model server took after it refused a
	// longer one (see budget). Both are owned by whoever is answering
	// (busy), and by retire once the replier is out of the map.
	listener engine.Subscription
	learned  int

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

// replierLocked returns the agent's replier here, made if there is none;
// s.mu is held and s is not closed.
func (s *Service) replierLocked(agentID string) *replier {
	r := s.repliers[agentID]
	if r == nil {
		r = &replier{s: s, agentID: agentID, wake: make(chan struct{}, 1)}
		r.idle = time.AfterFunc(replierLinger, r.retire)
		s.repliers[agentID] = r
	}
	return r
}

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
	r := s.replierLocked(agentID)
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
	r.startLocked()
	s.mu.Unlock()
	r.kick()
}

// startLocked starts the replier's goroutine if it is not running; s.mu
// is held.
func (r *replier) startLocked() {
	if !r.running {
		r.running = true
		r.s.wg.Add(1)
		go r.loop()
	}
}

// kick wakes the replier's goroutine.
func (r *replier) kick() {
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

// loop is the replier's goroutine: it answers what it is handed until
// the replier retires or the service closes.
func (r *replier) loop() {
	s := r.s
	defer s.wg.Done()
	for {
		select {
		case <-r.wake:
		case <-s.ctx.Done():
			s.mu.Lock()
			w := r.work
			r.work = nil
			s.mu.Unlock()
			if w != nil {
				s.giveUp(w.Lease)
			}
			return
		}
		w, busy, ok := r.take()
		switch {
		case !ok:
			return
		case !busy:
			continue
		}
		if w != nil {
			r.answerAll(w)
		}
		r.done(nil)
	}
}

// take returns the work handed over, or, if asked to look, the work of
// the lease if it can take it. busy is true if the goroutine now answers
// for the replier (nothing waits, or a caller answers: its done kicks the
// goroutine again); ok is false once the replier retired, which ends the
// goroutine.
func (r *replier) take() (w *engine.Work, busy, ok bool) {
	s := r.s
	s.mu.Lock()
	switch {
	case r.retired:
		r.running = false
		s.mu.Unlock()
		return nil, false, false
	case r.busy || (r.work == nil && !r.look):
		s.mu.Unlock()
		return nil, false, true
	}
	w, look := r.work, r.look
	r.work, r.look, r.busy = nil, false, true
	s.mu.Unlock()
	if w != nil || !look {
		return w, true, true
	}
	lease, ok, err := s.leases.AcquireLease(s.ctx, r.agentID, s.cfg.LeaseTTL)
	if err != nil || !ok {
		return nil, true, true
	}
	w, err = s.leases.Settle(s.ctx, lease, 0, s.claim)
	if err != nil {
		s.logger.Warn("reading the waiting messages failed", "agent", r.agentID, "err", err)
		s.giveUp(lease)
		return nil, true, true
	}
	return w, true, true
}

// takeReplier makes the caller the one who answers for the agent's
// replier here, unless another does or work waits for its goroutine: a
// SendMessage whose append takes the lease answers its message itself
// (answerOwn). It returns nil then, or when the service closed. The
// caller must call done (answerOwn does), then s.wg.Done.
func (s *Service) takeReplier(agentID string) *replier {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	r := s.replierLocked(agentID)
	if r.busy || r.work != nil || r.look {
		return nil
	}
	r.busy = true
	s.wg.Add(1) // Close waits for the answering, as for the goroutine's
	return r
}

// done ends an answering: next, the work the last reply handed back with
// the lease kept, and whatever was handed over meanwhile go to the
// replier's goroutine, and the replier stays replierLinger for the
// agent's next message.
func (r *replier) done(next *engine.Work) {
	s := r.s
	s.mu.Lock()
	r.busy = false
	if r.retired { // by Close, while answering
		s.mu.Unlock()
		if next != nil {
			s.giveUp(next.Lease)
		}
		r.quiet()
		return
	}
	if next != nil {
		r.work = next
	}
	more := r.work != nil || r.look
	if more {
		r.startLocked()
	}
	s.mu.Unlock()
	if more {
		r.kick()
	}
	r.idle.Reset(replierLinger)
}

// retire ends a replier that nobody answered for replierLinger: its
// goroutine, its cancel listener and its renewal timer go. One that works
// again meanwhile stays, and is armed again when that ends.
func (r *replier) retire() {
	s := r.s
	s.mu.Lock()
	if r.busy || r.work != nil || r.look || r.retired || s.repliers[r.agentID] != r {
		s.mu.Unlock()
		return
	}
	delete(s.repliers, r.agentID)
	r.retired = true
	s.mu.Unlock()
	r.kick()
	r.quiet()
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

// answerOwn answers, on the caller's goroutine, the user message at seq
// whose append took the lease with w, and returns the events its run
// appended, the reply last. The caller holds the replier (takeReplier).
// A run to resume or an older message that waits comes first: then the
// replier's goroutine answers them all in order, this one too, and
// answerOwn returns nil, as it does when the run was not written here
// after all (the lease lost, a failure that leaves the message due) or
// the answer of its last append was lost: the log has the reply then.
//
// The run is written under the service's context, not the caller's: a
// caller that goes away cancels nothing.
//
// A panic in the run (the responder's are recovered where it is called)
// gives the lease up and ends the answering before it goes on up, so that
// the agent is not left with a replier that answers nothing and a lease
// renewed for ever.
func (r *replier) answerOwn(w *engine.Work, seq uint64) []*agentv1.AgentEvent {
	s := r.s
	if first, _, err := r.next(s.ctx, w); err != nil || first != seq {
		r.done(w)
		return nil
	}
	ctx, stop := context.WithCancel(s.ctx)
	r.hold(w.Lease, stop)
	r.listen()
	ran := false
	defer func() {
		if !ran {
			r.unhold()
			stop()
			s.giveUp(w.Lease)
			r.done(nil)
		}
	}()
	res, err := r.runFor(ctx, seq, w)
	ran = true
	// Unheld before done: the next work's holder holds it anew.
	r.unhold()
	stop()
	if err != nil {
		r.failed(w.Lease, seq, err)
		r.done(nil)
		return nil
	}
	r.done(res.next)
	return res.kept
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
			var done runDone
			done, err = r.runFor(ctx, seq, w)
			w = done.next
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
// next work from it (RunAppended.Work), retrying through short store
// outages while the lease lasts. Events that an earlier try appended after
// all (its answer was lost on the way) are there already: the lease is
// settled instead, and no events are returned.
func (r *replier) appendRunEnd(ctx context.Context, evs []*agentv1.AgentEvent, opts engine.RunAppend) (engine.RunAppended, error) {
	s := r.s
	retry := backoff.New(20*time.Millisecond, time.Second)
	for {
		res, err := s.log.AppendRun(ctx, r.agentID, evs, opts)
		switch {
		case err == nil:
			if res.Closed {
				s.logger.Info("a newer message waits: the run closed instead of pausing", "agent", r.agentID, "seq", opts.Answers)
			}
			return res, nil
		case errors.Is(err, engine.ErrAlreadyAnswered):
			w, err := s.leases.Settle(ctx, opts.Lease, opts.Answers, s.claim)
			return engine.RunAppended{Work: w}, err
		case errors.Is(err, engine.ErrUnavailable):
			if !backoff.Sleep(ctx, retry.Next()) {
				return engine.RunAppended{}, ctx.Err()
			}
		default:
			return engine.RunAppended{}, err
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
