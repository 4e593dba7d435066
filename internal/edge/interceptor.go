package edge

import (
	"context"
	"errors"

	"connectrpc.com/connect"
)

// Interceptor is the policy of the Connect handler's calls, which Protect
// authenticated already: it observes every call (metrics and the
// access-log line, as for a socket's frames), admits streams under
// MAX_CONNECTIONS and CONNECTION_RATE as sockets are and under the user's
// USER_MAX_CONNECTIONS (a refused stream ends at once with
// resource_exhausted), authorizes every call on the agent its request
// names, a stream's on its first request, and counts every message sent
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

// serveStream admits a stream and serves it with next in a context that
// ends when its token expires, which it then ends with: unauthenticated.
func (p *Policy) serveStream(ctx context.Context, c Call, ac *authorizingConn, next connect.StreamingHandlerFunc) error {
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
	ctx, cancel := p.Expiring(ctx)
	defer cancel()
	if e := ExpiredOf(ctx); e != nil {
		p.m.Refused("expired_token", string(c.Door))
		return e.ConnectError() // it would end at once
	}
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
type authorizingConn struct {
	connect.StreamingHandlerConn
	p         *Policy
	ctx       context.Context
	door      Door
	procedure string
	agentID   string
	received  bool
}

func (c *authorizingConn) Receive(m any) error {
	if err := c.StreamingHandlerConn.Receive(m); err != nil {
		return err
	}
	if !c.received {
		c.received = true
		c.agentID = agentIDOf(m)
		if err := c.p.authorizeCall(c.ctx, c.procedure, c.agentID); err != nil {
			return err
		}
	}
	return c.p.limitMessage(c.ctx, c.door, c.procedure, m)
}
