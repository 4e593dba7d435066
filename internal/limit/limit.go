// Package limit admits new long-lived connections (WebSockets and streams)
// under a cap on how many are open and a rate at which new ones may start,
// so that a flood of connections cannot exhaust memory or file descriptors.
package limit

import (
	"context"
	"fmt"
	"sync/atomic"

	"connectrpc.com/connect"

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
// second with bursts of twice that.
func NewGate(maxOpen int, perSecond float64) *Gate {
	return &Gate{max: int64(maxOpen), rate: rate.NewLimiter(rate.Limit(perSecond), max(int(2*perSecond), 1))}
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

// StreamInterceptor admits Subscribe and Converse streams through the gate,
// like WebSockets: a refused stream ends at once with resource_exhausted.
// refused, if not nil, is told of each refusal.
//
// exempt, if not nil, lets streams through that hold a connection of their
// own already: a Subscribe bridged from an admitted WebSocket was counted
// when the socket opened, and must not spend the rate of new connections
// on every frame.
func (g *Gate) StreamInterceptor(refused func(procedure, reason string), exempt func(context.Context) bool) connect.Interceptor {
	return streamGate{g: g, refused: refused, exempt: exempt}
}

type streamGate struct {
	g       *Gate
	refused func(procedure, reason string)
	exempt  func(context.Context) bool
}

func (s streamGate) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc { return next }

func (s streamGate) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (s streamGate) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		if s.exempt != nil && s.exempt(ctx) {
			return next(ctx, conn)
		}
		release, reason, ok := s.g.Enter()
		if !ok {
			if s.refused != nil {
				s.refused(conn.Spec().Procedure, reason)
			}
			return connect.NewError(connect.CodeResourceExhausted, fmt.Errorf("server is at its connection limit (%s); retry later", reason))
		}
		defer release()
		return next(ctx, conn)
	}
}
