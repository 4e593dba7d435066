package edge

import (
	"context"
	"net/http"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/agentgate/agentgate/internal/auth"
	"github.com/agentgate/agentgate/internal/identity"
)

// Protect wraps a Connect handler (the agent API, reflection): CORS for
// browsers using Connect or gRPC-Web, from the allowed origins, then
// authentication by the Authorization header. A preflight carries no
// token, so CORS answers it first; any other request without a good token
// is refused before its body is read, in the caller's protocol (Connect,
// gRPC or gRPC-Web) with code unauthenticated. The identity rides on in the
// request's context.
func (p *Policy) Protect(h http.Handler) http.Handler {
	return p.cors.Handler(p.authenticate(h, "", false))
}

// ProtectDoor is Protect for a door that is not a Connect handler (AG-UI,
// the AI SDK): a refusal is a 401 with the JSON body of every refusal at
// the edge. A door's request is a stream: its context ends when its token
// expires (see Expiring), and the door ends the stream with
// unauthenticated.
func (p *Policy) ProtectDoor(d Door, h http.Handler) http.Handler {
	return p.cors.Handler(p.authenticate(h, d, true))
}

// RequireToken is ProtectDoor without CORS, for what browsers of other
// sites have no business reading (/metrics), and for operators only: a
// user's token needs agents:admin (403 permission_denied otherwise), as
// the console does.
func (p *Policy) RequireToken(d Door, h http.Handler) http.Handler {
	return p.authenticate(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := IdentityFrom(r.Context())
		if !id.Unlimited() && id.Perms&identity.Admin == 0 {
			ref := deniedRefusal(&identity.Denied{Subject: id.Subject, Missing: identity.Admin, Reason: "scope"})
			ref.Message = "this token may not read the metrics: it needs the scope " + identity.Admin.String()
			p.refused(r, d, ref)
			ref.Write(w)
			return
		}
		h.ServeHTTP(w, r)
	}), d, false)
}

// authenticate authenticates the requests to h by their Authorization
// header, for door d, or for the door the request's protocol names when d
// is empty (a Connect handler), in a context that ends when the token
// expires if expiring is set. Without Verifiers it lets every request
// through as it is: IdentityFrom is Anonymous by default.
func (p *Policy) authenticate(h http.Handler, d Door, expiring bool) http.Handler {
	if !p.Authenticates() {
		return h
	}
	errw := connect.NewErrorWriter()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, _ := auth.BearerToken(r.Header.Get("Authorization"))
		id, err := p.Authenticate(r.Context(), token)
		if err == nil {
			ctx := WithIdentity(r.Context(), id)
			if expiring {
				var cancel context.CancelFunc
				ctx, cancel = p.Expiring(ctx)
				defer cancel()
			}
			h.ServeHTTP(w, r.WithContext(ctx))
			return
		}
		door := d
		if door == "" {
			door = protocolDoor(r)
		}
		ref := authRefusal(err, "a valid bearer token is required: send Authorization: Bearer <token>")
		p.refused(r, door, ref)
		if r.ProtoMajor == 1 && r.ContentLength != 0 {
			// net/http reads what is left of the body after the answer, to
			// reuse the connection: a stranger trickling it would hold the
			// connection. It is closed instead, without reading on.
			w.Header().Set("Connection", "close")
			_ = http.NewResponseController(w).SetReadDeadline(time.Now())
		}
		if d == "" && errw.IsSupported(r) {
			_ = errw.Write(w, r, ref.ConnectError())
			return
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="agentgate"`)
		ref.Write(w)
	})
}

// protocolDoor names the door of a request to a Connect handler by its
// content type, as connect-go tells the protocols apart.
func protocolDoor(r *http.Request) Door {
	ct := strings.ToLower(r.Header.Get("Content-Type"))
	switch {
	case strings.HasPrefix(ct, "application/grpc-web"):
		return GRPCWeb
	case strings.HasPrefix(ct, "application/grpc"):
		return GRPC
	}
	return Connect
}

// callDoor names the door of a Connect call by its protocol.
func callDoor(protocol string) Door {
	switch protocol {
	case connect.ProtocolGRPC:
		return GRPC
	case connect.ProtocolGRPCWeb:
		return GRPCWeb
	}
	return Connect
}
