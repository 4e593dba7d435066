// Command agentbench measures the gateway against the bare libraries it is
// built on, on loopback, with every run bounded in time and count.
//
// Usage:
//
//	agentbench compare [flags]          every mode, gateway and bare alternately (A B A B), medians and ratios
//	agentbench compare -peers centrifugo
//	                                    also each socket mode against Centrifugo (-centrifugo or $CENTRIFUGO_BIN),
//	                                    and with -redis-url both on Redis (mode/centrifugo+redis)
//	agentbench ws-rtt|ws-idle|ws-fanout|rpc|startup [flags]
//	                                    one mode against one server (-target)
//	agentbench baseline-server [-small-buffers]
//	                                    the bare servers, on $PORT
//	agentbench jwt-issuer -alg ES256|RS256|HS256
//	                                    a key, its key set served, and a user's JWT of it, for -token
//
// The tool builds cmd/server into a temporary directory (or runs -server),
// starts every server itself as a child process, one at a time, and stops
// it with SIGTERM after each run. See docs/benchmarks.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/agentgate/agentgate/internal/bench"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `usage: agentbench <mode> [flags]

modes:
  compare (or all)  run each mode against the gateway and the bare servers, alternately
                    (-peers centrifugo: and the socket modes against Centrifugo too)
  ws-rtt            WebSocket SendMessage round trips
  ws-idle           RSS per idle subscribed WebSocket
  ws-fanout         one agent, many sockets: delivery rate and latency
                    (compare adds ws-fanout-whole: the same with ?deltas=false,
                    and ws-fanout-whole-batch: with ?deltas=false&batch=true)
  relay-1, relay-100, relay-1000
                    (compare only) replies streamed from a fast OpenAI-compatible
                    upstream through RESPONDER=openai to subscribed sockets, 1, 100
                    or 1,000 at once, against the upstream read directly by openai-go
  rpc               SendMessage over h2c in Connect, gRPC or gRPC-Web (-protocol)
  startup           exec to first healthy /health, SIGTERM to exit
                    (compare adds door-agui and door-aisdk: a message and its
                    streamed reply through a frontend door, against the WebSocket)
  baseline-server   serve the bare servers on $PORT (used by the other modes)
  jwt-issuer        mint a user's JWT for -token, and serve its key set (-alg)

