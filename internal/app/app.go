// Package app wires the gateway from a validated config.Config: engine,
// agent service, Connect handler, health, and the HTTP server. main runs it
// as a process; tests run the very same wiring on a loopback port.
//
// New builds each piece once and hands it to those that use it, in the
// order a request meets them. The engine (memory, or Redis from REDIS_URL
// or the caller's client) is wrapped by the metrics that count its work;
// the agent service runs on it with the responder (RESPONDER's built-in
// one, or the caller's); package api makes it agent.v1.AgentService, one
// function per method. One edge policy (package edge: service tokens and
// users' JWTs, origins, limits, permissions, the per-user limits, the life
// of connections whose token expires, the access log and metrics) stands
// before every way in: the Connect handler of those functions, mounted on the server; the
// WebSocket bridge, which calls the same functions for its frames; the
// frontend doors; and the console. /metrics and the health probes are
// routes on the same server, whose shutdown closes the bridge's sockets
// and ends the doors' streams.
//
// Every log line goes through the redactor of the configured secrets, so
// that no token or key reaches the logs whichever piece wrote the line.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"connectrpc.com/connect"
	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/agentgate/agentgate/gen/agent/v1/agentv1connect"
	"github.com/agentgate/agentgate/internal/accesslog"
	"github.com/agentgate/agentgate/internal/agent"
	"github.com/agentgate/agentgate/internal/api"
	"github.com/agentgate/agentgate/internal/auth"
	"github.com/agentgate/agentgate/internal/backoff"
	"github.com/agentgate/agentgate/internal/bridge"
	"github.com/agentgate/agentgate/internal/clip"
	"github.com/agentgate/agentgate/internal/config"
	"github.com/agentgate/agentgate/internal/console"
	"github.com/agentgate/agentgate/internal/edge"
	"github.com/agentgate/agentgate/internal/engine"
	"github.com/agentgate/agentgate/internal/gctune"
	"github.com/agentgate/agentgate/internal/health"
	"github.com/agentgate/agentgate/internal/identity"
	"github.com/agentgate/agentgate/internal/logattr"
	"github.com/agentgate/agentgate/internal/metrics"
	"github.com/agentgate/agentgate/internal/redact"
	"github.com/agentgate/agentgate/internal/server"
	"github.com/agentgate/agentgate/internal/userlimit"
	"github.com/agentgate/agentgate/responder"
	"github.com/agentgate/agentgate/tool"
	"github.com/agentgate/agentgate/tool/mcp"
	"github.com/redis/go-redis/v9"
)

// Options are what a caller may inject besides the configuration.
type Options struct {
	// Logger receives all logs, with the configuration's secrets taken out
	// (redact.Handler). Default slog.Default().
	Logger *slog.Logger
	// Responder writes the agents' replies. Default: the one RESPONDER
	// chooses (responder.Echo with ECHO_DELAY unless set).
	Responder responder.Responder
	// Version is reported in the start log line.
	Version string
	// Redis, if set, is the Redis engine's client, made and closed by the
	// caller (see engine.NewRedisClient); cfg.RedisURL must then be empty.
	Redis *redis.Client
	// Verifiers are tried after AUTH_TOKENS' and users' JWTs to turn a
	// bearer token into an identity (see edge.Policy.Authenticate). Any
	// Verifier turns authentication on.
	Verifiers []edge.Verifier
	// JWT, if set, changes the JWT verifier's settings that no variable
	// sets (its clock, how soon it fetches the key set again) before it is
	// built: for tests of key rotation that cannot wait for the defaults.
	JWT func(*identity.JWTConfig)
	// Tools are the sources of server tools the gateway runs in the tool
	// loop besides the MCP servers of MCP_SERVERS, which the App connects
	// itself: tools written in Go, or any tool.Source of the caller's,
	// which the caller closes. A name of CLIENT_TOOLS that a source
	// offers or owns stops the start.
	Tools []tool.Source
}

