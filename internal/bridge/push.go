package bridge

import (
	"errors"

	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/agentgate/agentgate/internal/agent"
)

// push is a socket's subscription to its agent's events, which the writer
// writes as event frames straight from the Follower: they wait in the
// engine's queue, not in the outbox. It is owned by the writer goroutine of
// the moment; follow and notify run before the socket serves, stop after
// its writer ended or when it never served.
//
// When the store breaks the subscription, the writer goes on serving the
// socket (responses, pings, closes) and the Follower resumes it on a timer
// of its own, which kicks the writer like an event does: the socket stays
// open through a short outage and misses nothing, since resuming reads
// what was appended meanwhile from the log.
type push struct {
	s *socket
	// skipDeltas is ?deltas=false, for a Follower made anew.
	skipDeltas bool
	// f is the subscription; nil when push is off.
	f *agent.Follower
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
	if err := p.f.Start(p.s.ctx, p.emit); err != nil {
		return p.ended(err)
	}
	return nil
}

// serve writes the pushed events that wait, or, while the store has broken
// the subscription, resumes it once the Follower says it is time.
func (p *push) serve() error {
	if p.f == nil {
		return nil
	}
	select {
	case <-p.f.Ready():
	default:
		return nil
	}
	if err := p.f.Pump(p.s.ctx, p.emit); err != nil {
		return p.ended(err)
	}
	return nil
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

// stop ends the subscription.
func (p *push) stop() {
	if p.f != nil {
		p.f.Close()
	}
}
