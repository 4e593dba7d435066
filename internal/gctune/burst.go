package gctune

import (
	"sync"
	"time"
)

// Burst releases the memory of a burst of new connections once the burst
// is over: the other moment, besides a large reply, that leaves a large
// heap behind.
//
// Opening a socket makes garbage (the upgrade request, its headers, the
// handshake) about the size of what the socket keeps. With GOGC=400 a
// burst of them (clients reconnecting to this replica after another went
// away, a deploy) grows the heap up to five times what is live before
// anything collects it, and an idle gateway then keeps it: `agentbench
// ws-idle` measured 13.5 KB of RSS per idle socket at 10,000 sockets,
// where GOGC=100 gives 10.5–11.3 KB but costs a socket's round trip a
// fifth more CPU. Burst keeps GOGC=400 and returns the burst's garbage
// instead: when at least min connections opened, and then none for
// quiet, it has its Releaser release (a collection, the free pages back
// to the OS), which the Releaser does at most once per its interval. The
// same 10,000 idle sockets then cost 8.7 KB each.
//
// It is safe for concurrent use.
type Burst struct {
	r     *Releaser
	min   int
	quiet time.Duration

	mu sync.Mutex
	n  int         // connections opened since the last check
	t  *time.Timer // fires Quiet after the last Opened; nil before the first
}

// NewBurst returns a Burst that has r release once min connections (at
// least 1) opened and then none for quiet (default 500ms if not positive).
func NewBurst(r *Releaser, min int, quiet time.Duration) *Burst {
	if quiet <= 0 {
		quiet = 500 * time.Millisecond
	}
	return &Burst{r: r, min: max(min, 1), quiet: quiet}
}

// Opened counts one new connection.
func (b *Burst) Opened() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.n++
	if b.t == nil {
		b.t = time.AfterFunc(b.quiet, b.check)
		return
	}
	b.t.Reset(b.quiet)
}

// check runs Quiet after the last Opened.
func (b *Burst) check() {
	b.mu.Lock()
	n := b.n
	b.n = 0
	b.mu.Unlock()
	if n >= b.min {
		b.r.Release()
	}
}

// Stop stops the timer, so that no release runs after it returns but one
// already running. Opened after Stop starts it again.
func (b *Burst) Stop() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.t != nil {
		b.t.Stop()
	}
}
