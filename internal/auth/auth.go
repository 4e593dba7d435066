// Package auth checks the bearer tokens of AUTH_TOKENS: in the Authorization
// header of Connect, gRPC and gRPC-Web calls, and in the access_token query
// parameter or a bearer.<token> subprotocol of WebSocket upgrades, which
// browsers cannot give headers.
package auth

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"net/http"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/agentgate/agentgate/internal/jsonerror"
)

// Subprotocol is the WebSocket subprotocol of the bridge. A browser offers it
// together with "bearer.<token>"; the server answers with it alone.
const Subprotocol = "agent.v1"

// bearerPrefix marks a token offered as a WebSocket subprotocol.
const bearerPrefix = "bearer."

// Errors a check returns; the reason goes to the logs, never the token.
var (
	ErrMissing = errors.New("no bearer token")
	ErrInvalid = errors.New("invalid bearer token")
)

// Tokens is the set of accepted tokens. The zero value (or New with no
// tokens) accepts every request: authentication is off.
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

// CheckRequest checks the Authorization header of r.
func (t *Tokens) CheckRequest(r *http.Request) error {
	if !t.Enabled() {
		return nil
	}
	token, ok := BearerToken(r.Header.Get("Authorization"))
	if !ok {
		return ErrMissing
	}
	if !t.Valid(token) {
		return ErrInvalid
	}
	return nil
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

// CheckWebSocket checks the token of a WebSocket upgrade.
func (t *Tokens) CheckWebSocket(r *http.Request) error {
	if !t.Enabled() {
		return nil
	}
	token, _ := WebSocketToken(r)
	if token == "" {
		return ErrMissing
	}
	if !t.Valid(token) {
		return ErrInvalid
	}
	return nil
}

// Middleware refuses requests without a valid bearer token before the
// handler reads their body, answering in the caller's protocol (Connect,
// gRPC or gRPC-Web) with code unauthenticated, and any other request (a
// door's, a CORS request that is not a preflight, a body of another
// content type) with 401 and the JSON error body of package jsonerror.
// refused, if not nil, is told of each refusal with its reason. Requests
// pass untouched when auth is off.
func (t *Tokens) Middleware(next http.Handler, refused func(*http.Request, error)) http.Handler {
	if !t.Enabled() {
		return next
	}
	errw := connect.NewErrorWriter()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := t.CheckRequest(r)
		if err == nil {
			next.ServeHTTP(w, r)
			return
		}
		if refused != nil {
			refused(r, err)
		}
		if r.ProtoMajor == 1 && r.ContentLength != 0 {
			// net/http reads what is left of the body after the answer, to
			// reuse the connection: a stranger trickling it would hold the
			// connection. It is closed instead, without reading on.
			w.Header().Set("Connection", "close")
			_ = http.NewResponseController(w).SetReadDeadline(time.Now())
		}
		cerr := connect.NewError(connect.CodeUnauthenticated, errors.New("a valid bearer token is required: send Authorization: Bearer <token>"))
		if errw.IsSupported(r) {
			_ = errw.Write(w, r, cerr)
			return
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="agentgate"`)
		jsonerror.Write(w, http.StatusUnauthorized, connect.CodeUnauthenticated.String(), cerr.Message())
	})
}