Run "agentbench <mode> -h" for the flags.
`

// gatewayEnv lifts the gateway's abuse limits, which are policy rather than
// capacity: at their defaults (50 frames/s per socket, 500 new
// connections/s) they, not the server, would set every figure.
var gatewayEnv = []string{"WS_FRAME_RATE=1000000", "CONNECTION_RATE=1000000", "MAX_CONNECTIONS=100000"}

// options are the flags common to every measuring mode.
type options struct {
	server, redisURL, target, protocol, modes, jsonPath string
	centrifugo, peers, token                            string
	peerMessages, relayDeltas                           int
	env                                                 multiFlag
	duration, warmup, settle                            time.Duration
	conns, rttConns, idleConns, idleAgents, fanoutConns int
	callers, startupRuns, rounds, window                int
	subscribe, smallBuffers, onRedis, deltas, batch     bool
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func (o *options) register(fs *flag.FlagSet) {
	fs.StringVar(&o.server, "server", "", "gateway binary to run (default: go build ./cmd/server into a temporary directory)")
	fs.Var(&o.env, "env", "KEY=VALUE for the gateway's environment, repeatable (after the tool's own: "+strings.Join(gatewayEnv, " ")+")")
	fs.StringVar(&o.redisURL, "redis-url", os.Getenv("REDIS_URL"), "REDIS_URL for the agentgate+redis and centrifugo+redis targets, the ws-rtt-redis comparison and, with -peers centrifugo, the modes against Centrifugo on Redis")
	fs.StringVar(&o.token, "token", "", "the bearer token the gateway's sockets send as access_token and its rpc calls as Authorization, for a gateway run with AUTH_TOKENS or users' JWTs (-env; agentbench jwt-issuer mints one)")
	fs.StringVar(&o.target, "target", bench.Gateway, "server for a single mode: agentgate, agentgate+redis, bare, centrifugo or centrifugo+redis")
	fs.StringVar(&o.centrifugo, "centrifugo", os.Getenv("CENTRIFUGO_BIN"), "Centrifugo "+bench.CentrifugoVersion+" binary for the centrifugo target (scripts/bench.sh installs it)")
	fs.StringVar(&o.peers, "peers", "", "compare: peer servers to compare the socket modes with too; the one known is centrifugo")
	fs.IntVar(&o.relayDeltas, "relay-deltas", 100, "relay-100, relay-1000: content chunks of each streamed reply")
	fs.IntVar(&o.peerMessages, "peer-messages", 200, "compare: messages of a fan-out against a peer, lockstep (-duration, at least 30s, still bounds it)")
	fs.DurationVar(&o.duration, "duration", 5*time.Second, "measured time of each run")
	fs.DurationVar(&o.warmup, "warmup", time.Second, "unmeasured time before each ws-rtt and rpc run")
	fs.DurationVar(&o.settle, "settle", 2*time.Second, "ws-idle: how long the sockets are held before the server's RSS is read")
	fs.IntVar(&o.conns, "conns", 0, "for a single mode: its sockets or callers (overrides the mode's own flag)")
	fs.IntVar(&o.rttConns, "rtt-conns", 64, "ws-rtt sockets")
	fs.IntVar(&o.idleConns, "idle-conns", 10000, "ws-idle sockets")
	fs.IntVar(&o.idleAgents, "idle-agents", 0, "ws-idle: agents the sockets spread over (0: one per socket)")
	fs.IntVar(&o.fanoutConns, "fanout-conns", 1000, "ws-fanout sockets on the one agent")
	fs.IntVar(&o.window, "window", 1, "ws-fanout messages on their way at once")
	fs.BoolVar(&o.deltas, "deltas", true, "ws-fanout: false opens the gateway's sockets with ?deltas=false (compare: the ws-fanout-whole mode)")
	fs.BoolVar(&o.batch, "batch", false, "ws-fanout: open the gateway's sockets with ?batch=true, several frames to a message (compare: the ws-fanout-whole-batch mode)")
	fs.IntVar(&o.callers, "callers", 64, "rpc concurrent callers")
	fs.StringVar(&o.protocol, "protocol", "connect", "rpc protocol for the rpc mode: connect, grpc or grpcweb")
	fs.IntVar(&o.startupRuns, "startup-runs", 5, "startup: starts and stops per run")
	fs.BoolVar(&o.subscribe, "subscribe", false, "ws-rtt: leave the gateway's push on for the sending sockets")
	fs.BoolVar(&o.smallBuffers, "small-buffers", false, "bare WebSocket servers: 1 KiB buffers and a write buffer pool instead of gorilla's defaults")
	fs.BoolVar(&o.onRedis, "on-redis", false, "compare: run the gateway on Redis (-redis-url) in every mode, not only in ws-rtt-redis, and Centrifugo on its Redis engine")
	fs.IntVar(&o.rounds, "rounds", 2, "compare: runs of each server per mode")
	fs.StringVar(&o.modes, "modes", "", "compare: comma list of modes (default all; ws-rtt-redis when -redis-url is set)")
	fs.StringVar(&o.jsonPath, "json", "", "also write the results as JSON to this file")
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "help" || args[0] == "--help" {
		fmt.Fprint(stderr, usage)
		return 2
	}
	mode := args[0]
	if mode == "baseline-server" {
		return baselineServer(args[1:], stderr)
	}
	if mode == "jwt-issuer" {
		return jwtIssuer(args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("agentbench "+mode, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	o.register(fs)
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := measure(ctx, mode, o, stdout, stderr); err != nil {
		fmt.Fprintln(stderr, "agentbench:", err)
		return 1
	}
	return 0
}

func measure(ctx context.Context, mode string, o options, stdout, stderr io.Writer) error {
	if _, err := bench.RaiseFileLimit(); err != nil {
		fmt.Fprintln(stderr, "agentbench: cannot raise the file descriptor limit:", err)
	}
	dir, err := os.MkdirTemp("", "agentbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	setup, err := newSetup(ctx, o, dir, stderr)
	if err != nil {
		return err
	}
	plan := o.plan()
	var modes []bench.Mode
	switch mode {
	case "compare", "all":
		var names []string
		if o.modes != "" {
			names = strings.Split(o.modes, ",")
		}
		if modes, err = setup.Modes(plan, names); err != nil {
			return err
		}
		rep, err := bench.Compare(ctx, modes, max(o.rounds, 1), stderr)
		if rep != nil {
			fmt.Fprintln(stdout)
			_ = rep.WriteTable(stdout)
			if o.jsonPath != "" {
				if jerr := writeJSON(o.jsonPath, rep); jerr != nil && err == nil {
					err = jerr
				}
			}
		}
		return err
	case "ws-rtt", "ws-idle", "ws-fanout", "rpc", "startup":
		return single(ctx, setup, mode, o, plan, stdout)
	}
	return fmt.Errorf("unknown mode %q\n%s", mode, usage)
}

func (o options) plan() bench.Plan {
	return bench.Plan{
		RTT:          bench.WSRTTConfig{Conns: o.rttConns, Warmup: o.warmup, Duration: o.duration, Subscribe: o.subscribe},
		Idle:         bench.WSIdleConfig{Conns: o.idleConns, Agents: o.idleAgents, Settle: o.settle},
		Fanout:       bench.WSFanoutConfig{Conns: o.fanoutConns, Duration: o.duration, Window: o.window, SkipDeltas: !o.deltas, Batch: o.batch},
		RPC:          bench.RPCConfig{Protocol: o.protocol, Callers: o.callers, Warmup: o.warmup, Duration: o.duration},
		StartupRuns:  o.startupRuns,
		Redis:        o.redisURL != "",
		OnRedis:      o.onRedis,
		Centrifugo:   o.peers == bench.Centrifugo,
		PeerMessages: o.peerMessages,
		Relay:        bench.RelayConfig{Deltas: o.relayDeltas, Warmup: o.warmup, Duration: o.duration},
	}
}

// single runs one mode against -target and prints its figures.
func single(ctx context.Context, s *bench.Setup, mode string, o options, p bench.Plan, stdout io.Writer) error {
	var r *bench.Result
	var err error
	switch mode {
	case "startup":
		r, err = s.Startup(ctx, o.target, p.StartupRuns)
	default:
		var fn bench.Runner
		switch mode {
		case "ws-rtt":
			p.RTT.Conns = pick(o.conns, p.RTT.Conns)
			fn = func(ctx context.Context, t bench.Target) (*bench.Result, error) { return bench.WSRTT(ctx, t, p.RTT) }
		case "ws-idle":
			p.Idle.Conns = pick(o.conns, p.Idle.Conns)
			fn = func(ctx context.Context, t bench.Target) (*bench.Result, error) { return bench.WSIdle(ctx, t, p.Idle) }
		case "ws-fanout":
			p.Fanout.Conns = pick(o.conns, p.Fanout.Conns)
			fn = func(ctx context.Context, t bench.Target) (*bench.Result, error) {
				return bench.WSFanout(ctx, t, p.Fanout)
			}
		case "rpc":
			p.RPC.Callers = pick(o.conns, p.RPC.Callers)
			fn = func(ctx context.Context, t bench.Target) (*bench.Result, error) { return bench.RPC(ctx, t, p.RPC) }
		}
		r, err = s.Run(ctx, o.target, fn)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s against %s\n", r.Mode, r.Target)
	for _, k := range r.Names() {
		fmt.Fprintf(stdout, "  %-18s %.4g\n", k, r.Metrics[k])
	}
	for _, n := range r.Notes {
		fmt.Fprintf(stdout, "  note: %s\n", n)
	}
	if o.jsonPath != "" {
		return writeJSON(o.jsonPath, &bench.Report{Results: []*bench.Result{r}})
	}
	return nil
}

func pick(override, def int) int {
	if override > 0 {
		return override
	}
	return def
}

func newSetup(ctx context.Context, o options, dir string, stderr io.Writer) (*bench.Setup, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	peer, peerRedis, err := centrifugoCommands(o, dir)
	if err != nil {
		return nil, err
	}
	server := o.server
	if server == "" {
		wd, err := os.Getwd()
		if err != nil {
			return nil, err
		}
		root, err := bench.FindModuleRoot(wd)
		if err != nil {
			return nil, err
		}
		fmt.Fprintln(stderr, "building ./cmd/server …")
		if server, err = bench.BuildServer(ctx, root, dir); err != nil {
			return nil, err
		}
	}
	baseArgs := []string{"baseline-server"}
	if o.smallBuffers {
		baseArgs = append(baseArgs, "-small-buffers")
	}
	return &bench.Setup{
		Gateway:         bench.Command{Path: server, Env: append(append([]string(nil), gatewayEnv...), o.env...)},
		Baseline:        bench.Command{Path: self, Args: baseArgs},
		Centrifugo:      peer,
		CentrifugoRedis: peerRedis,
		RedisURL:        o.redisURL,
		Dir:             dir,
		Token:           o.token,
	}, nil
}

// centrifugoCommands checks -peers and, given -centrifugo, the binary's
// version, and writes Centrifugo's configurations into dir: on its memory
// engine, and with -redis-url on its Redis engine on that server. Without
// -centrifugo the peer is not available, which only -peers and
// -target centrifugo need.
func centrifugoCommands(o options, dir string) (memory, onRedis bench.Command, err error) {
	if o.peers != "" && o.peers != bench.Centrifugo {
		return memory, onRedis, fmt.Errorf("unknown peer %q; the one known is %s", o.peers, bench.Centrifugo)
	}
	if o.centrifugo == "" {
		if o.peers != "" {
			return memory, onRedis, errors.New("-peers centrifugo needs the Centrifugo binary: -centrifugo PATH or CENTRIFUGO_BIN (scripts/bench.sh installs it)")
		}
		return memory, onRedis, nil
	}
	if err := bench.CheckCentrifugo(o.centrifugo); err != nil {
		return memory, onRedis, err
	}
	if memory, err = bench.CentrifugoCommand(o.centrifugo, dir, ""); err != nil || o.redisURL == "" {
		return memory, onRedis, err
	}
	onRedis, err = bench.CentrifugoCommand(o.centrifugo, dir, o.redisURL)
	return memory, onRedis, err
}

func writeJSON(path string, rep *bench.Report) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := rep.WriteJSON(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// baselineServer serves the bare servers on $PORT (default 0) until SIGTERM.
func baselineServer(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("agentbench baseline-server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	small := fs.Bool("small-buffers", false, "1 KiB WebSocket buffers and a write buffer pool instead of gorilla's defaults")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	port := os.Getenv("PORT")
	if port == "" {
		port = "0"
	}
	if _, err := strconv.Atoi(port); err != nil {
		fmt.Fprintf(stderr, "agentbench: invalid PORT=%q\n", port)
		return 2
	}
	log := slog.New(slog.NewJSONHandler(stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	ln, err := net.Listen("tcp", ":"+port)
	if err != nil {
		log.Error("listen failed", "err", err)
		return 1
	}
	if err := bench.ServeBaseline(ctx, ln, bench.BaselineConfig{SmallBuffers: *small}, log); err != nil && !errors.Is(err, context.Canceled) {
		log.Error("serve failed", "err", err)
		return 1
	}
	return 0
}
