package agentgate

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/agentgate/agentgate/internal/config"
	"github.com/agentgate/agentgate/internal/engine"
	"github.com/agentgate/agentgate/responder"
	"github.com/agentgate/agentgate/tool"
	"github.com/agentgate/agentgate/tool/mcp"
	"github.com/redis/go-redis/v9"
)

// Config configures New. Its zero value is a working gateway with the
// defaults of the server binary: the echo responder, the in-memory engine,
// no authentication, any origin. Every field's zero value is its default,
// stated in its comment with the environment variable the server binary
// reads for it (see the README's configuration table); the bounds are the
// same too, and a value outside them makes New return a *ConfigError
// naming the field.
//
// The listen address (HOST, PORT, METRICS_ADDR: /metrics is one of
// Handler's routes), the logs' level and format, and the built-in
// responders' variables (RESPONDER, ECHO_DELAY, UPSTREAM_MAX_EVENT_BYTES,
// OPENAI_*, AGUI_*) are not here: a program that calls New chooses its
// listener, its Logger and its Responder itself.
type Config struct {
	// Responder answers every agent. Default responder.Echo{}. The
	// built-in ones are responder/openai's and responder/agui's New.
	Responder responder.Responder
	// Logger receives every log line of the gateway, with AuthTokens,
	// JWTSecret and the passwords of RedisURL and JWKSURL taken out.
	// Default slog.Default().
	Logger *slog.Logger
	// Version is reported in metrics (agentgate_build_info) and in Serve's
	// start line.
	Version string

	// RedisURL (REDIS_URL) keeps the agents' logs and fan-out in Redis, so
	// that several replicas serve the same agents:
	// redis://[user:password@]host:port[/db], or rediss:// for TLS.
	// Default: the in-memory engine of one process.
	RedisURL string
	// Redis is RedisURL's alternative: a go-redis client of your own (with
	// its TLS, credentials, pool, hooks, or Sentinel through
	// redis.NewFailoverClient; Redis Cluster is not supported). The
	// gateway uses it and never closes it. It must not retry commands
	// (redis.Options{MaxRetries: -1}): a retried script could append an
	// event twice. Its own timeouts bound each command. Set Redis or
	// RedisURL, not both.
	Redis *redis.Client
	// HistoryLimit (HISTORY_LIMIT) is how many persisted events each agent
	// keeps. Default 1000.
	HistoryLimit int
	// ContextMessages (CONTEXT_MESSAGES) is how many persisted messages and
	// replies before a user message the Responder gets. Default 50;
	// negative for none.
	ContextMessages int
	// LeaseTTL (LEASE_TTL) is how long an agent's reply lease lasts without
	// renewal: the longest an agent stays silent after the replica
	// answering it died. Default 10s.
	LeaseTTL time.Duration
	// ReplyTimeout (REPLY_TIMEOUT) bounds one reply of the Responder.
	// Default 60s.
	ReplyTimeout time.Duration
	// MaxTextBytes (MAX_TEXT_BYTES) is the longest message text accepted.
	// Default 16384.
	MaxTextBytes int
	// MaxReplyBytes (MAX_REPLY_BYTES) caps one step of a reply (one call
	// of the Responder): its text, tool call arguments and results. Past
	// it the reply ends with finish reason length, keeping what was
	// written. Default 1 MiB.
	MaxReplyBytes int
	// MaxContextBytes (MAX_CONTEXT_BYTES) is the byte budget of the
	// conversation a responder gets: the oldest messages are left out
	// first. Default 1 MiB.
	MaxContextBytes int

	// MCPServers (MCP_SERVERS) are the MCP servers whose tools the model
	// may call (see package tool/mcp). Their values are used as they are:
	// ${NAME} is not read from the environment here, since a program
	// reads its environment itself. Their Secrets are kept out of the
	// logs with the gateway's own. Default none.
	MCPServers []mcp.Server
	// ToolTimeout (TOOL_TIMEOUT) bounds one call of a server tool, and
	// each attempt to connect an MCP server. Default 60s.
	ToolTimeout time.Duration
	// ToolResultMaxBytes (TOOL_RESULT_MAX_BYTES) is the longest result of
	// a server tool the model is given; a longer one is cut, with a
	// marker saying so. A client's longer result is refused. Default
	// 64 KiB.
	ToolResultMaxBytes int
	// Tools are the server tools written in Go (tool.NewSet) or any other
	// tool.Source of the program's: the model may call them at every step
	// of a run, and the gateway runs the calls itself, each bounded by
	// ToolTimeout, with the approvals ToolApproval asks. A list of
	// Sources rather than one set, so that a program can bring several
	// (its own tools, a service it wraps), and MCP servers are one more.
	// A name two sources offer is the first one's; a name must not be one
	// of ClientTools'. Default none.
	Tools []tool.Source
	// ClientTools (CLIENT_TOOLS) are client tools every client lends, as
	// if each message sent them: the model may call them, and the run
	// pauses until a client sends the result (SubmitToolResult). Names as
	// tool.ValidateDef says, distinct, and Parameters a JSON Schema of an
	// object. Default none.
	ClientTools []tool.Def
	// ToolApproval (TOOL_APPROVAL) names the server tools whose calls
	// wait for a person's decision (DecideToolCall) before they run, or
	// holds "*" for every one. Default none.
	ToolApproval []string
	// MaxSteps (MAX_STEPS) is how many times one run may call the
	// Responder; the last step's tool calls are not run. Default 10.
	MaxSteps int
	// ContextTokens (CONTEXT_TOKENS) bounds the context a step sends the
	// Responder, estimated at four bytes a token (the conversation, the
	// message, the run so far, the tools' schemas); the oldest messages
	// are left out first. Default 0: no bound beyond MaxContextBytes.
	ContextTokens int

	// AuthTokens (AUTH_TOKENS) are the accepted bearer tokens, each at
	// least 16 characters. Default none: anyone who reaches the handler
	// talks to every agent (a warning is logged).
	AuthTokens []string
	// JWKSURL (AUTH_JWKS_URL) is the identity provider's key set (its
	// jwks_uri), http(s): users' tokens signed with RS256, ES256 or EdDSA
	// by one of its keys are accepted. The keys are cached, fetched again
	// on an unknown kid (at most every 10 seconds) and every 15 minutes;
	// while the provider is down, the cached keys keep working. Set
	// JWKSURL or JWTSecret, not both; AuthTokens work beside either.
	// Default none.
	JWKSURL string
	// JWTSecret (AUTH_JWT_SECRET) verifies users' HS256 tokens: at least
	// 32 bytes. Default none.
	JWTSecret string
	// JWTIssuer (AUTH_JWT_ISSUER) must be the tokens' iss; required with
	// JWKSURL. exp is required and, like nbf, enforced with 30 seconds of
	// leeway.
	JWTIssuer string
	// JWTAudience (AUTH_JWT_AUDIENCE) must be one of the tokens' aud;
	// required with JWKSURL.
	JWTAudience string
	// AgentsClaim (AUTH_AGENTS_CLAIM) is the claim that lists the agents a
	// token may use: exact ids, or prefixes ending in '*'. Default
	// "agents".
	AgentsClaim string
	// DefaultAgents (AUTH_DEFAULT_AGENTS) are the agents of a token
	// without that claim, as templates of its sub: "{sub}", "{sub}:*".
	// Default none: such a token reaches no agent.
	DefaultAgents []string
	// ExpiryGrace (AUTH_EXPIRY_GRACE) is how long a connection outlives
	// its token, for the client to hand a fresh one. Default 25s;
	// negative for none.
	ExpiryGrace time.Duration
	// UserMessageRate (USER_MESSAGE_RATE) is how many messages per minute
	// one user, a JWT's subject, may send, on every replica together; a
	// minute's worth may be sent at once. Past it: resource_exhausted
	// with when to retry. Service tokens and anonymous callers are not
	// limited. Default 30; negative for no limit.
	UserMessageRate int
	// UserMaxConnections (USER_MAX_CONNECTIONS) caps the sockets and
	// streams one user may hold open, on every replica together. Default
	// 100; negative for no limit.
	UserMaxConnections int
	// AllowedOrigins (ALLOWED_ORIGINS) are the origins allowed to open the
	// WebSocket and to call from a browser: https://app.example.com,
	// *.example.com. Default none: any origin (a warning is logged).
	AllowedOrigins []string
	// MaxConnections (MAX_CONNECTIONS) caps open WebSockets and streams;
	// beyond it new ones get HTTP 503. Default 20000.
	MaxConnections int
	// ConnectionRate (CONNECTION_RATE) is how many new WebSockets and
	// streams per second are accepted (burst twice the rate). Default 500.
	ConnectionRate float64
	// ReadMaxBytes (READ_MAX_BYTES) is the largest Connect request message.
	// Default 1 MiB.
	ReadMaxBytes int
	// Heartbeat (HEARTBEAT_INTERVAL) is the longest silence on a Subscribe
	// or Converse stream. Default 15s.
	Heartbeat time.Duration

	// WSPingInterval (WS_PING_INTERVAL) is how often the server pings each
	// WebSocket. Default 25s.
	WSPingInterval time.Duration
	// WSPongTimeout (WS_PONG_TIMEOUT) closes a WebSocket silent for this
	// long; longer than WSPingInterval. Default 60s.
	WSPongTimeout time.Duration
	// WSReadLimit (WS_READ_LIMIT) is the largest WebSocket frame accepted;
	// a larger one closes the socket with 1009. Default 64 KiB.
	WSReadLimit int64
	// WSSendQueue (WS_SEND_QUEUE) is how many frames may wait for a slow
	// WebSocket reader before it is closed with 1013. Default 256.
	WSSendQueue int
	// WSFrameRate (WS_FRAME_RATE) is how many frames per second one socket
	// may send (burst twice the rate). Default 50.
	WSFrameRate float64
	// DisableConsole (CONSOLE_ENABLED=false) leaves out the operator's
	// console page at /console. Default: it is served; its calls go
	// through the WebSocket, with its token and origin checks.
	DisableConsole bool

	// ShutdownTimeout (SHUTDOWN_TIMEOUT) bounds Serve's drain and Close's.
	// Default 10s.
	ShutdownTimeout time.Duration
	// DrainDelay (DRAIN_DELAY) is how long, once a drain starts, readiness
	// already fails while everything is still served, so that load
	// balancers stop routing here first; shorter than ShutdownTimeout.
	// Default 0.
	DrainDelay time.Duration
	// ReadHeaderTimeout (READ_HEADER_TIMEOUT) cuts off clients that send
	// headers slowly: Serve's http.Server, and the bound on the body of
	// health checks. Default 10s.
	ReadHeaderTimeout time.Duration
	// MaxHeaderBytes (MAX_HEADER_BYTES) bounds request headers on Serve's
	// http.Server. Default 64 KiB.
	MaxHeaderBytes int
	// MaxConcurrentStreams (MAX_CONCURRENT_STREAMS) bounds HTTP/2 streams
	// per connection on Serve's http.Server. Default 500.
	MaxConcurrentStreams int
}

