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
	// ErrUnrecognized marks an ErrInvalid of a token that is not of the
	// verifier's kind at all: not a JWT, not one of the service tokens.
	// Where several verifiers refuse a token, the client is told the
	// refusals of those that knew its kind (a JWT's wrong audience, not
	// that it is no service token), and every refusal only when none did.
	ErrUnrecognized = errors.New("the token is not of the verifier's kind")
)

// tokenError is a refusal: kind is ErrExpired or ErrInvalid, msg the whole
// message, and public, when it is not empty, what the client is told
// instead (see Public); foreign marks an ErrUnrecognized.
type tokenError struct {
	kind    error
	msg     string
	public  string
	foreign bool
}

func (e *tokenError) Error() string { return e.msg }
func (e *tokenError) Unwrap() error { return e.kind }

// Is makes a foreign refusal an ErrUnrecognized too.
func (e *tokenError) Is(target error) bool { return e.foreign && target == ErrUnrecognized }

// invalidf is an ErrInvalid with a formatted message.
func invalidf(format string, args ...any) error {
	return &tokenError{kind: ErrInvalid, msg: fmt.Sprintf(format, args...)}
}

// Public returns what a refusal of Verify tells the client that sent the
// token: the error's text, which says what is wrong with the token, less
// what only the operator should read. That is why the key set cannot be
// fetched: the reason may name the provider's address inside the
// operator's network; the client is told that the key set cannot be
// fetched now, and the error's text (the log's) says why. An error that
// is not one of Verify's is its text.
//
// Nothing else of a refusal is kept from the client, by design: it quotes
// only what the token itself says (its iss, aud, kid, alg, nbf, exp), and
// names the settings it fails (AUTH_JWT_ISSUER, AUTH_JWKS_URL), never
// their values; what it tells about the configuration (that the issuer is
// checked, which algorithms are taken) is in every token the provider
// issues, and in the docs.
func Public(err error) string {
	if te, ok := errors.AsType[*tokenError](err); ok && te.public != "" {
		return te.public
	}
	return err.Error()
}

// expired is the ErrExpired of a token whose exp was at.
func expired(at time.Time) error {
	return &tokenError{kind: ErrExpired, msg: "the token expired at " + at.UTC().Format(time.RFC3339) + ": fetch a new one"}
}
