package edge

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"connectrpc.com/connect"
	"github.com/agentgate/agentgate/internal/accesslog"
	"github.com/agentgate/agentgate/internal/clip"
	"github.com/agentgate/agentgate/internal/identity"
	"github.com/agentgate/agentgate/internal/logattr"
	"github.com/agentgate/agentgate/internal/metrics"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Call is where a call came from, for its authorization and its access-log
// line.
type Call struct {
	// Door is the way in: connect, grpc, grpcweb or websocket.
	Door Door
	// Procedure is the full name, /package.Service/Method.
	Procedure string
	// Peer is the client's address.
	Peer string
}

// Method is one unary or server-streaming method of a service as it is
// called in process, over its messages: the socket decodes a frame's
// request into the method's input type and calls it through Policy.Unary
// or Policy.Stream. Exactly one of Unary and Stream is set; Unary and
// ServerStream make them from the functions of the generated types.
type Method struct {
	Unary func(ctx context.Context, req proto.Message) (proto.Message, error)
	// Stream sends each response with send. It may send nil first, once
	// the stream is live (Connect sends its response headers then); a
	// caller that has nothing to say then ignores it.
	Stream func(ctx context.Context, req proto.Message, send func(proto.Message) error) error
}

// Unary makes the Method of a unary function of the generated types.
func Unary[Req, Res proto.Message](f func(context.Context, Req) (Res, error)) Method {
	return Method{Unary: func(ctx context.Context, req proto.Message) (proto.Message, error) {
		r, ok := req.(Req)
		if !ok {
			return nil, errWrongType
		}
		res, err := f(ctx, r)
		if err != nil {
			return nil, err
		}
		return res, nil
	}}
}

// ServerStream makes the Method of a server-streaming function of the
// generated types.
func ServerStream[Req, Res proto.Message](f func(context.Context, Req, func(Res) error) error) Method {
	return Method{Stream: func(ctx context.Context, req proto.Message, send func(proto.Message) error) error {
		r, ok := req.(Req)
		if !ok {
			return errWrongType
		}
		var none Res
		return f(ctx, r, func(res Res) error {
			if any(res) == any(none) {
				return send(nil)
			}
			return send(res)
		})
	}}
}

// errWrongType is a request of another type than the method's: a bug of
// the caller, which decodes the request from the method's descriptor.
var errWrongType = connect.NewError(connect.CodeInternal, errors.New("internal error: a request of the wrong type"))

// Unary calls m.Unary with req through the policy, for a call made in
// process: it authorizes the caller in ctx for c.Procedure on the agent
// req names, counts the message it sends, if it sends one, against the
// caller's USER_MESSAGE_RATE, counts and times the call, turns a panic into an internal
// error, and writes the call's access-log line, as Interceptor does for a
// Connect call.
func (p *Policy) Unary(ctx context.Context, c Call, m Method, req proto.Message) (res proto.Message, err error) {
	start, agentID := p.begin(), agentIDOf(req)
	defer p.finish(ctx, c, agentID, start, &err)
	if err = p.authorizeCall(ctx, c.Procedure, agentID); err != nil {
		return nil, err
	}
	if err = p.limitMessage(ctx, c.Door, c.Procedure, req); err != nil {
		return nil, err
	}
	return m.Unary(ctx, req)
}

// Stream is Unary for a server stream: m.Stream sends its responses with
// send. The stream is not a connection of its own (the socket that
// carries it was admitted and counted), and it ends with the socket.
func (p *Policy) Stream(ctx context.Context, c Call, m Method, req proto.Message, send func(proto.Message) error) (err error) {
	start, agentID := p.begin(), agentIDOf(req)
	defer p.finish(ctx, c, agentID, start, &err)
	if err = p.authorizeCall(ctx, c.Procedure, agentID); err != nil {
		return err
	}
	return m.Stream(ctx, req, send)
}

// finish ends a call made in process, deferred: a panic of the call
// becomes an internal error in *err, which reveals nothing, and is logged
// (a call made in process has no net/http to recover it, and one call must
// not take the process down); then the call is observed.
func (p *Policy) finish(ctx context.Context, c Call, agentID string, start time.Time, err *error) {
	if v := recover(); v != nil {
		p.log.Error("panic in a call", "procedure", c.Procedure, "door", string(c.Door), "panic", v)
		*err = connect.NewError(connect.CodeInternal, errors.New("internal error"))
	}
	p.end(ctx, c, agentID, start, *err)
}

// begin starts observing a call.
func (p *Policy) begin() time.Time {
	if p.m != nil {
		p.m.RPCInFlight.Inc()
	}
	return time.Now()
}

// end observes a finished call: its metrics, and its access-log line with
// the procedure, the door, the code, the duration, the peer, the request
// id, the agent, who called when authentication is on, why it was refused
// when it was, and the error. Failures other than the client's own are
// logged at warn. The agent id and the error may quote what the client
// sent: each is cut (package clip), so that one call writes one line's
// worth.
func (p *Policy) end(ctx context.Context, c Call, agentID string, start time.Time, err error) {
	d := time.Since(start)
	code := metrics.CodeName(err)
	if p.m != nil {
		p.m.RPCInFlight.Dec()
		p.m.ObserveRPC(c.Procedure, string(c.Door), code, d)
	}
	level := slog.LevelInfo
	switch connect.CodeOf(err) {
	case connect.CodeInternal, connect.CodeUnknown, connect.CodeDataLoss:
		if err != nil {
			level = slog.LevelWarn
		}
	}
	if !p.log.Enabled(ctx, level) {
		return
	}
	attrs := make([]slog.Attr, 0, 10)
	attrs = append(attrs,
		slog.String("procedure", c.Procedure),
		slog.String("protocol", string(c.Door)),
		slog.String("code", code),
		logattr.Millis("duration_ms", d),
		slog.String("peer", c.Peer),
		slog.String("request_id", clip.Value(accesslog.RequestID(ctx))),
	)
	if agentID != "" {
		attrs = append(attrs, slog.String("agent", clip.Value(agentID)))
	}
	if id := IdentityFrom(ctx); id.Kind != identity.KindAnonymous {
		attrs = append(attrs, slog.String("subject", clip.Value(id.Name())))
	}
	if reason := reasonOf(err); reason != "" {
		attrs = append(attrs, slog.String("reason", reason))
	}
	if err != nil {
		attrs = append(attrs, slog.String("error", clip.Message(err.Error())))
	}
	p.accessLine(ctx, level, "rpc", attrs)
}

// accessLine writes one access-log line, enabled at level. It hands the
// record to the logger's handler itself, without the caller's PC: slog's
// Logger walks the stack for it on every line (1 % of a socket's round
// trip), for a source that would name this file anyway, and the
// gateway's handlers write no source.
func (p *Policy) accessLine(ctx context.Context, level slog.Level, msg string, attrs []slog.Attr) {
	r := slog.NewRecord(time.Now(), level, msg, 0)
	r.AddAttrs(attrs...)
	_ = p.log.Handler().Handle(ctx, r)
}

type agentIDer interface{ GetAgentId() string }

// agentIDOf is the agent_id a request names: through the generated
// getter, or, for a message known by its descriptor only, its agent_id
// string field.
func agentIDOf(m any) string {
	if a, ok := m.(agentIDer); ok {
		return a.GetAgentId()
	}
	pm, ok := m.(proto.Message)
	if !ok {
		return ""
	}
	r := pm.ProtoReflect()
	f := r.Descriptor().Fields().ByName("agent_id")
	if f == nil || f.Kind() != protoreflect.StringKind || f.IsList() {
		return ""
	}
	return r.Get(f).String()
}
