package bench

import (
	"context"
	"maps"
	"os"
	"testing"
	"time"

	"github.com/agentgate/agentgate/internal/apptest"
	"github.com/agentgate/agentgate/internal/redistest"
)

// The benchmarks below run one mode against the gateway in this process, so
// that `go test -bench -cpuprofile` (or -memprofile) profiles the server's
// side of it; the tool's client side shows in the profile too, under
// internal/bench. Each runs its mode once for benchDuration, whatever
// -benchtime says, and reports the mode's figures. server_cpu_us_per_op is
// the process's CPU per operation here: the tool's client side is in it,
// the same for both sides of a comparison of two trees.
//
//	go test -run '^$' -bench GatewayWSRTT -cpuprofile cpu.out ./internal/bench
//	go tool pprof -top -focus 'agentgate/internal/(bridge|agent|engine|api)' cpu.out

const benchDuration = 3 * time.Second

// benchEnv lifts the abuse limits as the tool does for the binary.
var benchEnv = map[string]string{"WS_FRAME_RATE": "1000000", "CONNECTION_RATE": "1000000", "MAX_CONNECTIONS": "100000"}

func benchGateway(b *testing.B, run Runner, env ...string) {
	e := maps.Clone(benchEnv)
	for i := 0; i+1 < len(env); i += 2 {
		e[env[i]] = env[i+1]
	}
	srv := apptest.Start(b, e, apptest.Quiet())
	t := Target{Name: Gateway, Addr: srv.Addr, Project: true, PID: os.Getpid()}
	b.ResetTimer()
	for range b.N {
		r, err := run(context.Background(), t)
		if err != nil {
			b.Fatal(err)
		}
		if r.Errors > 0 {
			b.Errorf("%d errors: %v", r.Errors, r.Notes)
		}
		for _, k := range r.Names() {
			b.ReportMetric(r.Metrics[k], k)
		}
	}
}

func BenchmarkGatewayWSRTT(b *testing.B) {
	benchGateway(b, func(ctx context.Context, t Target) (*Result, error) {
		return WSRTT(ctx, t, WSRTTConfig{Duration: benchDuration})
	})
}

// BenchmarkGatewayWSRTTRedis is ws-rtt on the Redis engine, against a
// throwaway redis-server.
func BenchmarkGatewayWSRTTRedis(b *testing.B) {
	url := redistest.Start(b).URL()
	benchGateway(b, func(ctx context.Context, t Target) (*Result, error) {
		return WSRTT(ctx, t, WSRTTConfig{Duration: benchDuration})
	}, "REDIS_URL", url)
}

func BenchmarkGatewayWSFanout(b *testing.B) {
	benchGateway(b, func(ctx context.Context, t Target) (*Result, error) {
		return WSFanout(ctx, t, WSFanoutConfig{Duration: benchDuration})
	})
}

// BenchmarkGatewayWSFanoutWhole is ws-fanout with ?deltas=false.
func BenchmarkGatewayWSFanoutWhole(b *testing.B) {
	benchGateway(b, func(ctx context.Context, t Target) (*Result, error) {
		return WSFanout(ctx, t, WSFanoutConfig{Duration: benchDuration, SkipDeltas: true})
	})
}

func BenchmarkGatewayRPC(b *testing.B) {
	benchGateway(b, func(ctx context.Context, t Target) (*Result, error) {
		return RPC(ctx, t, RPCConfig{Duration: benchDuration})
	})
}
