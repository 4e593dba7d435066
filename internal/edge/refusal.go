package edge

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"connectrpc.com/connect"
	"github.com/agentgate/agentgate/internal/accesslog"
	"github.com/agentgate/agentgate/internal/clip"
	"github.com/agentgate/agentgate/internal/identity"
	"github.com/agentgate/agentgate/internal/jsonerror"
	"github.com/agentgate/agentgate/internal/userlimit"
)

// Refusal is a request, call or connection the edge refused: what the
// client is told and what the logs and metrics say.
type Refusal struct {
	// Status is the HTTP status of a refusal before any stream.
	Status int
	// Code is the Connect code; its snake_case name is the code of the
	// JSON body and of a socket's error frame.
	Code connect.Code
	// Message says what to do, for a person. It never holds a token.
	Message string
	// Reason is the short stable word of logs and metrics:
	// unauthenticated, invalid_token, expired_token, origin,
	// max_connections, connection_rate, agent, scope,
	// user_message_rate, user_max_connections; and the socket's own
	// (Refuse, SocketRefused): bad_agent_id, bad_query, not_websocket,
	// bad_handshake, store_unavailable, bad_request, draining,
	// frame_rate, frame_flood.
	Reason string
	// RetryAfter is when to retry, in seconds, if the refusal knows (a
	// user over USER_MESSAGE_RATE): the Retry-After header.
	RetryAfter int
	// cause is the error refused with, if any: an *identity.Denied, or a
	// Verifier's error.
	cause error
	// why, if set, is what is wrong, without what to do about it: the
	// Verifiers' words of a refused token.
	why string
}

func (r *Refusal) Error() string { return r.Message }

// Why says what is wrong, without Message's how to go on where the two
// differ (a refused token: the Verifiers' words, before how to send a
// token), for a client that words the rest its own way (the console).
func (r *Refusal) Why() string {
	if r.why != "" {
		return r.why
	}
	return r.Message
}

// detail is what the logs say of why a request was refused, cut to a
// line's worth: for a token, the Verifiers' whole refusal, which never
// holds the token (Verifier's contract); for a request that is not
// valid, what was wrong with it, as the client was told; "" for any other
// refusal, whose reason says it all.
func (r *Refusal) detail() string {
	switch {
	case r.Status == http.StatusUnauthorized && r.cause != nil && !errors.Is(r.cause, ErrMissing):
		return clip.Message(r.cause.Error())
	case r.Code == connect.CodeInvalidArgument:
		return clip.Message(r.Message)
	}
	return ""
}

// Unwrap returns the cause: errors.As finds the *identity.Denied of a
// permission refusal.
func (r *Refusal) Unwrap() error { return r.cause }

// Write answers an HTTP request with the refusal: its status and the JSON
// body {"code", "message"} of every refusal at the edge (package
// jsonerror).
func (r *Refusal) Write(w http.ResponseWriter) {
	r.retryAfter(w)
	jsonerror.Write(w, r.Status, r.Code.String(), r.Message)
}

// ConnectError is the refusal as a Connect error, for a call.
func (r *Refusal) ConnectError() *connect.Error {
	return connect.NewError(r.Code, r)
}

func originRefusal() *Refusal {
	return &Refusal{Status: http.StatusForbidden, Code: connect.CodePermissionDenied, Reason: "origin",
		Message: "this origin is not allowed (ALLOWED_ORIGINS)"}
}

func deniedRefusal(d *identity.Denied) *Refusal {
	return &Refusal{Status: http.StatusForbidden, Code: connect.CodePermissionDenied, Reason: d.Reason,
		Message: d.Error(), cause: d}
}

func gateRefusal(reason string) *Refusal {
	return &Refusal{Status: http.StatusServiceUnavailable, Code: connect.CodeResourceExhausted, Reason: reason,
		Message: "the server is at its connection limit (" + reason + "); retry later"}
}

