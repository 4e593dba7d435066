// Package accesslog writes one structured log line per RPC, with the request
// id that ties it to the platform's own logs, and never the message text or
// a token.
package accesslog

import (
	"context"
	"crypto/rand"
	"log/slog"
	"net/http"
	"time"

	"connectrpc.com/connect"
	"github.com/agentgate/agentgate/internal/clip"
	"github.com/agentgate/agentgate/internal/logattr"
	"github.com/agentgate/agentgate/internal/metrics"
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

// Interceptor logs each finished RPC: procedure, protocol, code, duration,
// peer, request id and agent id. Failures other than client mistakes are
// logged at warn. bridged tells the calls the WebSocket bridge makes (from
// their context, which only the server sets), so that they are logged as
// protocol "websocket"; nil means none are.
func Interceptor(log *slog.Logger, bridged func(context.Context) bool) connect.Interceptor {
	if bridged == nil {
		bridged = func(context.Context) bool { return false }
	}
	return &interceptor{log: log, bridged: bridged}
}

type interceptor struct {
	log     *slog.Logger
	bridged func(context.Context) bool
}

type agentIDer interface{ GetAgentId() string }

func (i *interceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		start := time.Now()
		res, err := next(ctx, req)
		agentID := ""
		if m, ok := req.Any().(agentIDer); ok {
			agentID = m.GetAgentId()
		}
		i.write(ctx, req.Spec(), req.Peer(), req.Header(), agentID, start, err)
		return res, err
	}
}

func (i *interceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (i *interceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		start := time.Now()
		rc := &recordingConn{StreamingHandlerConn: conn}
		err := next(ctx, rc)
		i.write(ctx, conn.Spec(), conn.Peer(), conn.RequestHeader(), rc.agentID, start, err)
		return err
	}
}

// recordingConn remembers the agent id of the first request of a stream.
type recordingConn struct {
	connect.StreamingHandlerConn
	agentID string
}

func (c *recordingConn) Receive(m any) error {
	err := c.StreamingHandlerConn.Receive(m)
	if err == nil && c.agentID == "" {
		if a, ok := m.(agentIDer); ok {
			c.agentID = a.GetAgentId()
		}
	}
	return err
}

func (i *interceptor) write(ctx context.Context, spec connect.Spec, peer connect.Peer, h http.Header, agentID string, start time.Time, err error) {
	code := metrics.CodeName(err)
	level := slog.LevelInfo
	switch connect.CodeOf(err) {
	case connect.CodeInternal, connect.CodeUnknown, connect.CodeDataLoss:
		if err != nil {
			level = slog.LevelWarn
		}
	}
	id := RequestID(ctx)
	if id == "" {
		id = h.Get("X-Request-Id")
	}
	// The agent id and the request id come from the client and are logged
	// whether or not they are valid, and the error may quote the client's
	// input: each is cut (package clip), so that one request writes one
	// line's worth.
	attrs := []slog.Attr{
		slog.String("procedure", spec.Procedure),
		slog.String("protocol", i.protocolName(ctx, peer)),
		slog.String("code", code),
		logattr.Millis("duration_ms", time.Since(start)),
		slog.String("peer", peer.Addr),
		slog.String("request_id", clip.Value(id)),
	}
	if agentID != "" {
		attrs = append(attrs, slog.String("agent", clip.Value(agentID)))
	}
	if err != nil {
		attrs = append(attrs, slog.String("error", clip.Message(err.Error())))
	}
	i.log.LogAttrs(ctx, level, "rpc", attrs...)
}

func (i *interceptor) protocolName(ctx context.Context, peer connect.Peer) string {
	if i.bridged(ctx) {
		return "websocket"
	}
	return peer.Protocol
}
