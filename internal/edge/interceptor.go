package edge

import (
	"context"
	"errors"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// Interceptor is the policy of the Connect handler's calls, which Protect
// authenticated already: it observes every call (metrics and the
// access-log line, as for a socket's frames), authorizes every call on
// the agent its request names, a stream's on its first request, read
// before the stream is admitted, admits streams under MAX_CONNECTIONS and
// CONNECTION_RATE as sockets are and under the user's
// USER_MAX_CONNECTIONS (a refused stream ends at once with
// resource_exhausted), and counts every message sent
// (a SendMessage, each message of a Converse) against the user's
// USER_MESSAGE_RATE. A refusal is permission_denied, with the message of
// the *identity.Denied, or resource_exhausted with Retry-After. A stream
// ends with unauthenticated once its token has expired (see Expiring).
func (p *Policy) Interceptor() connect.Interceptor { return interceptor{p} }

type interceptor struct{ p *Policy }

func (i interceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	p := i.p
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		start := p.begin()
		c := Call{Door: callDoor(req.Peer().Protocol), Procedure: req.Spec().Procedure, Peer: req.Peer().Addr}
		agentID := agentIDOf(req.Any())
		var res connect.AnyResponse
		err := p.authorizeCall(ctx, c.Procedure, agentID)
		if err == nil {
			err = p.limitMessage(ctx, c.Door, c.Procedure, req.Any())
		}
		if err == nil {
			res, err = next(ctx, req)
		}
		p.end(ctx, c, agentID, start, err)
		return res, err
	}
}

func (i interceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (i interceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	p := i.p
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		start := p.begin()
		c := Call{Door: callDoor(conn.Peer().Protocol), Procedure: conn.Spec().Procedure, Peer: conn.Peer().Addr}
		ac := &authorizingConn{StreamingHandlerConn: conn, p: p, ctx: ctx, door: c.Door, procedure: c.Procedure}
		err := p.serveStream(ctx, c, ac, next)
		p.end(ctx, c, ac.agentID, start, err)
		return err
	}
}

// serveStream authorizes a stream, admits it and serves it with next in a
// context that ends when its token expires, which it then ends with:
// unauthenticated. The stream's first request, which names its agent, is
// read before anything is taken, so that a stream refused its agent costs
// no place under MAX_CONNECTIONS or USER_MAX_CONNECTIONS, nor a
// CONNECTION_RATE token; then its token's time, then the places. A
// stream whose first request cannot be read (the client sent none) is
// served at once: its handler ends with that error.
func (p *Policy) serveStream(ctx context.Context, c Call, ac *authorizingConn, next connect.StreamingHandlerFunc) error {
	if ac.readAhead() {
		if ac.firstErr != nil {
			return next(ctx, ac)
		}
		if err := ac.authorize(); err != nil {
			return err
		}
	}
	ctx, cancel := p.Expiring(ctx)
	defer cancel()
	if e := ExpiredOf(ctx); e != nil {
		p.m.Refused("expired_token", string(c.Door))
		return e.ConnectError() // it would end at once
	}
	release, reason, ok := p.gate.Enter()
	if !ok {
		return p.streamRefused(c, reason)
	}
	defer release()
	out, err := p.enterStream(ctx, c.Door)
	if err != nil {
		return err
	}
	defer out()
	ac.ctx = ctx
	err = next(ctx, ac)
	if e := ExpiredOf(ctx); e != nil && err != nil {
		return e.ConnectError()
	}
	return err
}

// streamRefused observes a stream refused at the connection limits and
// returns the error it ends with.
func (p *Policy) streamRefused(c Call, reason string) error {
	p.m.Refused(reason, string(c.Door))
	p.log.Warn("stream refused", "reason", reason, "procedure", c.Procedure, "door", string(c.Door))
	return connect.NewError(connect.CodeResourceExhausted, errors.New("server is at its connection limit ("+reason+"); retry later"))
}

// authorizingConn authorizes a stream on the agent its first request
// names, and counts every message its requests send: the stream's handler
// gets a refusal from Receive, and ends with it. It remembers the agent
// for the access log.
//
// The first request is read ahead of the handler where the method's input
// type is known (readAhead), so that the stream is authorized before it
// is admitted; the handler's first Receive then gets a copy of it.
type authorizingConn struct {
	connect.StreamingHandlerConn
	p         *Policy
	ctx       context.Context
	door      Door
	procedure string
	agentID   string
	// authorized: the stream was authorized on its first request.
	authorized bool
	// ahead: first and firstErr hold what the handler's first Receive
	// gets, read ahead.
	ahead    bool
	first    proto.Message
	firstErr error
}

// readAhead reads the stream's first request into first (and the error
// that read ended with into firstErr), and reports whether it could: the
// method's input type is known from its schema, as the generated handlers
// give it.
func (c *authorizingConn) readAhead() bool {
	md, ok := c.Spec().Schema.(protoreflect.MethodDescriptor)
	if !ok {
		return false
	}
	mt, err := protoregistry.GlobalTypes.FindMessageByName(md.Input().FullName())
	if err != nil {
		return false
	}
	c.first = mt.New().Interface()
	c.firstErr = c.StreamingHandlerConn.Receive(c.first)
	c.ahead = true
	return true
}

// authorize authorizes the stream on the agent its first request (read
// ahead) names: nil, or the Connect error to end the stream with.
func (c *authorizingConn) authorize() error {
	c.authorized = true
	c.agentID = agentIDOf(c.first)
	return c.p.authorizeCall(c.ctx, c.procedure, c.agentID)
}

func (c *authorizingConn) Receive(m any) error {
	switch {
	case c.ahead:
		c.ahead = false
		if c.firstErr != nil {
			return c.firstErr
		}
		dst, ok := m.(proto.Message)
		if !ok {
			return errWrongType
		}
		proto.Reset(dst)
		proto.Merge(dst, c.first)
		c.first = nil
	default:
		if err := c.StreamingHandlerConn.Receive(m); err != nil {
			return err
		}
	}
	if !c.authorized {
		c.authorized = true
		c.agentID = agentIDOf(m)
		if err := c.p.authorizeCall(c.ctx, c.procedure, c.agentID); err != nil {
			return err
		}
	}
	return c.p.limitMessage(c.ctx, c.door, c.procedure, m)
}
