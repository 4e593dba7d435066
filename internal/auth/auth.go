// Package auth finds a request's bearer token, in the Authorization header
// of Connect, gRPC and gRPC-Web calls and of the doors' requests, and in
// the access_token query parameter or a bearer.<token> subprotocol of
// WebSocket upgrades, which browsers cannot give headers; and it checks the
// service tokens of AUTH_TOKENS (Tokens, one of the edge's verifiers).
package auth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/agentgate/agentgate/internal/identity"
)

// Subprotocol is the WebSocket subprotocol of the bridge. A browser offers it
// together with "bearer.<token>"; the server answers with it alone.
const Subprotocol = "agent.v1"

// bearerPrefix marks a token offered as a WebSocket subprotocol.
const bearerPrefix = "bearer."

// Tokens is the set of accepted service tokens. The zero value (or New
// with no tokens) accepts every token: the wiring then leaves it out of the
// edge's verifiers, and authentication is off.
type Tokens struct {
	// digests hold SHA-256 of each token, so that comparisons take the same
	// time whatever the lengths involved.
	digests [][sha256.Size]byte
}

// New returns the set of accepted tokens.
func New(tokens []string) *Tokens {
	t := &Tokens{}
	for _, tok := range tokens {
		t.digests = append(t.digests, sha256.Sum256([]byte(tok)))
	}
	return t
}

// Enabled reports whether tokens are required.
func (t *Tokens) Enabled() bool { return t != nil && len(t.digests) > 0 }

// Valid reports whether token is accepted. It compares against every token
// in constant time, so the time taken tells nothing about which one matched.
func (t *Tokens) Valid(token string) bool {
	if !t.Enabled() {
		return true
	}
	d := sha256.Sum256([]byte(token))
	ok := 0
	for i := range t.digests {
		ok |= subtle.ConstantTimeCompare(d[:], t.digests[i][:])
	}
	return ok == 1
}

// Verify implements the edge's Verifier: a token of the set is the Service
// identity, with every permission; any other is refused with an error
// that wraps identity.ErrInvalid.
func (t *Tokens) Verify(_ context.Context, token string) (identity.Identity, error) {
	if !t.Valid(token) {
		return identity.Identity{}, errNotOurs
	}
	return identity.Service(), nil
}

// errNotOurs refuses a token that is not one of AUTH_TOKENS.
var errNotOurs error = notOurs{}

// notOurs is errNotOurs: an identity.ErrInvalid whose text says which
// list the token is not in, and an identity.ErrUnrecognized: a token that
// is not one of them may well be another verifier's.
type notOurs struct{}

func (notOurs) Error() string        { return "the token is not one of this gateway's AUTH_TOKENS" }
func (notOurs) Unwrap() error        { return identity.ErrInvalid }
func (notOurs) Is(target error) bool { return target == identity.ErrUnrecognized }

// BearerToken extracts the token of an "Authorization: Bearer <token>"
// header value; the scheme is case-insensitive.
func BearerToken(header string) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// WebSocketToken finds the token of a WebSocket upgrade: the Authorization
// header (non-browser clients), the access_token query parameter, or a
// "bearer.<token>" entry of Sec-WebSocket-Protocol. fromSubprotocol is true
// in the last case, when the server must answer with Subprotocol.
func WebSocketToken(r *http.Request) (token string, fromSubprotocol bool) {
	if tok, ok := BearerToken(r.Header.Get("Authorization")); ok {
		return tok, false
	}
	if tok := r.URL.Query().Get("access_token"); tok != "" {
		return tok, false
	}
	for _, p := range Subprotocols(r) {
		if tok, ok := strings.CutPrefix(p, bearerPrefix); ok && tok != "" {
			return tok, true
		}
	}
	return "", false
}

// Subprotocols lists the entries of the request's Sec-WebSocket-Protocol
// headers.
func Subprotocols(r *http.Request) []string {
	var out []string
	for _, h := range r.Header.Values("Sec-WebSocket-Protocol") {
		for _, p := range strings.Split(h, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}
