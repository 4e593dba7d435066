package engine

import (
	"sync"

	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
)

// Queue is the buffer behind a Subscription, shared by the engines. It
// allocates nothing until events arrive, grows with a burst up to its limit
// and gives the memory back once drained: an idle subscriber (most of the
// sockets of a busy gateway) costs a few words, while a subscriber that falls
// briefly behind a fast agent is not dropped for it. Only when the limit is
// reached is it ended with ErrOverflow.
//
// Push and End are called by the engine, Ready, Next and Err by the one
// consumer; all are safe for concurrent use.
type Queue struct {
	mu    sync.Mutex
	items []*agentv1.AgentEvent // waiting events are items[head:]
	head  int
	limit int
	ready chan struct{} // one token while events wait; closed when ended
	ended bool
	err   error
	// notify, if set, is called outside mu whenever ready becomes ready.
	notify func()
	// skipDeltas drops text deltas on Push.
	skipDeltas bool
}

// NewQueue returns an empty queue that holds at most limit events, as opts
// asks.
func NewQueue(limit int, opts SubscribeOptions) *Queue {
	return &Queue{limit: max(limit, 1), ready: make(chan struct{}, 1), skipDeltas: opts.SkipDeltas}
}

// Push adds ev. It returns false if the queue has ended, ending it with
// ErrOverflow if ev would exceed the limit. It never blocks. A queue that
// skips deltas drops a text delta and reports true.
func (q *Queue) Push(ev *agentv1.AgentEvent) bool {
	if q.skipDeltas && ev.GetTextDelta() != nil {
		return true
	}
	q.mu.Lock()
	if q.ended {
		q.mu.Unlock()
		return false
	}
	if len(q.items)-q.head >= q.limit {
		q.endLocked(ErrOverflow)
		q.items, q.head = nil, 0 // an overflowed subscriber resumes from the log
		q.unlockNotify(true)
		return false
	}
	if q.head >= 64 && q.head >= len(q.items)/2 {
		// A consumer that stays a little behind never drains the queue to
		// empty: move the waiting events down instead of growing for ever.
		n := copy(q.items, q.items[q.head:])
		clear(q.items[n:])
		q.items, q.head = q.items[:n], 0
	}
	q.items = append(q.items, ev)
	select {
	case q.ready <- struct{}{}:
		q.unlockNotify(true)
	default:
		// The token still waits: the consumer has not looked yet and will
		// find this event too, so a burst is told once.
		q.unlockNotify(false)
	}
	return true
}

// unlockNotify releases mu, then calls notify if Ready just became ready.
func (q *Queue) unlockNotify(became bool) {
	var f func()
	if became {
		f = q.notify
	}
	q.mu.Unlock()
	if f != nil {
		f()
	}
}

// Notify makes the queue call f, which must not block, whenever Ready
// becomes ready: after a Push that finds no token waiting on Ready, when
// the queue ends, and at once if events wait or it has ended already. A
// consumer that has nothing else to wait on needs no goroutine parked on
// Ready.
func (q *Queue) Notify(f func()) {
	q.mu.Lock()
	q.notify = f
	now := q.ended || q.head < len(q.items)
	q.mu.Unlock()
	if now && f != nil {
		f()
	}
}

// End ends the queue with err (nil: closed by its consumer). Events already
// queued can still be taken with Next. Only the first End counts; it reports
// whether it was the first.
func (q *Queue) End(err error) bool {
	q.mu.Lock()
	if q.ended {
		q.mu.Unlock()
		return false
	}
	q.endLocked(err)
	q.unlockNotify(true)
	return true
}

func (q *Queue) endLocked(err error) {
	q.ended, q.err = true, err
	close(q.ready)
}

// Ready has a value, or is closed, whenever Next may return an event or Err
// may have become non-nil.
func (q *Queue) Ready() <-chan struct{} { return q.ready }

// Next takes the oldest waiting event; ok is false if none waits.
func (q *Queue) Next() (ev *agentv1.AgentEvent, ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.head == len(q.items) {
		return nil, false
	}
	ev = q.items[q.head]
	q.items[q.head] = nil
	q.head++
	if q.head == len(q.items) {
		// Drained: reuse small buffers, drop large ones.
		if cap(q.items) > 64 {
			q.items = nil
		} else {
			q.items = q.items[:0]
		}
		q.head = 0
	}
	return ev, true
}

// Ended reports whether the queue has ended, and why (nil when closed by its
// consumer).
func (q *Queue) Ended() (bool, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.ended, q.err
}

// Err is the reason the queue ended, once it has ended and every queued
// event was taken; nil before.
func (q *Queue) Err() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.ended || q.head < len(q.items) {
		return nil
	}
	return q.err
}
