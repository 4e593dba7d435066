package bridge

import (
	"math"
	"sync"
	"time"

	"github.com/agentgate/agentgate/internal/edge"
)

// A socket lives no longer than its token: until the token's exp plus
// AUTH_EXPIRY_GRACE (edge.Policy.Deadline). Before that, the client may
// hand it a fresh token in a refresh frame, and the socket goes on as the
// new token's (docs/websocket.md):
//
//	→ {"id":"r1","refresh":{"token":"<fresh token>"}}
//	← {"id":"r1","response":{"expireTime":"…","closeTime":"…"}}
//
// A refresh the edge refuses (edge.Policy.Refresh) is answered with an
// error frame and changes nothing. The server says when a refresh is due
// with an expiring frame, once per token:
//
//	← {"expiring":{"expireTime":"…","closeTime":"…"}}
//
// sent when the token has expiringLead left, or half of what it had when
// the socket got it if that is less, so that a client that always gets
// short-lived tokens is not told again at once after each refresh. At the
// end, the socket closes with CloseTokenExpired (4001); the client fetches
// a new token, reconnects and resumes with after_seq and epoch.
//
// A socket whose token never expires (a service token, no authentication)
// has no lifetime and no timer. One that does has one timer, armed at the
// next of the two moments.

// expiringLead is how long before its token's exp the client is told at
// most.
const expiringLead = 30 * time.Second

// refreshMethod is the method of a refresh frame's call: no RPC of the
// service, but a call of the socket, with its id, its place among the
// calls in flight and its answer.
var refreshMethod = &method{name: "refresh"}

// lifetime is the end of a socket whose token expires. Its fields are
// guarded by mu, a leaf lock; the timer's function runs without it held
// when it calls out.
type lifetime struct {
	s     *socket
	grace time.Duration

	mu sync.Mutex
	// timer fires at the warning, then at the end.
	timer *time.Timer
	// expires is the token's exp; warnAt when the client is told.
	expires, warnAt time.Time
	// warned is the exp the client was told of last.
	warned time.Time
	// stopped: the socket ended; the timer is not armed again.
	stopped bool
}

// newLifetime returns the lifetime of a socket whose token expires at
// exp, armed.
func newLifetime(s *socket, exp time.Time, grace time.Duration) *lifetime {
	l := &lifetime{s: s, grace: grace}
	// Armed once stored: fire uses it.
	l.timer = time.AfterFunc(time.Duration(math.MaxInt64), l.fire)
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.setLocked(exp, now)
	l.timer.Reset(l.nextLocked(now))
	return l
}

// setLocked takes the token's exp, got at now.
func (l *lifetime) setLocked(exp, now time.Time) {
	lead := min(expiringLead, exp.Sub(now)/2)
	l.expires, l.warnAt = exp, exp.Add(-lead)
}

// nextLocked is how long until the timer's next work at now: the warning,
// unless the client was told of this token already, then the end.
func (l *lifetime) nextLocked(now time.Time) time.Duration {
	if l.warned.Equal(l.expires) {
		return l.expires.Add(l.grace).Sub(now)
	}
	return l.warnAt.Sub(now)
}

// fire is the timer's work: the warning, once per token, or the close.
func (l *lifetime) fire() {
	now := time.Now()
	l.mu.Lock()
	if l.stopped {
		l.mu.Unlock()
		return
	}
	end := l.expires.Add(l.grace)
	if !now.Before(end) {
		l.stopped = true
		l.mu.Unlock()
		l.s.closeFlush(CloseTokenExpired, "the token expired: fetch a new one, reconnect and resume with after_seq")
		return
	}
	warn := !now.Before(l.warnAt) && !l.warned.Equal(l.expires)
	if warn {
		l.warned = l.expires
	}
	exp := l.expires
	l.timer.Reset(l.nextLocked(now))
	l.mu.Unlock()
	if warn {
		b := getBuf()
		*b = appendExpiring(*b, `{"expiring":`, exp, end)
		l.s.send(b)
	}
}

// renew makes caller the context of the socket's calls from now on, and
// moves the end to that of its fresh token, which expires at exp (zero for
// never): both at once, so that of two refreshes that cross, the calls and
// the end follow the same one.
func (l *lifetime) renew(caller *callerCtx, exp time.Time) {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.s.calls.caller.Store(caller)
	if l.stopped {
		return
	}
	if exp.IsZero() {
		l.stopped = true
		l.timer.Stop()
		return
	}
	l.setLocked(exp, now)
	l.timer.Reset(l.nextLocked(now))
}

// stop disarms the timer of a socket that ended.
func (l *lifetime) stop() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.stopped = true
	l.timer.Stop()
}

// runRefresh performs a refresh frame's call and returns its final frame:
// the response with the new token's times, or the error the edge refused
// the token with.
func (s *session) runRefresh(c *call) *[]byte {
	e := s.rpc.edge
	id, ref := e.Refresh(c.ctx, edge.IdentityFrom(c.ctx), c.token, s.agentID, s.perm)
	if ref != nil {
		return errorFrame(c, &rpcError{Code: ref.Code.String(), Message: ref.Message})
	}
	s.sink.renew(id)
	b := getBuf()
	end, expires := e.Deadline(id)
	if !expires {
		*b = append(append(*b, c.prefix...), `"response":{}}`...)
		return b
	}
	*b = appendExpiring(append(*b, c.prefix...), `"response":`, id.Expires, end)
	return b
}

// appendExpiring appends key, then {"expireTime":…,"closeTime":…} and the
// frame's closing brace: the times of a token, in protobuf's JSON of
// Timestamps (RFC 3339, UTC).
func appendExpiring(b []byte, key string, exp, end time.Time) []byte {
	b = append(b, key...)
	b = append(b, `{"expireTime":"`...)
	b = exp.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","closeTime":"`...)
	b = end.UTC().AppendFormat(b, time.RFC3339Nano)
	return append(b, `"}}`...)
}
