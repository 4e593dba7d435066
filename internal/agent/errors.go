package agent

import (
	"errors"
	"fmt"
)

// Kind classifies the errors of the agent service, so that adapters can map
// them to their own codes (Connect codes, WebSocket error frames) without
// parsing messages. Package errcode holds that mapping, once for every
// adapter.
type Kind int

// The kinds of error. Their messages are meant for the client: they say what
// was wrong and reveal nothing about the server's internals.
const (
	KindInternal Kind = iota
	KindInvalidArgument
	KindNotFound
	KindUnavailable
	KindResourceExhausted
	KindFailedPrecondition
	KindDeadlineExceeded
	KindCanceled
	KindAborted
	// KindAlreadyExists: the thing was done already, otherwise (a tool
	// call answered differently).
	KindAlreadyExists
)

// Error is an error of the agent service with its Kind.
type Error struct {
	Kind Kind
	Msg  string
	// Err is the cause, for logs; it is not part of Error().
	Err error
}

func (e *Error) Error() string { return e.Msg }
func (e *Error) Unwrap() error { return e.Err }

// KindOf returns the Kind of err; errors that are not *Error are internal.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindInternal
}

func invalidf(format string, args ...any) error {
	return &Error{Kind: KindInvalidArgument, Msg: fmt.Sprintf(format, args...)}
}
