package edge

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"

	"connectrpc.com/connect"
	"github.com/agentgate/agentgate/internal/auth"
	"github.com/agentgate/agentgate/internal/identity"
)

// Verifier turns a bearer token into the identity it proves: the service
// tokens of AUTH_TOKENS (auth.Tokens), a JWT. Verify refuses a token with
// an error that wraps identity.ErrExpired when the token was good and its
// time is up, or identity.ErrInvalid otherwise (a token it does not know
// included), and identity.ErrUnrecognized too when the token is not of its
// kind at all; its text never holds the token, and says what is wrong in
// words the client is told (identity.Public). It must be safe for
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
// otherwise the refusals of the Verifiers that knew the token's kind (a
// JWT's wrong audience, rather than that it is no service token), or,
// when none did (identity.ErrUnrecognized), every refusal, in order: a
// mistyped token is told that it is neither a service token nor a JWT.
func (p *Policy) Authenticate(ctx context.Context, token string) (identity.Identity, error) {
	if len(p.verifiers) == 0 {
		return identity.Anonymous(), nil
	}
	if token == "" {
		return identity.Identity{}, ErrMissing
	}
	var all refusals
	for _, v := range p.verifiers {
		id, err := v.Verify(ctx, token)
		if err == nil {
			return id, nil
		}
		if errors.Is(err, identity.ErrExpired) {
			return identity.Identity{}, err
		}
		all = append(all, err)
	}
	known := slices.DeleteFunc(slices.Clone(all), func(err error) bool { return errors.Is(err, identity.ErrUnrecognized) })
	if len(known) > 0 {
		all = known
	}
	if len(all) == 1 {
		return identity.Identity{}, all[0]
	}
	return identity.Identity{}, all
}

// refusals are the refusals of several Verifiers of one token.
type refusals []error

func (rs refusals) Error() string   { return joinReasons(rs, error.Error) }
func (rs refusals) Unwrap() []error { return rs }

// joinReasons joins the text of each refusal, as text says it.
func joinReasons(rs refusals, text func(error) string) string {
	var b strings.Builder
	for i, err := range rs {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(text(err))
	}
	return b.String()
}

// publicReason is what the client is told of a Verifier's refusal err:
// identity.Public of each (its text, less the key set's fetch failure).
func publicReason(err error) string {
	if rs, ok := err.(refusals); ok {
		return joinReasons(rs, identity.Public)
	}
	return identity.Public(err)
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

// authRefusal is the 401 of an authentication refusal. A missing token is
// told how to send one, in how; an expired one is told so, in the
// Verifier's words; any other refusal is told what is wrong with the
// token, in the Verifiers' words (its wrong audience or issuer, its
// unknown key, its bad signature: what to fix), then how. The words are
// identity.Public's: they hold no token, and no more of the configuration
// than the names of its settings (see there why that is safe to tell).
// The logs get the whole error (refused).
func authRefusal(err error, how string) *Refusal {
	ref := &Refusal{Status: http.StatusUnauthorized, Code: connect.CodeUnauthenticated, Reason: authReason(err), Message: how, cause: err}
	switch ref.Reason {
	case "expired_token":
		ref.Message = publicReason(err)
		ref.why = ref.Message
	case "invalid_token":
		ref.why = publicReason(err)
		ref.Message = ref.why + "; " + how
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
	id, ref := p.tokenStep(r.Context(), token, "a valid token is required: pass access_token or the bearer.<token> subprotocol")
	if ref != nil {
		p.refused(r, WebSocket, ref)
		ref.Write(w)
		return nil
	}
	return r.WithContext(WithIdentity(r.Context(), id))
}

// tokenStep is the first step of the policy: the token a request sent
// (empty for none) becomes its caller, or is refused (401) with what to
// fix and then how, which says how to send a token (see authRefusal). It
// observes nothing.
func (p *Policy) tokenStep(ctx context.Context, token, how string) (identity.Identity, *Refusal) {
	id, err := p.Authenticate(ctx, token)
	if err != nil {
		return identity.Identity{}, authRefusal(err, how)
	}
	return id, nil
}
