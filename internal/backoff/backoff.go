// Package backoff spaces out retries: exponentially growing delays with
// jitter, so that replicas retrying against a recovering store or upstream
// do not retry in lockstep.
package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Backoff yields the delays of one sequence of retries. The zero value is
// not usable; use New. It is not safe for concurrent use: each retry loop
// owns one.
type Backoff struct {
	min, max, cur time.Duration
}

// New returns a Backoff whose delays start near lo and double up to hi.
func New(lo, hi time.Duration) *Backoff { return &Backoff{min: lo, max: hi, cur: lo} }

// Next returns the next delay: between half and all of the current step,
// which then doubles (up to the maximum).
func (b *Backoff) Next() time.Duration {
	d := b.cur
	b.cur = min(b.cur*2, b.max)
	return d/2 + rand.N(d/2+1)
}

// Reset starts the sequence again, after a success.
func (b *Backoff) Reset() { b.cur = b.min }

// Sleep waits for d or until ctx is done; it reports whether d passed.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