// ConfigError is a bad configuration value: Error() is one line naming the
// variable (or Config's field) and what it accepts. Its fields are Var (the
// variable, or "Config." and the field), Value (what it held; a secret
// shows as "(redacted)") and Accept (what would do). The built-in
// responders' ConfigFromEnv return it too.
type ConfigError = config.Error

// setting is one field of Config as the variable the server binary reads
// for it: value is its text, empty when the field is at its zero value.
type setting struct {
	field, env, value string
}

// settings lists Config's fields that have a variable.
func (c Config) settings() []setting {
	return []setting{
		{"RedisURL", "REDIS_URL", c.RedisURL},
		{"HistoryLimit", "HISTORY_LIMIT", itoa(c.HistoryLimit)},
		{"ContextMessages", "CONTEXT_MESSAGES", zeroIfNegative(c.ContextMessages)},
		{"LeaseTTL", "LEASE_TTL", duration(c.LeaseTTL)},
		{"ReplyTimeout", "REPLY_TIMEOUT", duration(c.ReplyTimeout)},
		{"MaxTextBytes", "MAX_TEXT_BYTES", itoa(c.MaxTextBytes)},
		{"MaxReplyBytes", "MAX_REPLY_BYTES", itoa(c.MaxReplyBytes)},
		{"MaxContextBytes", "MAX_CONTEXT_BYTES", itoa(c.MaxContextBytes)},
		{"MCPServers", "MCP_SERVERS", mcpServers(c.MCPServers)},
		{"ToolTimeout", "TOOL_TIMEOUT", duration(c.ToolTimeout)},
		{"ToolResultMaxBytes", "TOOL_RESULT_MAX_BYTES", itoa(c.ToolResultMaxBytes)},
		{"ClientTools", "CLIENT_TOOLS", clientTools(c.ClientTools)},
		{"ToolApproval", "TOOL_APPROVAL", strings.Join(c.ToolApproval, ",")},
		{"MaxSteps", "MAX_STEPS", itoa(c.MaxSteps)},
		{"ContextTokens", "CONTEXT_TOKENS", itoa(c.ContextTokens)},
		{"AuthTokens", "AUTH_TOKENS", strings.Join(c.AuthTokens, ",")},
		{"JWKSURL", "AUTH_JWKS_URL", c.JWKSURL},
		{"JWTSecret", "AUTH_JWT_SECRET", c.JWTSecret},
		{"JWTIssuer", "AUTH_JWT_ISSUER", c.JWTIssuer},
		{"JWTAudience", "AUTH_JWT_AUDIENCE", c.JWTAudience},
		{"AgentsClaim", "AUTH_AGENTS_CLAIM", c.AgentsClaim},
		{"DefaultAgents", "AUTH_DEFAULT_AGENTS", strings.Join(c.DefaultAgents, ",")},
		{"ExpiryGrace", "AUTH_EXPIRY_GRACE", orNone(c.ExpiryGrace)},
		{"UserMessageRate", "USER_MESSAGE_RATE", zeroIfNegative(c.UserMessageRate)},
		{"UserMaxConnections", "USER_MAX_CONNECTIONS", zeroIfNegative(c.UserMaxConnections)},
		{"AllowedOrigins", "ALLOWED_ORIGINS", strings.Join(c.AllowedOrigins, ",")},
		{"MaxConnections", "MAX_CONNECTIONS", itoa(c.MaxConnections)},
		{"ConnectionRate", "CONNECTION_RATE", ftoa(c.ConnectionRate)},
		{"ReadMaxBytes", "READ_MAX_BYTES", itoa(c.ReadMaxBytes)},
		{"Heartbeat", "HEARTBEAT_INTERVAL", duration(c.Heartbeat)},
		{"WSPingInterval", "WS_PING_INTERVAL", duration(c.WSPingInterval)},
		{"WSPongTimeout", "WS_PONG_TIMEOUT", duration(c.WSPongTimeout)},
		{"WSReadLimit", "WS_READ_LIMIT", itoa64(c.WSReadLimit)},
		{"WSSendQueue", "WS_SEND_QUEUE", itoa(c.WSSendQueue)},
		{"WSFrameRate", "WS_FRAME_RATE", ftoa(c.WSFrameRate)},
		{"DisableConsole", "CONSOLE_ENABLED", map[bool]string{true: "false"}[c.DisableConsole]},
		{"ShutdownTimeout", "SHUTDOWN_TIMEOUT", duration(c.ShutdownTimeout)},
		{"DrainDelay", "DRAIN_DELAY", duration(c.DrainDelay)},
		{"ReadHeaderTimeout", "READ_HEADER_TIMEOUT", duration(c.ReadHeaderTimeout)},
		{"MaxHeaderBytes", "MAX_HEADER_BYTES", itoa(c.MaxHeaderBytes)},
		{"MaxConcurrentStreams", "MAX_CONCURRENT_STREAMS", itoa(c.MaxConcurrentStreams)},
	}
}