// App is a wired gateway, ready to serve.
type App struct {
	cfg     config.Config
	log     *slog.Logger
	engine  engine.Engine
	name    string // the engine's name, for logs
	service *agent.Service
	health  *health.State
	server  *server.Server
	version string

	metrics *metrics.Metrics
	edge    *edge.Policy
	// jwt verifies users' tokens (AUTH_JWKS_URL or AUTH_JWT_SECRET); nil
	// without them.
	jwt *identity.JWT
	// limiter keeps the counts of the per-user limits (USER_MESSAGE_RATE,
	// USER_MAX_CONNECTIONS); nil when no user can come in or nothing is
	// limited.
	limiter userlimit.Limiter
	// rdb is the Redis client made of REDIS_URL, shared by the engine and
	// the limiter; nil otherwise (the caller's own, Options.Redis, is the
	// caller's to close).
	rdb *redis.Client

	bridge *bridge.Bridge
	// burst returns the memory of a burst of new sockets (gctune.Burst).
	burst *gctune.Burst
	// metricsSrv serves /metrics on METRICS_ADDR, when set.
	metricsSrv *http.Server
	// mcp is the tools of MCP_SERVERS, connected in the background; nil
	// without servers.
	mcp *mcp.Source
	// shutdownBy is when the shutdown must be over: SHUTDOWN_TIMEOUT after
	// the drain began. Zero until it begins.
	shutdownMu sync.Mutex
	shutdownBy time.Time

	// With Redis: stopConnect ends the connecting goroutine, which closes
	// connected when it returns and sends on fatal (buffered) the failure
	// that ends Serve. All nil with the memory engine.
	stopConnect context.CancelFunc
	connected   chan struct{}
	fatal       chan error
}

