package engine

import agentv1 "github.com/agentgate/agentgate/gen/agent/v1"

// localSub is what every engine's subscription is made of: the queue its
// consumer reads (a cancel listener's stays empty: it only tells the end),
// and whether a client holds it.
type localSub struct {
	*Queue
	// internal subscriptions are not counted in Stat.Subscribers.
	internal bool
}

// subscriber is an engine's subscription type, built on a localSub.
// endLocked, called with the engine's lock held, ends the subscription
// with err and removes it from its localSubs.
type subscriber interface {
	comparable
	local() *localSub
	endLocked(err error)
}

func (s *localSub) local() *localSub { return s }

// localSubs is the local fan-out of one agent, the same under both engines:
// its subscriptions on this replica, and its cancel listeners, and the one
// way an event, a cancel or the end of the agent reaches them. The memory
// engine delivers what it appends, the Redis engine what its pub/sub
// connection receives.
//
// It has no lock of its own: the engine's lock guards it, and is held
// over every method, so that events reach the subscriptions in the order
// the engine delivers them. Delivery never blocks: a subscription whose
// queue is full is ended (endLocked) and so removed.
type localSubs[S subscriber] struct {
	subs map[S]*localSub // each with its localSub, read without a call
	// cancels are the listeners of Broker.SubscribeCancels; nil until the
	// first.
	cancels map[S]func(runID string)
}

func newLocalSubs[S subscriber]() *localSubs[S] {
	return &localSubs[S]{subs: make(map[S]*localSub)}
}

// add takes s in as a subscription to events.
func (l *localSubs[S]) add(s S) { l.subs[s] = s.local() }

// addCanceller takes s in as a cancel listener: it hears cancels, and the
// end of the agent, but no event.
func (l *localSubs[S]) addCanceller(s S, onCancel func(runID string)) {
	if l.cancels == nil {
		l.cancels = make(map[S]func(string))
	}
	l.cancels[s] = onCancel
}

// remove takes s out, and reports whether it was in.
func (l *localSubs[S]) remove(s S) bool {
	_, sub := l.subs[s]
	_, canceller := l.cancels[s]
	delete(l.subs, s)
	delete(l.cancels, s)
	return sub || canceller
}

// len counts the subscriptions and cancel listeners.
func (l *localSubs[S]) len() int { return len(l.subs) + len(l.cancels) }

// clients counts the subscriptions that are not internal.
func (l *localSubs[S]) clients() int64 {
	var n int64
	for _, ls := range l.subs {
		if !ls.internal {
			n++
		}
	}
	return n
}

// takes reports whether a subscription would queue an event: any, or,
// for a text delta, one that does not skip deltas.
func (l *localSubs[S]) takes(delta bool) bool {
	if !delta {
		return len(l.subs) > 0
	}
	for _, ls := range l.subs {
		if !ls.skipDeltas {
			return true
		}
	}
	return false
}

// deliver queues ev for every subscription; one whose queue is full is
// ended with ErrOverflow.
func (l *localSubs[S]) deliver(ev *agentv1.AgentEvent) {
	for s, ls := range l.subs {
		if !ls.Push(ev) {
			s.endLocked(ErrOverflow)
		}
	}
}

// cancel tells the cancel listeners that runID is to stop.
func (l *localSubs[S]) cancel(runID string) {
	for _, f := range l.cancels {
		f(runID)
	}
}

// endAll ends every subscription and cancel listener with err
// (ErrDeleted, ErrClosed, ErrUnavailable).
func (l *localSubs[S]) endAll(err error) {
	for s := range l.subs {
		s.endLocked(err)
	}
	for s := range l.cancels {
		s.endLocked(err)
	}
}
