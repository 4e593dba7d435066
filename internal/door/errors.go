package door

import (
	"errors"
	"net/http"

	"github.com/agentgate/agentgate/internal/agent"
	"github.com/agentgate/agentgate/internal/edge"
	"github.com/agentgate/agentgate/internal/errcode"
	"github.com/agentgate/agentgate/internal/jsonerror"
)

// Error is a failure a door reports to its client: before the stream as an
// HTTP status with a JSON body, after it as the wire's error frame.
type Error struct {
	// Status is the HTTP status, when the stream has not begun.
	Status int
	// Code is a stable, machine-readable reason in snake_case, as Connect
	// codes are written ("invalid_argument", "unavailable").
	Code string
	// Message says what to do, for a person.
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Invalid is a 400 invalid_argument with the message.
func Invalid(msg string) *Error {
	return &Error{Status: http.StatusBadRequest, Code: "invalid_argument", Message: msg}
}

// Draining is how a stream ends when the server shuts down under it: the
// client retries (with the same message id, so nothing is sent twice) and
// reaches another replica or the next deployment.
var Draining = &Error{Status: http.StatusServiceUnavailable, Code: "unavailable", Message: "server is shutting down; retry"}

// ErrorOf turns any error into an *Error: a door's own errors pass, a
// stream cut by the shutdown (ErrDraining) is Draining, one whose token
// expired (*edge.Expired) unauthenticated, errors of the agent service
// keep their kind and message, anything else is an internal error that
// reveals nothing.
func ErrorOf(err error) *Error {
	var de *Error
	if errors.As(err, &de) {
		return de
	}
	if errors.Is(err, ErrDraining) {
		return Draining
	}
	var exp *edge.Expired
	if errors.As(err, &exp) {
		return &Error{Status: http.StatusUnauthorized, Code: "unauthenticated", Message: exp.Error()}
	}
	var ae *agent.Error
	if errors.As(err, &ae) {
		code, status := errcode.Of(ae.Kind)
		e := Error{Status: status, Code: code.String(), Message: ae.Msg}
		// A reply whose log went away says which way it went.
		switch {
		case errors.Is(err, agent.ErrHistoryReset):
			e.Code = "history_reset"
		case errors.Is(err, agent.ErrAgentDeleted):
			e.Code = "agent_deleted"
		}
		return &e
	}
	return &Error{Status: http.StatusInternalServerError, Code: "internal", Message: "internal error"}
}

// WriteError answers a request that gets no stream: the status and a JSON
// body {"code": …, "message": …} (package jsonerror), the shape of a
// Connect error, which both AG-UI's HttpAgent and the AI SDK's transport
// show to their caller.
func WriteError(w http.ResponseWriter, e *Error) {
	jsonerror.Write(w, e.Status, e.Code, e.Message)
}
