// Package accesslog gives every request the id that ties its log lines to
// each other and to the platform's own logs: the id the platform's edge
// sent, or a new one, kept in the request's context and echoed in the
// response. The lines themselves (one per call, door request and refusal,
// never the message text or a token) are written by the edge (package
// edge) and the bridge.
package accesslog

import (
	"context"
	"crypto/rand"
	"net/http"
)

type ctxKey struct{}

// RequestIDHeaders are read, in order, for an incoming request id: Railway's
// edge sets the first one.
var requestIDHeaders = [...]string{"X-Railway-Request-Id", "X-Request-Id"}

// RequestID returns the request id stored by Middleware, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(ctxKey{}).(string)
	return id
}

// IncomingID is the request id a request carries, or a new one.
func IncomingID(r *http.Request) string {
	for _, h := range requestIDHeaders {
		if id := r.Header.Get(h); id != "" && len(id) <= 128 {
			return id
		}
	}
	return rand.Text()
}

// Middleware gives every request a request id, from the headers or new,
// stores it in the context and echoes it as X-Request-Id.
func Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := IncomingID(r)
		w.Header().Set("X-Request-Id", id)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, id)))
	})
}
