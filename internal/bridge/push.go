package bridge

import (
	"errors"
	"time"

	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/agentgate/agentgate/internal/agent"
	"github.com/agentgate/agentgate/internal/backoff"
)

// push is a socket's subscription to its agent's events, which the writer
// writes as event frames straight from the Follower: they wait in the
// engine's queue, not in the outbox. It is owned by the writer goroutine of
// the moment; follow and notify run before the socket serves, stop after
// its writer ended or when it never served.
//
// When the store breaks the subscription, the writer goes on serving the
// socket (responses, pings, closes) and push tries to resume on a timer:
// the socket stays open through a short outage and misses nothing, since
// resuming reads what was appended meanwhile from the log.
type push struct {
	s *socket
	// skipDeltas is ?deltas=false, for a Follower made anew.
	skipDeltas bool
	// f is the subscription; nil when push is off.
	f *agent.Follower
	// resume, while not nil, times the next attempt to repair a
	// subscription the store broke; delay is its backoff, made only then.
	resume *time.Timer
	delay  *backoff.Backoff
	// emit is the writer's writeEvent, made once: a method value passed on
	// each turn would be allocated on each.
	emit func(*agentv1.AgentEvent) error
}

// follow subscribes the socket as its query asks, before the upgrade: a
// store that cannot be reached is a 503, not a socket without events.
func (p *push) follow(opts pushOptions) error {
	agents := p.s.b.cfg.Agents
	if !opts.subscribe || agents == nil {
		return nil
	}
	f, err := agents.Follow(p.s.ctx, p.s.agentID, agent.FollowOptions{After: opts.after, SkipDeltas: opts.skipDeltas, Epoch: opts.epoch})
	p.f, p.emit = f, p.s.wr.writeEvent
	return err
}

// notify has the subscription kick the writer whenever events wait.
func (p *push) notify() {
	if p.f != nil {
		p.f.Notify(p.s.wr.kick)
	}
}

// start replays the events the client missed, when it asked with
// after_seq; the writer's first turn calls it.
func (p *push) start() error {
	if p.f == nil {
		return nil
	}
	if err := p.f.Replay(p.s.ctx, p.emit); err != nil {
		return p.ended(err)
	}
	return nil
}

// serve writes the pushed events that wait, or, while the subscription is
// broken, tries to resume it when its timer made that due.
func (p *push) serve(resumeDue bool) error {
	switch {
	case p.f == nil:
		return nil
	case p.resume != nil:
		// Broken: the ended subscription's Ready stays closed.
		if !resumeDue {
			return nil
		}
		// Resuming may wait on the store: what this turn has written goes
		// out first.
		if err := p.s.wr.out.end(); err != nil {
			return err
		}
		p.s.wr.out.begin()
		return p.resumeOnce()
	}
	select {
	case <-p.f.Ready():
	default:
		return nil
	}
	broken, err := p.f.PumpLive(p.s.ctx, p.emit)
	if err != nil {
		return p.ended(err)
	}
	if broken {
		p.retry()
	}
	return nil
}

// resumeOnce tries once to resume a broken subscription.
func (p *push) resumeOnce() error {
	ok, err := p.f.ResumeOnce(p.s.ctx, p.emit)
	if err != nil {
		p.resume.Stop()
		p.resume = nil
		return p.ended(err)
	}
	if !ok {
		p.retry()
		return nil
	}
	p.resume.Stop()
	p.resume, p.delay = nil, nil
	return nil
}

// retry sets the timer of the next attempt to resume, backing off from
// 100 ms to 2 s with jitter, so that the sockets of a replica that lost
// Redis do not all retry at once.
func (p *push) retry() {
	if p.delay == nil {
		p.delay = backoff.New(100*time.Millisecond, 2*time.Second)
	}
	wait := p.delay.Next()
	if p.resume == nil {
		p.resume = time.AfterFunc(wait, func() { p.s.due(dueResume) })
		return
	}
	p.resume.Reset(wait)
}

// ended handles the end of the subscription. A write error ends the writer.
// An agent that was deleted is followed again from its new start (it comes
// back on first use). Otherwise the socket closes: 1013 when the client
// fell behind or the store is unavailable, so that it resumes with
// after_seq.
func (p *push) ended(err error) error {
	var ae *agent.Error
	if !errors.As(err, &ae) {
		return err // a write error, or errClosing
	}
	epoch := p.f.Epoch()
	p.f.Close()
	p.f = nil
	s := p.s
	switch ae.Kind {
	case agent.KindNotFound:
		// The client saw the deleted log: the new one starts with a
		// history_reset, since its seqs begin at 1 again.
		zero := uint64(0)
		f, ferr := s.b.cfg.Agents.Follow(s.ctx, s.agentID, agent.FollowOptions{After: &zero, SkipDeltas: p.skipDeltas, Epoch: epoch})
		if ferr != nil {
			s.close(CloseTryAgainLater, "event stream interrupted; reconnect and resume with after_seq")
			return nil
		}
		p.f = f
		p.notify()
		return p.start()
	case agent.KindResourceExhausted:
		s.close(CloseTryAgainLater, "client fell behind: reconnect and resume with after_seq")
	case agent.KindInternal:
		s.close(CloseInternalError, "event stream failed; reconnect and resume with after_seq")
	default:
		s.close(CloseTryAgainLater, "event stream interrupted; reconnect and resume with after_seq")
	}
	return nil
}

// stop ends the subscription and its resume timer.
func (p *push) stop() {
	if p.resume != nil {
		p.resume.Stop()
	}
	if p.f != nil {
		p.f.Close()
	}
}
