package identity

import (
	"errors"
	"fmt"
	"time"
)

// The two ways Verify refuses a token. Every error Verify returns wraps
// one of them (errors.Is); its text says what is wrong in words a person
// can act on, and never holds the token.
var (
	// ErrExpired: the token was valid and its time is up. The client
	// should fetch a new one and try again; an open connection that
	// outlives its token is closed with a code that says so.
	ErrExpired = errors.New("the token expired")
	// ErrInvalid: any other refusal (malformed, badly signed, from
	// another issuer or for another audience, not valid yet, without a
	// subject, with a malformed claim). A new token from the same place
	// is as bad, unless the refusal names a key the gateway could not
	// fetch.
	ErrInvalid = errors.New("the token is not valid")
)

// tokenError is a refusal: kind is ErrExpired or ErrInvalid, msg the whole
// message.
type tokenError struct {
	kind error
	msg  string
}

func (e *tokenError) Error() string { return e.msg }
func (e *tokenError) Unwrap() error { return e.kind }

// invalidf is an ErrInvalid with a formatted message.
func invalidf(format string, args ...any) error {
	return &tokenError{kind: ErrInvalid, msg: fmt.Sprintf(format, args...)}
}

// expired is the ErrExpired of a token whose exp was at.
func expired(at time.Time) error {
	return &tokenError{kind: ErrExpired, msg: "the token expired at " + at.UTC().Format(time.RFC3339) + ": fetch a new one"}
}
