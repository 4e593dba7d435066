// Package limit has the counters of the edge's admission: a Gate admits new
// long-lived connections (WebSockets, streams, the doors' streams) under a
// cap on how many are open and a rate at which new ones may start, so that
// a flood of connections cannot exhaust memory or file descriptors; a
// Bucket is the token bucket of one connection's frames.
package limit

import (
	"math"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// Reasons a connection is refused, as logged and counted.
const (
	ReasonMax  = "max_connections"
	ReasonRate = "connection_rate"
)

// Gate counts open connections. It is safe for concurrent use.
type Gate struct {
	max  int64
	open atomic.Int64
	rate *rate.Limiter
}

// NewGate admits at most maxOpen open connections, and perSecond new ones per
// second with bursts of twice that. A maxOpen or perSecond of 0 (or less)
// sets no cap, or no rate.
func NewGate(maxOpen int, perSecond float64) *Gate {
	g := &Gate{max: int64(maxOpen), rate: rate.NewLimiter(rate.Inf, 0)}
	if maxOpen <= 0 {
		g.max = math.MaxInt64
	}
	if perSecond > 0 {
		g.rate = rate.NewLimiter(rate.Limit(perSecond), max(int(2*perSecond), 1))
	}
	return g
}

// Enter admits one connection. On success the caller must call release once
// the connection ends; otherwise reason says why it was refused.
func (g *Gate) Enter() (release func(), reason string, ok bool) {
	if g.open.Add(1) > g.max {
		g.open.Add(-1)
		return nil, ReasonMax, false
	}
	if !g.rate.Allow() {
		g.open.Add(-1)
		return nil, ReasonRate, false
	}
	var once atomic.Bool
	return func() {
		if once.CompareAndSwap(false, true) {
			g.open.Add(-1)
		}
	}, "", true
}

// Full reports whether the next Enter would be refused for MAX_CONNECTIONS,
// without entering: for a client that asks why it was refused.
func (g *Gate) Full() bool { return g.open.Load() >= g.max }

// Open is the number of connections open now.
func (g *Gate) Open() int64 { return g.open.Load() }

// Bucket is a token bucket: Rate tokens a second, up to a burst of twice
// that (at least 1), one taken per Allow. It is rate.Limiter for one
// goroutine, without its lock and its allocation: every socket has two.
// The zero value allows everything.
type Bucket struct {
	rate, burst float64
	tokens      float64
	last        time.Time // when tokens was last brought up to date
}

// NewBucket returns a full bucket of perSecond tokens a second; 0 (or
// less) is no limit.
func NewBucket(perSecond float64) Bucket {
	if perSecond <= 0 {
		return Bucket{}
	}
	burst := float64(max(int(2*perSecond), 1))
	return Bucket{rate: perSecond, burst: burst, tokens: burst}
}

// Rate is the bucket's tokens per second, 0 for no limit.
func (b *Bucket) Rate() float64 { return b.rate }

// Allow takes a token if there is one, at now.
func (b *Bucket) Allow(now time.Time) bool {
	if b.rate == 0 {
		return true
	}
	if !b.last.IsZero() {
		b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
