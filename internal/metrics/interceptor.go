package metrics

import (
	"context"
	"errors"
	"time"

	"connectrpc.com/connect"
)

// Interceptor counts every RPC by procedure and code and times it. It runs
// for Connect, gRPC, gRPC-Web and bridged calls alike, since the bridge calls
// the same handler.
func (m *Metrics) Interceptor() connect.Interceptor { return &interceptor{m: m} }

type interceptor struct{ m *Metrics }

func (i *interceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		start := time.Now()
		i.m.RPCInFlight.Inc()
		res, err := next(ctx, req)
		i.m.RPCInFlight.Dec()
		i.observe(req.Spec().Procedure, start, err)
		return res, err
	}
}

func (i *interceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (i *interceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		start := time.Now()
		i.m.RPCInFlight.Inc()
		err := next(ctx, conn)
		i.m.RPCInFlight.Dec()
		i.observe(conn.Spec().Procedure, start, err)
		return err
	}
}

func (i *interceptor) observe(procedure string, start time.Time, err error) {
	i.m.RPCs.WithLabelValues(procedure, CodeName(err)).Inc()
	i.m.RPCDuration.WithLabelValues(procedure).Observe(time.Since(start).Seconds())
}

// CodeName is the Connect code of err in snake_case, "ok" for nil.
func CodeName(err error) string {
	if err == nil {
		return "ok"
	}
	var ce *connect.Error
	if errors.As(err, &ce) {
		return ce.Code().String()
	}
	if errors.Is(err, context.Canceled) {
		return connect.CodeCanceled.String()
	}
	return connect.CodeUnknown.String()
}
