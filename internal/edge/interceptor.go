package edge

import (
	"context"
	"errors"

	"connectrpc.com/connect"
)

// Interceptor is the policy of the Connect handler's calls, which Protect
// authenticated already: it observes every call (metrics and the
// access-log line, as for a socket's frames), admits streams under
// MAX_CONNECTIONS and CONNECTION_RATE as sockets are (a refused stream
// ends at once with resource_exhausted), and authorizes every call on the
// agent its request names, a stream's on its first request. A refusal is
// permission_denied, with the message of the *identity.Denied.
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
		ac := &authorizingConn{StreamingHandlerConn: conn, p: p, ctx: ctx, procedure: c.Procedure}
		var err error
		if release, reason, ok := p.gate.Enter(); ok {
			err = next(ctx, ac)
			release()
		} else {
			err = p.streamRefused(c, reason)
		}
		p.end(ctx, c, ac.agentID, start, err)
		return err
	}
}

// streamRefused observes a stream refused at the connection limits and
// returns the error it ends with.
func (p *Policy) streamRefused(c Call, reason string) error {
	p.m.Refused(reason, string(c.Door))
	p.log.Warn("stream refused", "reason", reason, "procedure", c.Procedure, "door", string(c.Door))
	return connect.NewError(connect.CodeResourceExhausted, errors.New("server is at its connection limit ("+reason+"); retry later"))
}

// authorizingConn authorizes a stream on the agent its first request
// names: the stream's handler gets the refusal from Receive, and ends with
// it. It remembers the agent for the access log.
type authorizingConn struct {
	connect.StreamingHandlerConn
	p         *Policy
	ctx       context.Context
	procedure string
	agentID   string
	received  bool
}

func (c *authorizingConn) Receive(m any) error {
	if err := c.StreamingHandlerConn.Receive(m); err != nil {
		return err
	}
	if c.received {
		return nil
	}
	c.received = true
	c.agentID = agentIDOf(m)
	return c.p.authorizeCall(c.ctx, c.procedure, c.agentID)
}
