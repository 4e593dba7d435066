package bench

import (
	"context"
	"fmt"
	"strings"
)

// Plan is what a comparison runs: the modes and their settings.
type Plan struct {
	RTT         WSRTTConfig
	Idle        WSIdleConfig
	Fanout      WSFanoutConfig
	RPC         RPCConfig
	StartupRuns int
	// Redis adds ws-rtt-redis: the gateway on Redis against the gateway on
	// memory.
	Redis bool
	// OnRedis runs the gateway on Redis in every mode, against the same
	// bare servers.
	OnRedis bool
}

// ModeNames are the modes a comparison knows, in the order they run.
// "rpc" stands for its three protocols.
// "ws-fanout-whole" is ws-fanout with sockets that skip deltas.
// "door-agui" and "door-aisdk" measure a frontend door against the
// WebSocket, both on the gateway, for the same work: a message and its
// streamed reply.
var ModeNames = []string{"ws-rtt", "ws-idle", "ws-fanout", "ws-fanout-whole", "rpc", "startup", "door-agui", "door-aisdk", "ws-rtt-redis"}

// Modes returns the comparisons named in names (ModeNames when empty), with
// the targets as their checks.
func (s *Setup) Modes(p Plan, names []string) ([]Mode, error) {
	if len(names) == 0 {
		names = ModeNames
		if !p.Redis {
			names = names[:len(names)-1]
		}
	}
	var out []Mode
	for _, n := range names {
		switch n {
		case "ws-rtt":
			out = append(out, s.rttMode(n, Bare, p.RTT))
		case "ws-rtt-redis":
			m := s.rttMode(n, Gateway, p.RTT)
			m.A = GatewayRedis
			m.Checks = []Check{{Metric: "rtt_per_s", Ratio: true, Limit: 0.3}}
			out = append(out, m)
		case "ws-idle":
			cfg := p.Idle
			out = append(out, Mode{
				Name: n, A: Gateway, B: Bare,
				Run: func(ctx context.Context, which string) (*Result, error) {
					return s.Run(ctx, which, func(ctx context.Context, t Target) (*Result, error) { return WSIdle(ctx, t, cfg) })
				},
				Show: []string{"kb_per_conn", "rss_after_mb", "open", "dial_per_s", "errors"},
				Checks: []Check{
					{Metric: "kb_per_conn", AtMost: true, Limit: 16},
					{Metric: "errors", AtMost: true, Limit: 0},
				},
			})
		case "ws-fanout", "ws-fanout-whole":
			cfg := p.Fanout
			cfg.SkipDeltas = n == "ws-fanout-whole"
			out = append(out, Mode{
				Name: n, A: Gateway, B: Bare,
				Run: func(ctx context.Context, which string) (*Result, error) {
					return s.Run(ctx, which, func(ctx context.Context, t Target) (*Result, error) { return WSFanout(ctx, t, cfg) })
				},
				Show: []string{"deliveries_per_s", "frames_per_s", "messages_per_s", "p50_ms", "p99_ms", "max_ms", "server_cpu_pct", "server_cpu_us_per_op", "errors"},
				Checks: []Check{
					{Metric: "deliveries_per_s", Ratio: true, Limit: 0.7},
					{Metric: "p99_ms", Ratio: true, AtMost: true, Limit: 1.5},
				},
			})
		case "rpc":
			for _, proto := range Protocols {
				cfg := p.RPC
				cfg.Protocol = proto
				out = append(out, Mode{
					Name: "rpc-" + proto, A: Gateway, B: Bare,
					Run: func(ctx context.Context, which string) (*Result, error) {
						return s.Run(ctx, which, func(ctx context.Context, t Target) (*Result, error) { return RPC(ctx, t, cfg) })
					},
					Show:   []string{"req_per_s", "p50_ms", "p99_ms", "server_cpu_pct", "server_cpu_us_per_op", "errors"},
					Checks: []Check{{Metric: "req_per_s", Ratio: true, Limit: 0.6}},
				})
			}
		case "door-agui", "door-aisdk":
			out = append(out, s.doorMode(n, p.RTT))
		case "startup":
			runs := p.StartupRuns
			out = append(out, Mode{
				Name: n, A: Gateway, B: Bare,
				Run: func(ctx context.Context, which string) (*Result, error) {
					return s.Startup(ctx, which, runs)
				},
				Show: []string{"health_ms", "stop_ms", "health_max_ms", "stop_max_ms"},
				Checks: []Check{
					{Metric: "health_ms", Ratio: true, AtMost: true, Limit: 2},
					{Metric: "stop_ms", AtMost: true, Limit: 100},
				},
			})
		default:
			return nil, fmt.Errorf("unknown mode %q; the modes are %s", n, strings.Join(ModeNames, ", "))
		}
	}
	if p.OnRedis {
		for i := range out {
			if out[i].A == Gateway {
				out[i].A = GatewayRedis
			}
		}
	}
	return out, nil
}

// doorMode compares a frontend door (A) with the WebSocket (B), both on
// the gateway: A and B name the doors, and each run starts the gateway.
func (s *Setup) doorMode(name string, rtt WSRTTConfig) Mode {
	door := DoorAGUI
	if name == "door-aisdk" {
		door = DoorAISDK
	}
	return Mode{
		Name: name, A: door, B: DoorWebSocket,
		Run: func(ctx context.Context, which string) (*Result, error) {
			cfg := DoorConfig{Door: which, Conns: rtt.Conns, Warmup: rtt.Warmup, Duration: rtt.Duration}
			return s.Run(ctx, Gateway, func(ctx context.Context, t Target) (*Result, error) { return Doors(ctx, t, cfg) })
		},
		Show: []string{"replies_per_s", "p50_ms", "p99_ms", "first_delta_p50_ms", "first_delta_p99_ms", "server_cpu_pct", "server_cpu_us_per_op", "errors"},
		Checks: []Check{
			{Metric: "replies_per_s", Ratio: true, Limit: 0.5},
			{Metric: "errors", AtMost: true, Limit: 0},
		},
	}
}

func (s *Setup) rttMode(name, b string, cfg WSRTTConfig) Mode {
	return Mode{
		Name: name, A: Gateway, B: b,
		Run: func(ctx context.Context, which string) (*Result, error) {
			return s.Run(ctx, which, func(ctx context.Context, t Target) (*Result, error) { return WSRTT(ctx, t, cfg) })
		},
		Show: []string{"rtt_per_s", "p50_ms", "p90_ms", "p99_ms", "max_ms", "server_cpu_pct", "server_cpu_us_per_op", "errors"},
		Checks: []Check{
			{Metric: "rtt_per_s", Ratio: true, Limit: 0.5},
			{Metric: "p99_ms", Ratio: true, AtMost: true, Limit: 3},
		},
	}
}