// reasonOf is the reason of a refusal that err caused, for a call's log
// line: the Denied's "agent" or "scope", the limit a user exceeded, or
// expired_token for a stream that outlived its token.
func reasonOf(err error) string {
	var d *identity.Denied
	var ex *userlimit.Exceeded
	var exp *Expired
	switch {
	case errors.As(err, &d):
		return d.Reason
	case errors.As(err, &ex):
		return ex.Reason
	case errors.As(err, &exp):
		return "expired_token"
	}
	return ""
}

// Refuse answers r, at door d, with a refusal of the door's own: one that
// no step of the policy makes, such as the socket's upgrade with a bad
// agent id or query, a request that is no upgrade, or one that comes while
// the server drains. It observes the refusal as the policy's own (see
// refused): every refusal at the edge is counted by reason and door and
// logged with who and why in one way.
func (p *Policy) Refuse(w http.ResponseWriter, r *http.Request, d Door, ref *Refusal) {
	p.refused(r, d, ref)
	ref.Write(w)
}

// SocketRefused observes what an open socket at door d refused by itself
// in ctx, the socket's context (its caller, its request id): a frame that
// names another agent than the socket's (reason agent, answered with
// permission_denied), a flood of frames over WS_FRAME_RATE (reason
// frame_flood, closed with 1008). It counts the refusal by reason and
// door, and logs who, why, on which agent, and detail, what the client
// was told.
func (p *Policy) SocketRefused(ctx context.Context, d Door, agentID, reason, detail string) {
	p.m.Refused(reason, string(d))
	attrs := make([]slog.Attr, 0, 6)
	attrs = append(attrs, slog.String("reason", reason))
	if id, ok := identityIn(ctx); ok && id.Kind != identity.KindAnonymous {
		attrs = append(attrs, slog.String("subject", clip.Value(id.Name())))
	}
	attrs = append(attrs,
		slog.String("agent", clip.Value(agentID)),
		slog.String("request_id", clip.Value(accesslog.RequestID(ctx))),
		slog.String("door", string(d)),
		slog.String("detail", clip.Message(detail)),
	)
	p.log.LogAttrs(ctx, slog.LevelWarn, "websocket frame refused", attrs...)
}

// refused counts a refusal at door d and logs it. A refusal within a
// door's request (origin, permission, limits) is not logged here: the
// door writes a line for every request it answers, which names the reason
// (DoorRecord.Reason); one before the door (the token) is. The line says
// who (the identity's name, once the token was taken), why, where, with
// what status, and the detail (what was wrong with the token or the
// request), never the token.
func (p *Policy) refused(r *http.Request, d Door, ref *Refusal) {
	p.m.Refused(ref.Reason, string(d))
	if (d == AGUI || d == AISDK) && ref.Status != http.StatusUnauthorized {
		return
	}
	msg := "request refused"
	if d == WebSocket {
		msg = "websocket refused"
	}
	attrs := make([]slog.Attr, 0, 10)
	attrs = append(attrs, slog.String("reason", ref.Reason))
	if ref.Reason == "origin" {
		attrs = append(attrs, slog.String("origin", clip.Value(r.Header.Get("Origin"))))
	}
	if id, ok := identityIn(r.Context()); (ok && id.Kind != identity.KindAnonymous) || ref.Code == connect.CodePermissionDenied {
		attrs = append(attrs, slog.String("subject", clip.Value(id.Name())))
	}
	attrs = append(attrs,
		slog.String("path", clip.Value(r.URL.Path)),
		slog.String("peer", r.RemoteAddr),
		slog.String("request_id", accesslog.RequestID(r.Context())),
		slog.String("door", string(d)),
		slog.Int("status", ref.Status),
	)
	if d := ref.detail(); d != "" {
		attrs = append(attrs, slog.String("detail", d))
	}
	p.log.LogAttrs(r.Context(), slog.LevelWarn, msg, attrs...)
}
