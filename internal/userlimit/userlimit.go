// Package userlimit keeps what one user may spend: messages per minute
// (USER_MESSAGE_RATE) and open connections (USER_MAX_CONNECTIONS), so
// that one visitor of a browser frontend cannot run up the model bill or
// hold the connections everyone else needs.
//
// Only users are limited: identities of a verified JWT, counted by their
// subject. Service tokens and anonymous callers are not, since they stand
// for a deployment's own services, not for a person.
//
// Limits (limits.go) is what the edge calls: Allow before every message,
// whichever way it comes in, and Enter for every socket and stream, with
// its release when it ends. Both answer with an *Exceeded, which the edge
// turns into resource_exhausted (HTTP 429) with when to retry. Limits keeps
// its counts in a Limiter: Memory for one process, Redis for replicas that
// share one Redis, so that the limits hold across them. Every Limiter passes
// the contract tests of package userlimittest.
package userlimit

import (
	"context"
	"errors"
	"time"
)

// Reasons of a refusal, as logged and counted (metrics.Refused): the
// variable that set the limit, in lower case.
const (
	ReasonMessageRate    = "user_message_rate"
	ReasonMaxConnections = "user_max_connections"
)

// ErrClosed is returned by a Limiter's calls after Close.
var ErrClosed = errors.New("userlimit: closed")

// Rate is an allowance of messages: Burst at once, then one more every
// Every (the generic cell rate algorithm, which is a token bucket of Burst
// tokens refilled one per Every, kept as one time per subject). A Rate
// with Burst 0 allows nothing.
type Rate struct {
	Every time.Duration
	Burst int
}

// PerMinute is n messages per minute, of which the whole minute's may be
// sent at once: Burst n, then one every minute/n. So a client that waited
// a minute may send n at once, and one that keeps sending gets n a minute;
// any window of a minute sees at most 2n-1. n must be positive.
func PerMinute(n int) Rate {
	return Rate{Every: time.Minute / time.Duration(n), Burst: n}
}

// Limiter keeps the counts of the limits, for one process (Memory) or for
// replicas sharing one Redis (Redis). Subjects are opaque strings. Its
// methods are safe for concurrent use.
type Limiter interface {
	// Allow counts one message of subject under rate: ok if it fits,
	// otherwise retryAfter is how long until the next one would (a refused
	// message is not counted). The error is the caller's context's, or
	// ErrClosed; a Limiter that cannot reach its store decides without it
	// (see Redis).
	Allow(ctx context.Context, subject string, rate Rate) (ok bool, retryAfter time.Duration, err error)

	// Enter opens one connection of subject if fewer than max are open:
	// then release, which the caller must call once the connection ends,
	// closes it. Calling release again does nothing. Errors are those of
	// Allow.
	Enter(ctx context.Context, subject string, max int) (release func(), ok bool, err error)

	// Close stops the Limiter. Connections still open stop counting (on
	// other replicas too), and later calls return ErrClosed.
	Close() error
}
