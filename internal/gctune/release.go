package gctune

import (
	"runtime/debug"
	"sync"
	"time"
)

// Releaser hands the memory of a large burst back to the operating system
// once the burst is over.
//
// With GOGC=400 the heap may grow to five times what is live before the
// collector runs, and it only runs when something allocates: after a reply
// that streamed a MiB (a million deltas, a few hundred MB of garbage, a few
// MB live while it ran), an idle server keeps the heap that the last
// collection during the reply sized, 25 MB above its idle RSS, until the
// runtime's forced collection two minutes later. Neither a lower GOGC nor a
// soft memory limit fixes that without a price: GOGC=100 costs the socket
// round trips the 400 was chosen for (and still leaves 12 MB, as no
// collection runs after the reply), and a GOMEMLIMIT low enough to matter
// (tens of MB) would make the collector run without pause on a server that
// holds its 20,000 idle sockets (300 MB live). So the defaults stay, and
// the one moment that leaves a large heap behind, the end of a large reply,
// returns it at once (debug.FreeOSMemory: a collection, then the free
// pages back to the OS), at most once per interval, so that a stream of
// large replies costs one collection per interval and no more.
//
// It is safe for concurrent use.
type Releaser struct {
	interval time.Duration
	now      func() time.Time
	free     func()

	mu   sync.Mutex
	last time.Time
}

// NewReleaser returns a Releaser that frees memory at most once per
// interval (default 10s if not positive).
func NewReleaser(interval time.Duration) *Releaser {
	if interval <= 0 {
		interval = 10 * time.Second
	}
	return &Releaser{interval: interval, now: time.Now, free: debug.FreeOSMemory}
}

// Release returns the heap's free memory to the operating system, unless
// it did within the interval; it reports whether it did. It blocks for the
// collection, a few milliseconds for a gateway's heap: call it where a
// short wait harms nobody (the replier, after the reply is appended).
func (r *Releaser) Release() bool {
	r.mu.Lock()
	now := r.now()
	if !r.last.IsZero() && now.Sub(r.last) < r.interval {
		r.mu.Unlock()
		return false
	}
	r.last = now
	r.mu.Unlock()
	r.free()
	return true
}