// New wires an App. The caller must Close it after Serve returns.
func New(ctx context.Context, cfg config.Config, opts Options) (*App, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	// No log line, run error or start-up error carries a configured secret.
	red := redact.New(cfg.Secrets()...)
	opts.Logger = redact.Logger(opts.Logger, red)
	if opts.Responder == nil {
		r, err := newResponder(cfg, opts.Logger)
		if err != nil {
			return nil, err
		}
		opts.Responder = r
	} else {
		// The caller's own: the start line must not name a built-in one.
		cfg.Responder.Kind = "custom"
	}
	a := &App{cfg: cfg, log: opts.Logger, version: opts.Version}
	vs, err := a.verifiers(opts)
	if err != nil {
		return nil, err
	}
	ecfg := engine.Config{HistoryLimit: cfg.HistoryLimit}
	rc := engine.RedisConfig{URL: cfg.RedisURL, Config: ecfg, Logger: a.log}
	rdb := opts.Redis
	switch {
	case opts.Redis != nil:
		if err := engine.CheckRedisClient(opts.Redis); err != nil {
			return nil, err
		}
		a.engine, a.name = a.startRedis(ctx, "the Redis client", func(ctx context.Context) (*engine.Redis, error) {
			return engine.NewRedisClient(ctx, opts.Redis, rc)
		}), "redis"
	case cfg.RedisURL != "":
		// One client for the engine and the per-user limits.
		if a.rdb, err = engine.NewClient(rc); err != nil {
			a.closeAll()
			return nil, fmt.Errorf("REDIS_URL: %w", err)
		}
		rdb = a.rdb
		a.engine, a.name = a.startRedis(ctx, "REDIS_URL", func(ctx context.Context) (*engine.Redis, error) {
			return engine.NewRedisClient(ctx, rdb, rc)
		}), "redis"
	default:
		a.engine, a.name = engine.NewMemory(ecfg), "memory"
	}
	a.metrics = metrics.New(opts.Version, a.name)
	a.engine = a.metrics.Engine(a.engine)
	a.edge = edge.New(edge.Config{
		Verifiers:      vs,
		AllowedOrigins: cfg.AllowedOrigins,
		MaxConnections: cfg.MaxConnections,
		ConnectionRate: cfg.ConnectionRate,
		FrameRate:      cfg.WSFrameRate,
		ExpiryGrace:    cfg.JWT.ExpiryGrace,
		UserLimits:     a.userLimits(rdb, users(cfg, opts)),
		Metrics:        a.metrics,
		Logger:         a.log,
	})
	for _, w := range cfg.Warnings {
		a.log.Warn(w)
	}
	if !a.edge.Authenticates() {
		a.log.Warn("AUTH_TOKENS is empty: anyone who reaches this port can talk to every agent")
	}
	if a.edge.AllowsAnyOrigin() {
		a.log.Warn("ALLOWED_ORIGINS is empty: web pages from any site may open the WebSocket")
	}

	tools, err := a.toolSources(opts)
	if err != nil {
		return nil, err
	}
	if err := checkToolNames(ctx, cfg, tools); err != nil {
		a.closeMCP(context.Background())
		return nil, err
	}
	// A large reply leaves a large heap behind, and so does a burst of new
	// sockets; see gctune.Releaser and gctune.Burst.
	releaser := gctune.NewReleaser(10 * time.Second)
	a.burst = gctune.NewBurst(releaser, burstSockets, burstQuiet)
	a.service = agent.New(agent.Config{
		Engine:          a.engine,
		MaxTextBytes:    cfg.MaxTextBytes,
		MaxReplyBytes:   cfg.MaxReplyBytes,
		MaxContextBytes: cfg.MaxContextBytes,
		ReleaseMemory:   func() { releaser.Release() },
		Responder:       opts.Responder,
		Logger:          a.log,
		LeaseTTL:        cfg.LeaseTTL,
		ReplyTimeout:    cfg.ReplyTimeout,
		ContextMessages: cfg.Responder.ContextMessages,
		Redact:          red.String,

		Tools:              tools,
		ClientTools:        cfg.Tools.Client,
		ToolApproval:       cfg.Tools.Approval,
		MaxSteps:           cfg.Tools.MaxSteps,
		ToolTimeout:        cfg.Tools.Timeout,
		ToolResultMaxBytes: cfg.Tools.ResultMaxBytes,
		ContextTokens:      cfg.Tools.ContextTokens,
		OnToolCall:         a.toolCalled,
	})
	a.health = health.New(health.Config{
		Ping:       a.service.Ready,
		Reason:     a.unreadyReason,
		Services:   []string{agentv1connect.AgentServiceName},
		Components: a.components(),
		Details:    a.details(),
		Logger:     a.log,
	})
	agentAPI := api.New(api.Config{
		Service:   a.service,
		Heartbeat: cfg.Heartbeat,
		Draining:  a.health.Draining(),
	})
	agentPath, agentHandler := a.agentHandler(agentAPI)
	routes := map[string]http.Handler{}
	if cfg.MetricsAddr == "" {
		// On the public port, metrics need a token like the API does.
		routes["GET /metrics"] = a.edge.RequireToken(edge.Metrics, a.metrics.Handler())
	} else {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", a.metrics.Handler())
		a.metricsSrv = &http.Server{Addr: cfg.MetricsAddr, Handler: mux, ReadHeaderTimeout: cfg.ReadHeaderTimeout}
	}
	if err := a.websocketBridge(agentAPI); err != nil {
		a.closeMCP(context.Background())
		return nil, err
	}
	routes["GET /ws/agent/{agent_id}"] = a.bridge
	a.doorRoutes(routes)
	if cfg.Console {
		// The page itself is public; what it does goes through the socket,
		// which meets the edge like any other client's.
		for pattern, h := range console.New().Routes() {
			routes[pattern] = h
		}
		routes["POST "+consoleCheckPath] = http.HandlerFunc(a.consoleCheck)
	}
	a.server = server.New(server.Config{
		AgentPath:            agentPath,
		Agent:                agentHandler,
		Health:               a.health,
		Logger:               a.log,
		ShutdownTimeout:      cfg.ShutdownTimeout,
		DrainDelay:           cfg.DrainDelay,
		ReadHeaderTimeout:    cfg.ReadHeaderTimeout,
		MaxHeaderBytes:       cfg.MaxHeaderBytes,
		MaxConcurrentStreams: cfg.MaxConcurrentStreams,
		Protect:              a.edge.Protect,
		Outer:                accesslog.Middleware,
		Routes:               routes,
		// Hijacked sockets are closed (1001) by the bridge itself.
		OnShutdown: []func(context.Context){a.bridge.Drain},
	})
	return a, nil
}