// load turns c into the server binary's configuration. It hands the fields
// to config.LoadWith as the variables they stand for, so that the defaults
// and the bounds are stated once, in internal/config, for the binary and
// for New alike; an error names the field.
func (c Config) load() (config.Config, error) {
	vars := map[string]string{}
	byVar := map[string]string{}
	var names []string // variable, field, for the errors' words
	for _, s := range c.settings() {
		byVar[s.env] = s.field
		names = append(names, s.env, "Config."+s.field)
		if s.value != "" {
			vars[s.env] = s.value
		}
	}
	if err := c.checkLists(); err != nil {
		return config.Config{}, err
	}
	cfg, err := config.LoadWith(func(k string) (string, bool) {
		v, ok := vars[k]
		return v, ok
	}, config.Options{OwnResponder: c.Responder != nil})
	if cerr, ok := errors.AsType[*ConfigError](err); ok && byVar[cerr.Var] != "" {
		accept := strings.NewReplacer(names...).Replace(cerr.Accept)
		return config.Config{}, &ConfigError{Var: "Config." + byVar[cerr.Var], Value: cerr.Value, Accept: accept}
	}
	if err != nil {
		return config.Config{}, err
	}
	keepMCPSecrets(cfg.Tools.MCPServers, c.MCPServers)
	return cfg, c.checkRedis()
}

