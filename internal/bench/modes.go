package bench

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
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
	// Centrifugo adds, after each mode that has one, its comparison with
	// the Centrifugo peer (PeerModes).
	Centrifugo bool
	// PeerMessages is how many messages a fan-out against the peer sends,
	// lockstep, to each server. Default 200.
	PeerMessages int
	// Relay configures relay-1, relay-100 and relay-1000 (each sets
	// Replies).
	Relay RelayConfig
}

// peerFanoutLimit bounds in time a fan-out against the peer, which is
// bounded in messages: far more than 200 messages take on either server.
const peerFanoutLimit = 30 * time.Second

// PeerModes are the comparisons of the gateway with the Centrifugo peer
// that repeat mode, the same work on both servers: ws-rtt (publish with
// acknowledgement, unsubscribed and subscribed), ws-idle (subscribed
// sockets) and the two fan-outs (Centrifugo's one publication per message
// either way). With redis, each also with both servers on their Redis
// engines, on the one redis-server (mode/centrifugo+redis; not ws-idle,
// whose sockets hold no store's work).
func PeerModes(mode string, redis bool) []string {
	var names []string
	switch mode {
	case "ws-rtt":
		names = []string{"ws-rtt", "ws-rtt-sub"}
	case "ws-idle", "ws-fanout", "ws-fanout-whole", "ws-fanout-whole-batch":
		names = []string{mode}
	}
	var out []string
	for _, n := range names {
		out = append(out, n+"/"+Centrifugo)
	}
	if redis && mode != "ws-idle" {
		for _, n := range names {
			out = append(out, n+"/"+CentrifugoRedis)
		}
	}
	return out
}

// ModeNames are the modes a comparison knows, in the order they run.
// "rpc" stands for its three protocols.
// "ws-fanout-whole" is ws-fanout with sockets that skip deltas, and
// "ws-fanout-whole-batch" the same with sockets that take several frames
// to a message (?batch=true).
// "door-agui" and "door-aisdk" measure a frontend door against the
// WebSocket, both on the gateway, for the same work: a message and its
// streamed reply.
var ModeNames = []string{"ws-rtt", "ws-idle", "ws-fanout", "ws-fanout-whole", "ws-fanout-whole-batch", "rpc", "startup", "door-agui", "door-aisdk", "relay-1", "relay-100", "relay-1000", "ws-rtt-redis"}

// Modes returns the comparisons named in names (ModeNames when empty), with
// the targets as their checks.
func (s *Setup) Modes(p Plan, names []string) ([]Mode, error) {
	if len(names) == 0 {
		names = ModeNames
		if !p.Redis {
			names = names[:len(names)-1]
		}
	}
	if p.Centrifugo {
		names = withPeers(names, p.Redis)
	}
	var out []Mode
	for _, n := range names {
		if m, ok := s.peerMode(n, p); ok {
			out = append(out, m)
			continue
		}
		switch n {
		case "ws-rtt":
			out = append(out, s.rttMode(n, Bare, p.RTT))
		case "ws-rtt-redis":
			m := s.rttMode(n, Gateway, p.RTT)
			m.A = GatewayRedis
			m.Checks = []Check{{Metric: "rtt_per_s", Ratio: true, Limit: 0.3}}
			out = append(out, m)
		case "ws-idle":
			out = append(out, s.idleMode(n, Bare, p.Idle))
		case "ws-fanout", "ws-fanout-whole", "ws-fanout-whole-batch":
			cfg := p.Fanout
			cfg.SkipDeltas = n != "ws-fanout"
			cfg.Batch = n == "ws-fanout-whole-batch"
			m := s.fanoutMode(n, Bare, cfg)
			m.Checks = []Check{
				{Metric: "deliveries_per_s", Ratio: true, Limit: 0.7},
				{Metric: "p99_ms", Ratio: true, AtMost: true, Limit: 1.5},
			}
			out = append(out, m)
		case "rpc":
			for _, proto := range Protocols {
				cfg := p.RPC
				cfg.Protocol = proto
				out = append(out, Mode{
					Name: "rpc-" + proto, A: Gateway, B: Bare,
					Run: func(ctx context.Context, which string) (*Result, error) {
						return s.Run(ctx, which, func(ctx context.Context, t Target) (*Result, error) { return RPC(ctx, t, cfg) })
					},
					Show: []string{"req_per_s", "p50_ms", "p99_ms", "server_cpu_pct", "server_cpu_us_per_op", "errors"},
					// Issue 18: no regression below 0.9 × bare connect-go.
					Checks: []Check{{Metric: "req_per_s", Ratio: true, Limit: 0.9}},
				})
			}
		case "relay-1", "relay-100", "relay-1000":
			// One reply at a time gives the latency the gateway adds to the
			// first delta; 100 and 1,000 at once, its throughput.
			cfg := p.Relay
			cfg.Replies, _ = strconv.Atoi(strings.TrimPrefix(n, "relay-"))
			out = append(out, s.relayMode(n, cfg))
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
			return nil, fmt.Errorf("unknown mode %q; the modes are %s, and with the Centrifugo peer %s", n, strings.Join(ModeNames, ", "), strings.Join(slices.DeleteFunc(withPeers(ModeNames, true), func(m string) bool { return slices.Contains(ModeNames, m) }), ", "))
		}
	}
	if p.OnRedis {
		// Both sides on Redis: the gateway against the bare servers, and
		// against Centrifugo on its Redis engine.
		for i := range out {
			if out[i].A == Gateway {
				out[i].A = GatewayRedis
			}
			if out[i].B == Centrifugo {
				out[i].B = CentrifugoRedis
			}
		}
	}
	return out, nil
}