// toolSources are the sources of server tools of the loop: the caller's,
// then the MCP servers' (MCP_SERVERS), whose Source starts connecting
// now, in the background. A server down at start is logged by the Source
// and retried; the gateway starts all the same, and /health's body shows
// each server's state.
func (a *App) toolSources(opts Options) ([]tool.Source, error) {
	if len(a.cfg.Tools.MCPServers) == 0 {
		return opts.Tools, nil
	}
	src, err := mcp.New(mcp.Config{
		Servers:        a.cfg.Tools.MCPServers,
		Timeout:        a.cfg.Tools.Timeout,
		MaxResultBytes: a.cfg.Tools.ResultMaxBytes,
		Logger:         a.log,
		Observer:       a.metrics.Tools.MCP(),
		Version:        a.version,
	})
	if err != nil {
		return nil, &config.Error{Var: "MCP_SERVERS", Value: "[…]", Accept: err.Error()}
	}
	a.mcp = src
	return append(slices.Clip(opts.Tools), src), nil
}

// checkToolNames refuses server tools that bear a name of CLIENT_TOOLS: a
// call of that name would be run by the gateway, never by the client. A
// name a source owns (an MCP server's server__…) is refused too, though
// its server may not be connected yet, so that no server tool can take a
// client tool's name later.
func checkToolNames(ctx context.Context, cfg config.Config, sources []tool.Source) error {
	client := map[string]bool{}
	for _, d := range cfg.Tools.Client {
		client[d.Name] = true
	}
	for _, src := range sources {
		for _, d := range src.Tools(ctx) {
			if client[d.Name] {
				return &config.Error{Var: "CLIENT_TOOLS", Value: d.Name, Accept: "a client tool may not have a server tool's name: rename one of them"}
			}
		}
		if o, ok := src.(tool.Owner); ok {
			for _, d := range cfg.Tools.Client {
				if o.Owns(d.Name) {
					return &config.Error{Var: "CLIENT_TOOLS", Value: d.Name, Accept: "a client tool may not take a name of an MCP server's tools (server__tool): rename it"}
				}
			}
		}
	}
	return nil
}

// toolCalled counts a server tool's call in the metrics and writes its
// log line: server "go" for any source but the MCP servers', whose calls
// their Source counts and logs itself, with the server's name (so that
// no call is counted twice).
func (a *App) toolCalled(c agent.ToolCallDone) {
	if _, isMCP := c.Source.(*mcp.Source); isMCP {
		return
	}
	a.metrics.Tools.ToolCalled("go", c.Tool, c.Outcome, c.Duration)
	level := slog.LevelInfo
	if c.Outcome == "failed" || c.Outcome == "timeout" {
		level = slog.LevelWarn
	}
	a.log.LogAttrs(context.Background(), level, "tool call",
		slog.String("server", "go"),
		slog.String("tool", clip.Value(c.Tool)),
		logattr.Millis("duration_ms", c.Duration),
		slog.String("outcome", c.Outcome),
		slog.String("agent", clip.Value(c.Call.AgentID)),
		slog.String("run_id", c.Call.RunID),
		slog.String("tool_call_id", clip.Value(c.Call.ToolCallID)),
	)
}

// agentHandler builds the Connect handler of the agent API, once, for the
// server to mount: Connect, gRPC and gRPC-Web, behind the edge (Protect:
// CORS and the token, before the body is read; Interceptor: observation,
// stream admission, permissions).
func (a *App) agentHandler(h *api.Handler) (string, http.Handler) {
	path, ch := agentv1connect.NewAgentServiceHandler(h.Connect(),
		connect.WithReadMaxBytes(a.cfg.ReadMaxBytes),
		// Small agent messages are not worth gzip's CPU: compress only what
		// is large enough to gain from it.
		connect.WithCompressMinBytes(1024),
		connect.WithInterceptors(a.edge.Interceptor()),
	)
	return path, a.edge.Protect(ch)
}

