package edge

import (
	"context"
	"errors"
	"net/http"

	"connectrpc.com/connect"
	"github.com/agentgate/agentgate/internal/auth"
	"github.com/agentgate/agentgate/internal/identity"
)

// Verifier turns a bearer token into the identity it proves: the service
// tokens of AUTH_TOKENS (auth.Tokens), a JWT. Verify refuses a token with
// an error that wraps identity.ErrExpired when the token was good and its
// time is up, or identity.ErrInvalid otherwise (a token it does not know
// included); its text never holds the token. It must be safe for
// concurrent use.
type Verifier interface {
	Verify(ctx context.Context, token string) (identity.Identity, error)
}

// ErrMissing refuses a request without a token while authentication is on.
var ErrMissing = errors.New("no bearer token")

type identityKey struct{}

// IdentityFrom returns the identity the edge put in ctx when it
// authenticated the request; identity.Anonymous if there is none (the
// edge always puts one where authentication is on).
func IdentityFrom(ctx context.Context) identity.Identity {
	id, _ := ctx.Value(identityKey{}).(identity.Identity)
	return id
}

// WithIdentity returns ctx carrying id, as the edge does for every request
// it authenticates; tests and in-process callers use it too.
func WithIdentity(ctx context.Context, id identity.Identity) context.Context {
	return context.WithValue(ctx, identityKey{}, id)
}

// identityIn is IdentityFrom, and whether ctx has an identity at all.
func identityIn(ctx context.Context) (identity.Identity, bool) {
	id, ok := ctx.Value(identityKey{}).(identity.Identity)
	return id, ok
}

// Authenticate turns a request's bearer token (empty when it sent none)
// into its identity. Without Verifiers, every caller is Anonymous,
// whatever it sends. Otherwise an empty token is ErrMissing, and the
// Verifiers are tried in order: the first that accepts the token says who
// it is. When none does, the error is an expiry if any Verifier saw one
// (the token was good once: the client should fetch a new one), and
// otherwise the last refusal.
func (p *Policy) Authenticate(ctx context.Context, token string) (identity.Identity, error) {
	if len(p.verifiers) == 0 {
		return identity.Anonymous(), nil
	}
	if token == "" {
		return identity.Identity{}, ErrMissing
	}
	var refusal error
	for _, v := range p.verifiers {
		id, err := v.Verify(ctx, token)
		if err == nil {
			return id, nil
		}
		if refusal == nil || !errors.Is(refusal, identity.ErrExpired) {
			refusal = err
		}
	}
	return identity.Identity{}, refusal
}

// authReason is the reason of an authentication refusal.
func authReason(err error) string {
	switch {
	case errors.Is(err, ErrMissing):
		return "unauthenticated"
	case errors.Is(err, identity.ErrExpired):
		return "expired_token"
	}
	return "invalid_token"
}

// authRefusal is the 401 of an authentication refusal. An expired token
// is told so, with the Verifier's words; any other refusal says how to
// send a token, in msg.
func authRefusal(err error, msg string) *Refusal {
	ref := &Refusal{Status: http.StatusUnauthorized, Code: connect.CodeUnauthenticated, Reason: authReason(err), Message: msg, cause: err}
	if ref.Reason == "expired_token" {
		ref.Message = err.Error()
	}
	return ref
}

// AuthenticateUpgrade authenticates a WebSocket upgrade by the token it
// carries: an Authorization header, the access_token query parameter, or
// a bearer.<token> subprotocol (browsers cannot set headers on a
// WebSocket). It returns the request with its identity in the context; a
// refusal is answered with 401 and observed, and the request is nil.
func (p *Policy) AuthenticateUpgrade(w http.ResponseWriter, r *http.Request) *http.Request {
	if !p.Authenticates() {
		return r // Anonymous, as IdentityFrom says by default
	}
	token, _ := auth.WebSocketToken(r)
	id, err := p.Authenticate(r.Context(), token)
	if err != nil {
		ref := authRefusal(err, "a valid token is required: pass access_token or the bearer.<token> subprotocol")
		p.refused(r, WebSocket, ref)
		ref.Write(w)
		return nil
	}
	return r.WithContext(WithIdentity(r.Context(), id))
}

// AuthenticateRequest authenticates r by its Authorization header, and
// observes nothing: for a client that asks why it was refused (the
// console).
func (p *Policy) AuthenticateRequest(r *http.Request) (identity.Identity, error) {
	token, _ := auth.BearerToken(r.Header.Get("Authorization"))
	return p.Authenticate(r.Context(), token)
}
