package edge

import (
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
	// user_message_rate, user_max_connections.
	Reason string
	// RetryAfter is when to retry, in seconds, if the refusal knows (a
	// user over USER_MESSAGE_RATE): the Retry-After header.
	RetryAfter int
	// cause is the error refused with, if any: an *identity.Denied, or a
	// Verifier's error.
	cause error
}

func (r *Refusal) Error() string { return r.Message }

// detail is what the logs say of why a token was refused: the Verifiers'
// whole refusal, which never holds the token (Verifier's contract), cut
// to a line's worth; "" for any other refusal.
func (r *Refusal) detail() string {
	if r.Status != http.StatusUnauthorized || r.cause == nil || errors.Is(r.cause, ErrMissing) {
		return ""
	}
	return clip.Message(r.cause.Error())
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

// refused counts a refusal at door d and logs it. A refusal within a
// door's request (origin, permission, limits) is not logged here: the
// door writes a line for every request it answers, which names the reason
// (DoorRecord.Reason); one before the door (the token) is. The line says
// who (the identity's name, for a permission refusal), why, and where,
// never the token.
func (p *Policy) refused(r *http.Request, d Door, ref *Refusal) {
	p.m.Refused(ref.Reason, string(d))
	if (d == AGUI || d == AISDK) && ref.Status != http.StatusUnauthorized {
		return
	}
	msg := "request refused"
	if d == WebSocket {
		msg = "websocket refused"
	}
	attrs := make([]slog.Attr, 0, 9)
	attrs = append(attrs, slog.String("reason", ref.Reason))
	switch {
	case ref.Reason == "origin":
		attrs = append(attrs, slog.String("origin", clip.Value(r.Header.Get("Origin"))))
	case ref.Code == connect.CodePermissionDenied:
		attrs = append(attrs, slog.String("subject", clip.Value(IdentityFrom(r.Context()).Name())))
	}
	attrs = append(attrs,
		slog.String("path", clip.Value(r.URL.Path)),
		slog.String("peer", r.RemoteAddr),
		slog.String("request_id", accesslog.RequestID(r.Context())),
		slog.String("door", string(d)),
	)
	if d := ref.detail(); d != "" {
		attrs = append(attrs, slog.String("detail", d))
	}
	p.log.LogAttrs(r.Context(), slog.LevelWarn, msg, attrs...)
}
