package userlimit

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

var _ Limiter = (*Memory)(nil)

// minSweep is the fewest subjects Memory keeps before it looks for ones
// whose allowance is full again, which it then forgets.
const minSweep = 1024

// Memory is the Limiter of one process: the limits hold per replica. Its
// methods are safe for concurrent use; one mutex guards its maps, held for
// a few map operations only.
type Memory struct {
	now func() time.Time

	mu     sync.Mutex
	tats   map[string]time.Time // subject -> theoretical arrival time (gcra)
	conns  map[string]int       // subject -> open connections, never 0
	sweep  int                  // forget full allowances when tats reaches it
	closed bool
}

// NewMemory makes a Memory that reads the time from now (nil:
// time.Now). A subject whose allowance is full again is forgotten, so the
// memory held is that of the subjects active within a burst's time.
func NewMemory(now func() time.Time) *Memory {
	if now == nil {
		now = time.Now
	}
	return &Memory{now: now, tats: make(map[string]time.Time), conns: make(map[string]int), sweep: minSweep}
}

// Allow implements Limiter.
func (m *Memory) Allow(ctx context.Context, subject string, rate Rate) (bool, time.Duration, error) {
	if err := ctx.Err(); err != nil {
		return false, 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return false, 0, ErrClosed
	}
	now := m.now()
	next, retry, ok := gcra(m.tats[subject], now, rate)
	if !ok {
		return false, retry, nil
	}
	m.tats[subject] = next
	if len(m.tats) >= m.sweep {
		m.sweepLocked(now)
	}
	return true, 0, nil
}

// gcra decides one message under rate at now, given the subject's
// theoretical arrival time tat (zero if unknown): the time its allowance
// is spent to, at one Every per message. A message fits if spending one
// more leaves it no more than Burst messages ahead of now; then next is
// the new tat. Otherwise retry is how long until it would fit.
// lua/allow.lua is the same, in microseconds.
func gcra(tat, now time.Time, rate Rate) (next time.Time, retry time.Duration, ok bool) {
	if tat.Before(now) {
		tat = now
	}
	next = tat.Add(rate.Every)
	if over := next.Sub(now) - time.Duration(rate.Burst)*rate.Every; over > 0 {
		return time.Time{}, over, false
	}
	return next, 0, true
}

// sweepLocked forgets the subjects whose allowance is full again (as if
// never seen), and sets the next sweep at twice the subjects left, so
// that sweeping costs O(1) per call on average.
func (m *Memory) sweepLocked(now time.Time) {
	for s, tat := range m.tats {
		if !tat.After(now) {
			delete(m.tats, s)
		}
	}
	m.sweep = max(2*len(m.tats), minSweep)
}

// Enter implements Limiter.
func (m *Memory) Enter(ctx context.Context, subject string, max int) (func(), bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, false, ErrClosed
	}
	if m.conns[subject] >= max {
		return nil, false, nil
	}
	m.conns[subject]++
	var once atomic.Bool
	return func() {
		if once.CompareAndSwap(false, true) {
			m.leave(subject)
		}
	}, true, nil
}

func (m *Memory) leave(subject string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.conns[subject]--; m.conns[subject] <= 0 {
		delete(m.conns, subject)
	}
}

// Close implements Limiter.
func (m *Memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	clear(m.conns)
	return nil
}
