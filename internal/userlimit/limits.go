package userlimit

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"connectrpc.com/connect"
	"github.com/agentgate/agentgate/internal/identity"
)

// Config is the limits of every user. The zero value limits nothing.
type Config struct {
	// MessageRate is USER_MESSAGE_RATE: the messages a user may send per
	// minute (see PerMinute); 0 for no limit.
	MessageRate int
	// MaxConnections is USER_MAX_CONNECTIONS: the sockets and streams a
	// user may hold open at once; 0 for no limit.
	MaxConnections int
}

// Limits applies Config to identities, keeping the counts in a Limiter.
// A nil *Limits limits nothing. Its methods are safe for concurrent use.
type Limits struct {
	lim  Limiter
	cfg  Config
	rate Rate
}

// New applies cfg through lim. Limits does not own lim: the caller closes
// it.
func New(lim Limiter, cfg Config) *Limits {
	l := &Limits{lim: lim, cfg: cfg}
	if cfg.MessageRate > 0 {
		l.rate = PerMinute(cfg.MessageRate)
	}
	return l
}

// Allow counts one message of id: nil if it may be sent, an *Exceeded if
// the user sent too many, or the Limiter's error (the caller's context's,
// ErrClosed). Call it once per message, on every way in (SendMessage,
// Converse's messages, socket frames that send, the frontend doors), and
// before any work. Only users are counted.
func (l *Limits) Allow(ctx context.Context, id identity.Identity) error {
	if l == nil || l.cfg.MessageRate <= 0 || id.Kind != identity.KindUser {
		return nil
	}
	ok, retry, err := l.lim.Allow(ctx, id.Subject, l.rate)
	if err != nil {
		return err
	}
	if !ok {
		return &Exceeded{Reason: ReasonMessageRate, Subject: id.Subject, Limit: l.cfg.MessageRate, RetryAfter: retry}
	}
	return nil
}

// Enter counts one connection of id (a socket, or a stream: Subscribe,
// Converse, a door's event stream) while it is open. On success the caller
// must call release when the connection ends; release may be called more
// than once, and is never nil. Otherwise the error is an *Exceeded, or the
// Limiter's error. A stream that a socket carries (a call bridged from its
// frames) is not a connection of its own: the socket was counted. Only
// users are counted.
func (l *Limits) Enter(ctx context.Context, id identity.Identity) (release func(), err error) {
	if l == nil || l.cfg.MaxConnections <= 0 || id.Kind != identity.KindUser {
		return func() {}, nil
	}
	release, ok, err := l.lim.Enter(ctx, id.Subject, l.cfg.MaxConnections)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, &Exceeded{Reason: ReasonMaxConnections, Subject: id.Subject, Limit: l.cfg.MaxConnections}
	}
	return release, nil
}

// Exceeded is a refusal of Limits: resource_exhausted for a Connect call,
// HTTP 429 Too Many Requests before a door's stream or a socket's upgrade.
type Exceeded struct {
	// Reason is ReasonMessageRate or ReasonMaxConnections, for logs and
	// the refusals metric.
	Reason string
	// Subject is the user's, for the log line; it is not a secret.
	Subject string
	// Limit is the configured limit: messages per minute, or connections.
	Limit int
	// RetryAfter is how long until the next message would be allowed. It
	// is 0 for connections: one may open when another of the user's
	// closes, which no clock can tell.
	RetryAfter time.Duration
}

func (e *Exceeded) Error() string {
	if e.Reason == ReasonMaxConnections {
		return fmt.Sprintf("too many open connections for this user: at most %d at once; close one and retry", e.Limit)
	}
	return fmt.Sprintf("too many messages from this user: at most %d a minute; retry in %ds", e.Limit, e.RetryAfterSeconds())
}

// RetryAfterSeconds is RetryAfter rounded up to whole seconds, at least 1,
// as HTTP's Retry-After header counts; 0 when RetryAfter is.
func (e *Exceeded) RetryAfterSeconds() int {
	if e.RetryAfter <= 0 {
		return 0
	}
	return int((e.RetryAfter + time.Second - 1) / time.Second)
}

// ConnectError is the refusal as a Connect error: resource_exhausted with
// Error's message, and when to retry, if known, in its Retry-After
// metadata (a response header of a unary call, a trailer of a stream).
func (e *Exceeded) ConnectError() *connect.Error {
	ce := connect.NewError(connect.CodeResourceExhausted, e)
	if s := e.RetryAfterSeconds(); s > 0 {
		ce.Meta().Set("Retry-After", strconv.Itoa(s))
	}
	return ce
}
