package bench

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"connectrpc.com/connect"
	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/agentgate/agentgate/gen/agent/v1/agentv1connect"
)

// Protocols are the protocols rpc measures, by their flag names.
var Protocols = []string{"connect", "grpc", "grpcweb"}

// RPCConfig configures rpc.
type RPCConfig struct {
	// Protocol is connect (the default), grpc or grpcweb; all use the
	// protobuf codec over h2c.
	Protocol string
	// Callers is how many calls are in flight at once, each caller on its
	// own agent, all over one HTTP/2 connection. Default 64.
	Callers int
	// Warmup runs before Duration and is not counted. Default 1s.
	Warmup time.Duration
	// Duration is the measured time. Default 5s.
	Duration time.Duration
}

func (c RPCConfig) withDefaults() RPCConfig {
	if c.Protocol == "" {
		c.Protocol = "connect"
	}
	if c.Callers <= 0 {
		c.Callers = 64
	}
	c.Warmup, c.Duration = measuredTimes(c.Warmup, c.Duration)
	return c
}

// bearer sends token as the calls' bearer token.
func bearer(token string) connect.UnaryInterceptorFunc {
	return func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			req.Header().Set("Authorization", "Bearer "+token)
			return next(ctx, req)
		}
	}
}

// h2cClient speaks HTTP/2 with prior knowledge to http:// URLs, as gRPC
// clients do.
func h2cClient() *http.Client {
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	return &http.Client{Transport: &http.Transport{Protocols: &p}}
}

// RPC runs rpc: Callers goroutines call SendMessage back to back. Figures:
// req_per_s and the latency percentiles.
func RPC(ctx context.Context, t Target, cfg RPCConfig) (*Result, error) {
	cfg = cfg.withDefaults()
	var opts []connect.ClientOption
	switch cfg.Protocol {
	case "connect":
	case "grpc":
		opts = append(opts, connect.WithGRPC())
	case "grpcweb":
		opts = append(opts, connect.WithGRPCWeb())
	default:
		return nil, fmt.Errorf("protocol %q: want connect, grpc or grpcweb", cfg.Protocol)
	}
	r := newResult("rpc-"+cfg.Protocol, t.Name)
	hc := h2cClient()
	defer hc.CloseIdleConnections()
	if t.Token != "" {
		opts = append(opts, connect.WithInterceptors(bearer(t.Token)))
	}
	client := agentv1connect.NewAgentServiceClient(hc, "http://"+t.Addr, opts...)
	// One call first, so that the connection exists before the clock runs.
	if _, err := client.SendMessage(ctx, connect.NewRequest(&agentv1.SendMessageRequest{AgentId: "rpc-warm", Text: "hello"})); err != nil {
		return nil, fmt.Errorf("first call: %w", err)
	}
	start := time.Now()
	from, until := start.Add(cfg.Warmup), start.Add(cfg.Warmup+cfg.Duration)
	all := &Samples{}
	var errs errorTally
	var wg sync.WaitGroup
	for i := range cfg.Callers {
		wg.Go(func() {
			s := &Samples{}
			defer all.Merge(s)
			req := &agentv1.SendMessageRequest{AgentId: "rpc-" + strconv.Itoa(i)}
			for n := 0; ctx.Err() == nil; n++ {
				sent := time.Now()
				if !sent.Before(until) {
					return
				}
				req.Text = "hello " + strconv.Itoa(n)
				_, err := client.SendMessage(ctx, connect.NewRequest(req))
				if err != nil {
					errs.add(err)
					if errors.Is(err, context.Canceled) {
						return
					}
					continue
				}
				if !sent.Before(from) {
					s.Add(time.Since(sent))
				}
			}
		})
	}
	measureWindow(ctx, t.PID, r, from, until, &wg, all)
	errs.report(r)
	r.Set("callers", float64(cfg.Callers))
	r.Set("req_per_s", float64(all.Count())/cfg.Duration.Seconds())
	latencyMetrics(r, "", all)
	return r, nil
}