// websocketBridge builds the WebSocket bridge over the agent API's
// functions, behind the edge, which checks the upgrade (token: 401;
// origin and permission: 403; connection limits: 503) and every frame.
func (a *App) websocketBridge(h *api.Handler) error {
	b, err := bridge.New(bridge.Config{
		Service:      agentv1.File_agent_v1_agent_proto.Services().ByName("AgentService"),
		Methods:      h.Methods(),
		Edge:         a.edge,
		Agents:       a.service,
		Logger:       a.log,
		PingInterval: a.cfg.WSPingInterval,
		PongTimeout:  a.cfg.WSPongTimeout,
		ReadLimit:    a.cfg.WSReadLimit,
		SendQueue:    a.cfg.WSSendQueue,
		WriteTimeout: config.WriteTimeout,
		Opened:       a.burst.Opened,
	})
	a.bridge = b
	return err
}

// verifiers are the edge's, in the order it tries them: the service tokens
// of AUTH_TOKENS, when there are any, then users' JWTs (AUTH_JWKS_URL or
// AUTH_JWT_SECRET), whose verifier the App keeps to report its state and
// close it, then the caller's. A service token is a plain comparison, the
// JWT a signature check: the cheap one first.
func (a *App) verifiers(opts Options) ([]edge.Verifier, error) {
	var vs []edge.Verifier
	if tokens := auth.New(a.cfg.AuthTokens); tokens.Enabled() {
		vs = append(vs, tokens)
	}
	if a.cfg.JWT.Enabled() {
		jc := a.cfg.JWT.Verifier()
		jc.Logger = a.log
		if opts.JWT != nil {
			opts.JWT(&jc)
		}
		v, err := identity.NewJWT(jc)
		if err != nil {
			return nil, fmt.Errorf("AUTH_JWKS_URL / AUTH_JWT_SECRET: %w", err)
		}
		a.jwt = v
		vs = append(vs, v)
	}
	return append(vs, opts.Verifiers...), nil
}

// users reports whether users (identities that the per-user limits count)
// can come in: users' JWTs are accepted, or the caller brought Verifiers,
// which may prove users.
func users(cfg config.Config, opts Options) bool {
	return cfg.JWT.Enabled() || len(opts.Verifiers) > 0
}

// userLimits makes the per-user limits, when users can come in and a
// limit is set: kept in Redis through rdb when the engine is on Redis,
// so that they hold across replicas, else in this process.
func (a *App) userLimits(rdb *redis.Client, users bool) *userlimit.Limits {
	lc := a.cfg.UserLimits()
	if !users || (lc.MessageRate <= 0 && lc.MaxConnections <= 0) {
		return nil
	}
	if rdb == nil {
		a.limiter = userlimit.NewMemory(nil)
	} else {
		// NewRedis fails on a nil client only.
		a.limiter, _ = userlimit.NewRedis(rdb, userlimit.RedisConfig{Logger: a.log})
	}
	return userlimit.New(a.limiter, lc)
}

// components are the states /health's body reports besides readiness, by
// name: the key set of AUTH_JWKS_URL ("ok", "fetching", "stale: … since
// …", "unavailable: … since …"). None of them changes the status code: a
// stale key set verifies tokens with the keys it has, and one that was
// never fetched refuses users' tokens only, while service tokens and
// everything else work on; failing readiness for it would take a replica,
// or every replica at once, out of service for an outage of the identity
// provider, and hold a deploy back.
func (a *App) components() map[string]func() string {
	if a.jwt == nil || a.cfg.JWT.JWKSURL == "" {
		return nil
	}
	return map[string]func() string{"jwks": a.jwt.Status}
}

// details are what /health's body shows besides readiness: each MCP
// server's state ("mcp_servers": name, transport, state, tools, reason,
// since; never a URL, a command or a secret). A server that is down does
// not fail readiness: the gateway works on without its tools, and a
// replica that failed its probes for it would be taken out of service,
// every replica at once, for one server's outage.
func (a *App) details() map[string]func() any {
	if a.mcp == nil {
		return nil
	}
	return map[string]func() any{"mcp_servers": func() any { return a.mcp.Status() }}
}

