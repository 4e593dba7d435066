package bridge

import (
	"context"
	"errors"
	"strconv"

	"connectrpc.com/connect"
	"github.com/agentgate/agentgate/internal/edge"
	"google.golang.org/protobuf/proto"
)

// A call reaches the service by its function (Config.Methods) through the
// edge (edge.Policy.Unary and Stream): the request the session decoded from
// the frame is passed as it is, and each response is encoded once, as the
// frame's JSON. The edge authorizes the call, counts and times it, writes
// its access-log line (door websocket), and turns a panic of the service
// into an internal error; its errors are the service's Connect errors
// (api.ToConnect), whose code and message the error frame carries.

// runUnary performs a unary call and returns its final frame.
func (s *session) runUnary(c *call, req proto.Message) *[]byte {
	res, err := s.rpc.edge.Unary(c.ctx, s.edgeCall(c), c.m.impl, req)
	if err != nil {
		return errorFrame(c, s.outcome(c, wireError(err)))
	}
	b, e := s.response(c, res)
	if e != nil {
		return errorFrame(c, e)
	}
	return b
}

// runStream performs a server stream, sending a frame per response as it
// comes, and returns its final frame: end, or the error it ended with.
func (s *session) runStream(c *call, req proto.Message) *[]byte {
	send := func(res proto.Message) error {
		if res == nil {
			return nil // the stream is live: the socket has nothing to say
		}
		b, e := s.response(c, res)
		if e != nil {
			return connect.NewError(connect.CodeInternal, errors.New(e.Message))
		}
		if !s.sink.sendStream(c.ctx, b) {
			return errStreamClosed
		}
		return nil
	}
	err := s.rpc.edge.Stream(c.ctx, s.edgeCall(c), c.m.impl, req, send)
	if e := s.outcome(c, wireError(err)); e != nil {
		return errorFrame(c, e)
	}
	b := getBuf()
	*b = appendEnd(*b, c.prefix)
	return b
}

// edgeCall is where the call comes from, for the edge.
func (s *session) edgeCall(c *call) edge.Call {
	return edge.Call{Door: edge.WebSocket, Procedure: c.m.procedure, Peer: s.peer}
}

// errStreamClosed stops a stream whose frames can no longer be sent: the
// socket closed, its queue overflowed, or the client canceled the call.
// For the service and the access log, the client went away.
var errStreamClosed = connect.NewError(connect.CodeCanceled, errors.New("bridge: socket closed"))

// response makes the response frame of a call.
func (s *session) response(c *call, msg proto.Message) (*[]byte, *rpcError) {
	b := getBuf()
	*b = append(append(*b, c.prefix...), `"response":`...)
	var err error
	if *b, err = s.rpc.json.Append(*b, msg); err != nil {
		putBuf(b)
		return nil, &rpcError{Code: connect.CodeInternal.String(), Message: "the response cannot be encoded as JSON"}
	}
	*b = append(*b, '}')
	return b, nil
}

// rpcError is how a call failed, with its Connect code name, and when to
// retry in seconds if the error says (its Retry-After metadata: a user
// over USER_MESSAGE_RATE), else 0.
type rpcError struct {
	Code       string
	Message    string
	RetryAfter int
}

// wireError is the error frame's code and message of a call's error: a
// Connect error's own, a context's end as its code, anything else an
// internal error that reveals nothing. Nil for nil.
func wireError(err error) *rpcError {
	var ce *connect.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ce):
		retry, _ := strconv.Atoi(ce.Meta().Get("Retry-After"))
		return &rpcError{Code: ce.Code().String(), Message: ce.Message(), RetryAfter: max(retry, 0)}
	case errors.Is(err, context.Canceled):
		return &rpcError{Code: connect.CodeCanceled.String(), Message: err.Error()}
	case errors.Is(err, context.DeadlineExceeded):
		return &rpcError{Code: connect.CodeDeadlineExceeded.String(), Message: err.Error()}
	}
	return &rpcError{Code: connect.CodeInternal.String(), Message: "internal error"}
}