// withPeers adds each mode's PeerModes after it, unless named already.
func withPeers(names []string, redis bool) []string {
	var out []string
	for _, n := range names {
		out = append(out, n)
		for _, peer := range PeerModes(n, redis) {
			if !slices.Contains(names, peer) {
				out = append(out, peer)
			}
		}
	}
	return out
}

// peerMode returns the comparison with the Centrifugo peer called name, with
// the targets the team tracks against it, if name is one: the mode before
// the slash, with the gateway against Centrifugo, both on memory
// (mode/centrifugo) or both on Redis (mode/centrifugo+redis).
func (s *Setup) peerMode(name string, p Plan) (Mode, bool) {
	base, peer, ok := strings.Cut(name, "/")
	if !ok || (peer != Centrifugo && peer != CentrifugoRedis) {
		return Mode{}, false
	}
	onRedis := peer == CentrifugoRedis
	var m Mode
	switch base {
	case "ws-rtt", "ws-rtt-sub":
		cfg := p.RTT
		cfg.Subscribe = base == "ws-rtt-sub"
		m = s.rttMode(name, peer, cfg)
		switch {
		case onRedis && !cfg.Subscribe:
			m.Checks = []Check{{Metric: "server_cpu_us_per_op", Ratio: true, AtMost: true, Limit: 3}}
		case onRedis:
			m.Checks = nil // the target is on the round trip unsubscribed
		case cfg.Subscribe:
			m.Checks = []Check{{Metric: "server_cpu_us_per_op", Ratio: true, AtMost: true, Limit: 2.5}}
		default:
			m.Checks = []Check{{Metric: "server_cpu_us_per_op", Ratio: true, AtMost: true, Limit: 2}}
		}
	case "ws-idle":
		if onRedis {
			return Mode{}, false
		}
		m = s.idleMode(name, peer, p.Idle)
		m.Checks = []Check{
			{Metric: "kb_per_conn", AtMost: true, Limit: 12},
			{Metric: "kb_per_conn", Ratio: true, AtMost: true, Limit: 0.25},
			{Metric: "errors", AtMost: true, Limit: 0},
		}
	case "ws-fanout", "ws-fanout-whole", "ws-fanout-whole-batch":
		cfg := p.Fanout
		cfg.SkipDeltas = base != "ws-fanout"
		cfg.Batch = base == "ws-fanout-whole-batch"
		cfg.Messages = p.PeerMessages
		if cfg.Messages <= 0 {
			cfg.Messages = 200
		}
		cfg.Duration = max(cfg.Duration, peerFanoutLimit)
		m = s.fanoutMode(name, peer, cfg)
		// The team's targets are on the fan-out without deltas, with the
		// socket's default framing and with ?batch=true (Centrifugo batches
		// as it likes); the default one is shown for what the deltas cost
		// (on memory: its own).
		switch {
		case cfg.SkipDeltas && onRedis:
			m.Checks = []Check{
				{Metric: "deliveries_per_s", Ratio: true, Limit: 0.8},
				{Metric: "p99_ms", Ratio: true, AtMost: true, Limit: 1.25},
			}
		case cfg.SkipDeltas:
			m.Checks = []Check{
				{Metric: "deliveries_per_s", Ratio: true, Limit: 1},
				{Metric: "p99_ms", Ratio: true, AtMost: true, Limit: 1},
			}
		default:
			m.Checks = []Check{
				{Metric: "deliveries_per_s", Ratio: true, Limit: 0.9},
				{Metric: "p99_ms", Ratio: true, AtMost: true, Limit: 1.1},
			}
			if onRedis {
				m.Checks = nil
			}
		}
	default:
		return Mode{}, false
	}
	if onRedis {
		m.A = GatewayRedis
	}
	return m, true
}

func (s *Setup) idleMode(name, b string, cfg WSIdleConfig) Mode {
	return Mode{
		Name: name, A: Gateway, B: b,
		Run: func(ctx context.Context, which string) (*Result, error) {
			return s.Run(ctx, which, func(ctx context.Context, t Target) (*Result, error) { return WSIdle(ctx, t, cfg) })
		},
		Show: []string{"kb_per_conn", "rss_after_mb", "open", "dial_per_s", "errors"},
		Checks: []Check{
			{Metric: "kb_per_conn", AtMost: true, Limit: 16},
			{Metric: "errors", AtMost: true, Limit: 0},
		},
	}
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

// fanoutMode is a fan-out comparison, without checks.
func (s *Setup) fanoutMode(name, b string, cfg WSFanoutConfig) Mode {
	return Mode{
		Name: name, A: Gateway, B: b,
		Run: func(ctx context.Context, which string) (*Result, error) {
			return s.Run(ctx, which, func(ctx context.Context, t Target) (*Result, error) { return WSFanout(ctx, t, cfg) })
		},
		Show: []string{"deliveries_per_s", "frames_per_s", "messages_per_s", "p50_ms", "p99_ms", "max_ms", "server_cpu_pct", "server_cpu_us_per_op", "errors"},
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