// Serve serves on ln until ctx is done, then drains (see server.Serve).
func (a *App) Serve(ctx context.Context, ln net.Listener) error {
	// The drain starts when ctx ends; Close ends the shutdown by
	// SHUTDOWN_TIMEOUT after.
	stop := context.AfterFunc(ctx, a.shuttingDown)
	defer stop()
	attrs := []any{
		"addr", ln.Addr().String(),
		"engine", a.name,
		"version", a.version,
		"history_limit", a.cfg.HistoryLimit,
	}
	a.log.Info("serving", append(attrs, a.startFacts()...)...)
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	if a.fatal != nil {
		go func() {
			select {
			case err := <-a.fatal:
				cancel(err) // drain, then return err
			case <-ctx.Done():
			}
		}()
	}
	err := a.serve(ctx, ln)
	if cause := context.Cause(ctx); err == nil && cause != nil && !errors.Is(cause, context.Canceled) {
		return cause
	}
	return err
}

// serve is Serve once the start line is written.
func (a *App) serve(ctx context.Context, ln net.Listener) error {
	if a.metricsSrv == nil {
		return a.server.Serve(ctx, ln)
	}
	mln, err := net.Listen("tcp", a.metricsSrv.Addr)
	if err != nil {
		return fmt.Errorf("METRICS_ADDR: %w", err)
	}
	a.log.Info("serving metrics", "addr", mln.Addr().String())
	go func() { _ = a.metricsSrv.Serve(mln) }()
	err = a.server.Serve(ctx, ln)
	// Metrics outlive the drain, so that it can be watched; then they stop.
	_ = a.metricsSrv.Close()
	return err
}

// Handler is every endpoint of the gateway, as Serve serves it, for a
// program that mounts it on its own http.Server (see Drain).
func (a *App) Handler() http.Handler { return a.server.Handler() }

// Drain ends what Handler serves as Serve's drain does, for a program that
// serves Handler itself: readiness fails, streams end with unavailable and
// sockets close with 1001, by the time ctx is done (see server.Drain).
func (a *App) Drain(ctx context.Context) error {
	a.shuttingDown()
	return a.server.Drain(ctx)
}

// shuttingDown notes when the shutdown began, the first time it is told.
func (a *App) shuttingDown() {
	a.shutdownMu.Lock()
	defer a.shutdownMu.Unlock()
	if a.shutdownBy.IsZero() {
		a.shutdownBy = time.Now().Add(a.cfg.ShutdownTimeout)
	}
}

// shutdownDeadline is when the shutdown must be over: SHUTDOWN_TIMEOUT
// after it began, or from now if no drain began.
func (a *App) shutdownDeadline() time.Time {
	a.shutdownMu.Lock()
	defer a.shutdownMu.Unlock()
	if a.shutdownBy.IsZero() {
		return time.Now().Add(a.cfg.ShutdownTimeout)
	}
	return a.shutdownBy
}

// startFacts says, for the start line, what answers the agents and where
// clients come in: the responder, its model and upstream host (never a
// credential, a path or a query), and the doors mounted.
func (a *App) startFacts() []any {
	rc := a.cfg.Responder
	facts := []any{"responder", rc.Kind}
	switch rc.Kind {
	case "openai":
		facts = append(facts, "model", rc.OpenAI.Model, "upstream", hostOf(rc.OpenAI.BaseURL))
	case "agui":
		facts = append(facts, "upstream", hostOf(rc.AGUI.URL))
	}
	doors := "connect,websocket,agui,aisdk"
	if a.cfg.Console {
		doors += ",console"
	}
	facts = append(facts, "doors", doors)
	if servers := a.cfg.Tools.MCPServers; len(servers) > 0 {
		names := make([]string, len(servers))
		for i, s := range servers {
			names[i] = s.Name
		}
		facts = append(facts, "mcp_servers", strings.Join(names, ","))
	}
	return facts
}

// hostOf is a URL's host[:port], or "" if it has none.
func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Host
}