// checkLists refuses list entries that the variables' commas would split.
func (c Config) checkLists() error {
	for _, t := range c.AuthTokens {
		if t == "" || strings.Contains(t, ",") {
			// A token is a secret: never echo it.
			return &ConfigError{Var: "Config.AuthTokens", Value: "(redacted)", Accept: "want tokens of at least 16 characters without spaces, quotes or commas"}
		}
	}
	for _, a := range c.DefaultAgents {
		if a == "" || strings.Contains(a, ",") {
			return &ConfigError{Var: "Config.DefaultAgents", Value: a, Accept: "want one template per entry, such as {sub} or {sub}:*"}
		}
	}
	for _, n := range c.ToolApproval {
		if n == "" || strings.Contains(n, ",") {
			return &ConfigError{Var: "Config.ToolApproval", Value: n, Accept: "want one tool name per entry, or *"}
		}
	}
	for _, o := range c.AllowedOrigins {
		if o == "" || strings.Contains(o, ",") {
			return &ConfigError{Var: "Config.AllowedOrigins", Value: o, Accept: "want one origin per entry, such as https://app.example.com or *.example.com"}
		}
	}
	return nil
}

// checkRedis refuses a client the Redis engine cannot use, and two ways to
// Redis at once.
func (c Config) checkRedis() error {
	if c.Redis == nil {
		return nil
	}
	if c.RedisURL != "" {
		return &ConfigError{Var: "Config.Redis", Value: "(a client)", Accept: "set Redis or RedisURL, not both"}
	}
	if engine.CheckRedisClient(c.Redis) != nil {
		return &ConfigError{Var: "Config.Redis", Value: fmt.Sprintf("MaxRetries %d", c.Redis.Options().MaxRetries),
			Accept: "want a client that does not retry commands, redis.Options{MaxRetries: -1}: a retried script could append an event twice"}
	}
	return nil
}

