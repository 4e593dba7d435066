package engine

import agentv1 "github.com/agentgate/agentgate/gen/agent/v1"

// localSub is what every engine's subscription is made of: the queue its
// consumer reads, and what kind of subscriber it is.
type localSub struct {
	*Queue
	// internal subscriptions are not counted in Stat.Subscribers.
	internal bool
	// onCancel is set for SubscribeCancels: such a subscription hears
	// cancels only, and no event is queued for it.
	onCancel func(runID string)
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

// localSubs are one agent's subscriptions on this replica, and the one way
// an event, a cancel or the end of the agent reaches them, whichever
// engine holds them: the memory engine delivers what it appends, the
// Redis engine what its pub/sub connection receives.
//
// It has no lock of its own: the engine's lock guards it, and is held
// over every method, so that events reach the subscriptions in the order
// the engine delivers them. Delivery never blocks: a subscription whose
// queue is full is ended (endLocked) and so removed.
type localSubs[S subscriber] struct {
	subs map[S]*localSub // each with its localSub, read without a call
}

func newLocalSubs[S subscriber]() *localSubs[S] {
	return &localSubs[S]{subs: make(map[S]*localSub)}
}

func (l *localSubs[S]) add(s S) { l.subs[s] = s.local() }

// remove takes s out, and reports whether it was in.
func (l *localSubs[S]) remove(s S) bool {
	_, ok := l.subs[s]
	delete(l.subs, s)
	return ok
}

func (l *localSubs[S]) len() int { return len(l.subs) }

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

// deliver queues ev for every subscription but those that hear cancels
// only; one whose queue is full is ended with ErrOverflow.
func (l *localSubs[S]) deliver(ev *agentv1.AgentEvent) {
	for s, ls := range l.subs {
		if ls.onCancel != nil {
			continue
		}
		if !ls.Push(ev) {
			s.endLocked(ErrOverflow)
		}
	}
}

// cancel tells the subscriptions that hear cancels that runID is to stop.
func (l *localSubs[S]) cancel(runID string) {
	for _, ls := range l.subs {
		if f := ls.onCancel; f != nil {
			f(runID)
		}
	}
}

// endAll ends every subscription with err (ErrDeleted, ErrClosed,
// ErrUnavailable).
func (l *localSubs[S]) endAll(err error) {
	for s := range l.subs {
		s.endLocked(err)
	}
}