// Close stops the repliers, the MCP servers, the engine, and its
// connecting if it is still under way, then the per-user limits, the JWT
// verifier and the Redis client the App made.
//
// The MCP servers stop after the drain and after the repliers, by
// SHUTDOWN_TIMEOUT after the drain began: in-flight calls finish during
// the drain, and the runs they wait for may call tools until then; once
// the repliers have stopped, no run calls a tool any more, and a run cut
// by the shutdown is not written (the next replica to take the agent runs
// the step again). Stopped before, a server would fail the calls in
// flight, and their runs would write those failures as the calls'
// results.
func (a *App) Close() error {
	if a.stopConnect != nil {
		a.stopConnect()
		<-a.connected
	}
	a.burst.Stop()
	a.service.Close()
	ctx, cancel := context.WithDeadline(context.Background(), a.shutdownDeadline())
	defer cancel()
	a.closeMCP(ctx)
	err := a.engine.Close()
	a.closeAll()
	return err
}

// closeMCP stops the MCP servers' connections and commands by ctx's
// deadline; what is left then is killed.
func (a *App) closeMCP(ctx context.Context) {
	if a.mcp == nil {
		return
	}
	if err := a.mcp.Close(ctx); err != nil {
		a.log.Warn("mcp servers stopped late", "err", err)
	}
}

// closeAll closes what the App made besides the service and the engine.
func (a *App) closeAll() {
	if a.limiter != nil {
		_ = a.limiter.Close()
	}
	if a.jwt != nil {
		a.jwt.Close()
	}
	if a.rdb != nil {
		_ = a.rdb.Close()
	}
}

// A burst of at least burstSockets new sockets, followed by burstQuiet
// without one, has its garbage returned to the OS (gctune.Burst): fewer
// make too little garbage to be worth a collection.
const (
	burstSockets = 1000
	burstQuiet   = 500 * time.Millisecond
)

// startRedis returns the Redis engine at once, still connecting: the
// server listens meanwhile, /health/live answers 200, /health and the gRPC
// health service say "starting: redis unreachable", and calls fail with
// unavailable until Redis answers (on a platform, the database may start
// after the gateway). Connecting retries with backoff, each failed attempt
// logged without the URL's password, until it succeeds, Close is called or
// ctx is done. A failure that no retry can mend ends Serve with it.
func (a *App) startRedis(ctx context.Context, source string, open func(context.Context) (*engine.Redis, error)) engine.Engine {
	st := engine.NewStarting()
	ctx, a.stopConnect = context.WithCancel(ctx)
	a.connected = make(chan struct{})
	a.fatal = make(chan error, 1)
	go func() {
		defer close(a.connected)
		r, err := connectRedis(ctx, a.log, st, source, open)
		switch {
		case err != nil && ctx.Err() == nil:
			a.fatal <- err
		case err == nil && st.Connected(r):
			a.log.Info("redis connected: ready")
		}
	}()
	return st
}

// connectRedis opens the Redis engine, retrying with backoff while Redis is
// unreachable, and telling st why each attempt failed. source names where
// the connection comes from, for errors.
func connectRedis(ctx context.Context, log *slog.Logger, st *engine.Starting, source string, open func(context.Context) (*engine.Redis, error)) (*engine.Redis, error) {
	delay := backoff.New(250*time.Millisecond, 5*time.Second)
	for attempt := 1; ; attempt++ {
		r, err := open(ctx)
		if err == nil {
			return r, nil
		}
		if !errors.Is(err, engine.ErrUnavailable) {
			return nil, fmt.Errorf("%s: %w", source, err)
		}
		st.Failed(err)
		wait := delay.Next()
		log.Warn("redis unreachable; retrying", "attempt", attempt, logattr.Millis("in_ms", wait), "err", err)
		if !backoff.Sleep(ctx, wait) {
			return nil, fmt.Errorf("%s: gave up connecting: %w", source, err)
		}
	}
}

// unreadyReason words an engine failure for the health probes.
func (a *App) unreadyReason(err error) string {
	switch {
	case errors.Is(err, engine.ErrStarting):
		return "starting: " + a.name + " unreachable"
	case a.name == "redis":
		return "redis unreachable"
	}
	return "engine unavailable"
}
