package edge

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"connectrpc.com/connect"
	"github.com/agentgate/agentgate/gen/agent/v1/agentv1connect"
	"github.com/agentgate/agentgate/internal/userlimit"
)

// The per-user limits (Config.UserLimits, package userlimit) are applied
// where the rest of the policy is: a message is counted against
// USER_MESSAGE_RATE whichever way it comes in (SendMessage over Connect or
// a socket's frame, each message of a Converse stream, a door's request),
// after its authorization; a connection is counted against
// USER_MAX_CONNECTIONS where MAX_CONNECTIONS counts it (Admit for sockets
// and doors' streams, the Interceptor for Connect streams), and a stream
// a socket carries is not counted again. A refusal is resource_exhausted:
// HTTP 429 with Retry-After before a stream or a socket (the user's own
// excess, not the server's: the server's caps answer 503), a Connect
// error with Retry-After in its metadata, a socket's error frame with
// retryAfter; and it is counted by reason (user_message_rate,
// user_max_connections) and door.

// texter is a request that carries a message's text.
type texter interface{ GetText() string }

// sendsMessage reports whether req, a request of procedure, sends a
// message: a SendMessage, or a request of a Converse stream, with text.
func sendsMessage(procedure string, req any) bool {
	switch procedure {
	case agentv1connect.AgentServiceSendMessageProcedure, agentv1connect.AgentServiceConverseProcedure:
		t, ok := req.(texter)
		return ok && t.GetText() != ""
	}
	return false
}

// limitMessage counts the message that req sends through procedure, if it
// sends one, for the caller in ctx: nil, or the Connect error to end the
// call with.
func (p *Policy) limitMessage(ctx context.Context, d Door, procedure string, req any) error {
	if p.limits == nil || !sendsMessage(procedure, req) {
		return nil
	}
	return p.limitError(p.limits.Allow(ctx, IdentityFrom(ctx)), d)
}

// enterStream counts a Connect stream of the caller in ctx as one of its
// connections: its release, or the Connect error to end the stream with.
func (p *Policy) enterStream(ctx context.Context, d Door) (func(), error) {
	release, err := p.limits.Enter(ctx, IdentityFrom(ctx))
	if err != nil {
		return nil, p.limitError(err, d)
	}
	return release, nil
}

// limitError is the Connect error of a refusal of the limits at door d,
// counted: resource_exhausted for an *userlimit.Exceeded, the end of the
// caller's context as its own code, and unavailable once the limits are
// closed (the server shuts down).
func (p *Policy) limitError(err error, d Door) error {
	var ex *userlimit.Exceeded
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ex):
		p.m.Refused(ex.Reason, string(d))
		return ex.ConnectError()
	case errors.Is(err, userlimit.ErrClosed):
		return connect.NewError(connect.CodeUnavailable, errors.New("the server is shutting down; retry"))
	}
	return connect.NewError(contextCode(err), err)
}

// contextCode is the Connect code of a call that ended with its context's
// err: canceled or deadline_exceeded.
func contextCode(err error) connect.Code {
	if errors.Is(err, context.DeadlineExceeded) {
		return connect.CodeDeadlineExceeded
	}
	return connect.CodeCanceled
}

// LimitMessage counts the message of a door's request r against
// USER_MESSAGE_RATE: nil, or the refusal to answer, observed (429 with
// Retry-After; the door logs it with its request).
func (p *Policy) LimitMessage(r *http.Request, d Door) *Refusal {
	if p.limits == nil {
		return nil
	}
	return p.limitRefusal(r, d, p.limits.Allow(r.Context(), IdentityFrom(r.Context())))
}

// limitRefusal is the refusal of a request r at door d for the limits'
// error err, observed; nil for nil.
func (p *Policy) limitRefusal(r *http.Request, d Door, err error) *Refusal {
	if err == nil {
		return nil
	}
	ref := limitRefusalOf(err)
	p.refused(r, d, ref)
	return ref
}

// limitRefusalOf is the refusal for the limits' error err, not nil.
func limitRefusalOf(err error) *Refusal {
	var ex *userlimit.Exceeded
	switch {
	case errors.As(err, &ex):
		return &Refusal{Status: http.StatusTooManyRequests, Code: connect.CodeResourceExhausted, Reason: ex.Reason,
			Message: ex.Error(), RetryAfter: ex.RetryAfterSeconds(), cause: ex}
	case errors.Is(err, userlimit.ErrClosed):
		return &Refusal{Status: http.StatusServiceUnavailable, Code: connect.CodeUnavailable, Reason: "draining",
			Message: "the server is shutting down; retry"}
	}
	// the client went away
	return &Refusal{Status: http.StatusServiceUnavailable, Code: contextCode(err), Reason: "canceled",
		Message: "the request ended before it was admitted"}
}

// retryAfter sets the Retry-After header of a refusal that knows when to
// retry.
func (r *Refusal) retryAfter(w http.ResponseWriter) {
	if r.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(r.RetryAfter))
	}
}