// clientTools is defs as CLIENT_TOOLS holds them; "" for none.
func clientTools(defs []tool.Def) string {
	if len(defs) == 0 {
		return ""
	}
	b, err := json.Marshal(defs)
	if err != nil {
		// Parameters that are not JSON: CLIENT_TOOLS refuses the value,
		// naming the field.
		return "[not JSON]"
	}
	return string(b)
}

// mcpServers is servers as MCP_SERVERS holds them, every $ doubled so
// that the values read back as they are; "" for none.
func mcpServers(servers []mcp.Server) string {
	if len(servers) == 0 {
		return ""
	}
	out := make([]mcp.Server, len(servers))
	for i, s := range servers {
		s.URL = mcp.EscapeValue(s.URL)
		s.Headers = escapeValues(s.Headers)
		s.Env = escapeValues(s.Env)
		out[i] = s
	}
	b, err := json.Marshal(out)
	if err != nil {
		return "" // maps of strings and strings: never
	}
	return string(b)
}

func escapeValues(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = mcp.EscapeValue(v)
	}
	return out
}

// keepMCPSecrets adds the Secrets the program gave each server to those
// the parser found, since MCP_SERVERS's JSON does not carry them.
func keepMCPSecrets(parsed, given []mcp.Server) {
	for i := range parsed {
		for _, s := range given[i].Secrets {
			if !slices.Contains(parsed[i].Secrets, s) {
				parsed[i].Secrets = append(parsed[i].Secrets, s)
			}
		}
	}
}

// itoa is n's text, or "" for 0 (the default).
func itoa(n int) string {
	if n == 0 {
		return ""
	}
	return strconv.Itoa(n)
}

// itoa64 is n's text, or "" for 0 (the default).
func itoa64(n int64) string {
	if n == 0 {
		return ""
	}
	return strconv.FormatInt(n, 10)
}

// ftoa is f's text, or "" for 0 (the default).
func ftoa(f float64) string {
	if f == 0 {
		return ""
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// duration is d's text, or "" for 0 (the default).
func duration(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return d.String()
}

// orNone is a duration whose zero means the default as its variable has
// it: negative is none ("0s").
func orNone(d time.Duration) string {
	if d < 0 {
		return "0s"
	}
	return duration(d)
}

// zeroIfNegative is a number whose variable takes 0 for none (rather than
// the default): negative is "0".
func zeroIfNegative(n int) string {
	if n < 0 {
		return "0"
	}
	return itoa(n)
}
