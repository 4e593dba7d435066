package edge

import (
	"context"
	"net/http"
	"time"

	"connectrpc.com/connect"
	"github.com/agentgate/agentgate/internal/identity"
)

// A connection (a socket, a Connect stream, a door's stream) lives no
// longer than the token it was opened with: until the token's exp plus
// AUTH_EXPIRY_GRACE (Config.ExpiryGrace), the time a client has to hand
// the socket a fresh token (Refresh) before it is closed. A connection
// whose end has passed when it would open is refused as an expired token
// (401), although the token may still pass a single call within
// identity.Leeway: a connection opened only to be closed at once helps
// nobody.
//
// A stream's context ends at the deadline (Expiring) with an *Expired as
// its cause, which the stream's door turns into its wire's unauthenticated:
// the Connect code of a stream (Interceptor), the error event of a door's
// stream (package door). The socket keeps its own timer instead (package
// bridge), which a refresh moves, and closes with a code of its own.

// Expired is why a connection ended, or was refused: its token's time and
// the grace after it are up. It wraps identity.ErrExpired, so that the
// logs and metrics give it the reason expired_token.
type Expired struct {
	// At is the token's exp.
	At time.Time
}

func (e *Expired) Error() string {
	return "the token expired at " + e.At.UTC().Format(time.RFC3339) +
		": fetch a new one, reconnect and resume with after_seq"
}

// Unwrap returns identity.ErrExpired.
func (e *Expired) Unwrap() error { return identity.ErrExpired }

// ConnectError is the expiry as a stream ends with it: unauthenticated.
func (e *Expired) ConnectError() *connect.Error {
	return connect.NewError(connect.CodeUnauthenticated, e)
}

// ExpiredOf returns the *Expired that ended ctx (a context of Expiring),
// or nil if ctx is not done or ended otherwise.
func ExpiredOf(ctx context.Context) *Expired {
	if ctx.Err() == nil {
		return nil
	}
	e, _ := context.Cause(ctx).(*Expired)
	return e
}

// Deadline is when a connection of id must end: its token's exp plus
// AUTH_EXPIRY_GRACE. ok is false for an identity whose credentials never
// expire (a service token, anonymous callers).
func (p *Policy) Deadline(id identity.Identity) (end time.Time, ok bool) {
	if id.Expires.IsZero() {
		return time.Time{}, false
	}
	return id.Expires.Add(p.grace), true
}

// Grace is AUTH_EXPIRY_GRACE.
func (p *Policy) Grace() time.Duration { return p.grace }

// Expiring returns ctx ended, with an *Expired as its cause, at the
// Deadline of the identity in ctx: the context of a stream. For an
// identity that never expires it is ctx itself, and cancel does nothing.
func (p *Policy) Expiring(ctx context.Context) (context.Context, context.CancelFunc) {
	id := IdentityFrom(ctx)
	end, ok := p.Deadline(id)
	if !ok {
		return ctx, func() {}
	}
	return context.WithDeadlineCause(ctx, end, &Expired{At: id.Expires})
}

// expiredRefusal is the 401 of a connection whose end has passed before
// it opened, or nil if it has not.
func (p *Policy) expiredRefusal(id identity.Identity) *Refusal {
	end, ok := p.Deadline(id)
	if !ok || time.Now().Before(end) {
		return nil
	}
	e := &Expired{At: id.Expires}
	return &Refusal{Status: http.StatusUnauthorized, Code: connect.CodeUnauthenticated, Reason: "expired_token",
		Message: e.Error(), cause: e}
}
