// Package config turns the process environment into one validated Config.
// It reads nothing itself: main passes os.LookupEnv, tests pass a map, so
// parsing is a pure function that a fuzz target can drive.
//
// Load reads every variable with its default and bounds, and stops at the
// first bad one with an *Error that names it. The responder's variables
// are read according to RESPONDER (or not at all for a program with its own
// responder, Options.OwnResponder), and LoadOpenAI and LoadAGUI read one
// built-in responder's alone, for a Go program that builds it itself.
// Config.Secrets lists what the logs must never show, for the redactor.
package config

import (
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/agentgate/agentgate/internal/agent"
	"github.com/agentgate/agentgate/internal/engine"
	"github.com/agentgate/agentgate/internal/redact"
	"github.com/redis/go-redis/v9"
)

// Config is everything the server can be told by its environment. The zero
// value is not valid; use Load, which applies the documented defaults.
type Config struct {
	// Host is the bind address; empty means all interfaces, IPv4 and IPv6.
	Host string
	// Port is the TCP port, 0 to 65535 (0 picks a free one). Default 8080.
	Port int
	// RedisURL selects the Redis engine; empty means the in-memory engine.
	RedisURL string
	// HistoryLimit is how many persisted events each agent keeps. Default
	// engine.DefaultHistoryLimit.
	HistoryLimit int
	// ShutdownTimeout bounds the drain on SIGTERM. Default 10s.
	ShutdownTimeout time.Duration
	// DrainDelay is how long readiness fails before the listener closes on
	// shutdown, within ShutdownTimeout. Default 0.
	DrainDelay time.Duration
	// LogLevel is the minimum level logged. Default info.
	LogLevel slog.Level
	// LogFormat is "json" (default) or "text".
	LogFormat string
	// AllowedOrigins lists the origins allowed to open the WebSocket; empty
	// allows any.
	AllowedOrigins []string
	// AuthTokens lists the accepted bearer tokens; empty disables auth.
	AuthTokens []string
	// JWT is how users' tokens are verified (AUTH_JWKS_URL,
	// AUTH_JWT_SECRET and their companions); see JWT.
	JWT JWT
	// LeaseTTL is how long an agent's reply lease lasts without renewal:
	// after the replica answering an agent died, the agent answers again
	// within about twice this time. Default agent.DefaultLeaseTTL.
	LeaseTTL time.Duration
	// ReplyTimeout bounds one reply of the responder. Default 60s.
	ReplyTimeout time.Duration
	// Heartbeat is the longest silence on a Subscribe or Converse stream.
	// Default 15s.
	Heartbeat time.Duration
	// EchoDelay is a pause before each delta of the echo responder. Default 0.
	EchoDelay time.Duration
	// WSPingInterval is how often the server pings each WebSocket. Default 25s.
	WSPingInterval time.Duration
	// WSPongTimeout closes a WebSocket silent for this long. Default 60s.
	WSPongTimeout time.Duration
	// WSReadLimit is the largest WebSocket frame accepted. Default 64 KiB.
	WSReadLimit int64
	// MaxConnections caps open WebSockets and streams; beyond it new ones get
	// HTTP 503. Default 20000.
	MaxConnections int
	// ConnectionRate is how many new WebSockets and streams per second are
	// accepted (token bucket, burst twice the rate). Default 500.
	ConnectionRate float64
	// WSFrameRate is how many frames per second one socket may send (token
	// bucket, burst twice the rate). Default 50.
	WSFrameRate float64
	// UserMessageRate is how many messages per minute one user (the
	// subject of a JWT) may send, on every replica together; a minute's
	// worth may be sent at once. Service tokens and anonymous callers are
	// not limited. 0 for no limit. Default 30: a person typing stays far
	// below it, a script holding someone's token cannot spend more than
	// 1800 replies an hour.
	UserMessageRate int
	// UserMaxConnections caps the sockets and streams one user may hold
	// open, on every replica together. 0 for no limit. Default 100: more
	// than a person's tabs open, reconnections whose old socket the
	// server has not noticed closing yet included, and a small part of
	// MaxConnections, so that one user cannot lock others out.
	UserMaxConnections int
	// MaxTextBytes is the longest message text accepted. Default 16384.
	MaxTextBytes int
	// MaxReplyBytes caps one reply: its text, tool call arguments and
	// results together. Past it the reply ends with finish reason length,
	// keeping what was written. Default 1 MiB.
	MaxReplyBytes int
	// MaxContextBytes is the byte budget of the conversation sent to the
	// responder with a message; the oldest messages go first. Default 1 MiB.
	MaxContextBytes int
	// ReadMaxBytes is the largest Connect request message. Default 1 MiB.
	ReadMaxBytes int
	// MaxHeaderBytes bounds HTTP request headers. Default 64 KiB.
	MaxHeaderBytes int
	// ReadHeaderTimeout cuts off clients that send headers slowly. Default 10s.
	ReadHeaderTimeout time.Duration
	// MaxConcurrentStreams bounds HTTP/2 streams per connection. Default 500.
	MaxConcurrentStreams int
	// MetricsAddr, when set, serves /metrics on its own address instead of
	// the main port.
	MetricsAddr string
	// Console serves the operator's console page at /console. Default true.
	Console bool
	// WSSendQueue is how many frames may wait for a slow WebSocket reader
	// before it is closed with 1013. Default 256.
	WSSendQueue int
	// Responder is the agents' logic (RESPONDER and its variables).
	Responder Responder
	// Tools are the server tools' settings (MCP_SERVERS, TOOL_*).
	Tools Tools
	// Warnings are settings that are valid but most likely not what was
	// meant, such as OPENAI_MODEL without RESPONDER=openai: the server
	// starts, and logs each of them once.
	Warnings []string
}

// Options change what Load reads.
type Options struct {
	// OwnResponder is set by a program that brings its own responder (a Go
	// user's agentgate.Run): RESPONDER and the built-in responders'
	// variables are not read, so none of them is required, and setting
	// RESPONDER is a warning, since it has no effect.
	OwnResponder bool
}

// Addr is the listen address, host:port.
func (c Config) Addr() string {
	return net.JoinHostPort(c.Host, strconv.Itoa(c.Port))
}

// Error is a configuration error: one line naming the variable, what it
// holds and what is accepted.
type Error struct {
	Var    string
	Value  string
	Accept string
}

func (e *Error) Error() string {
	return fmt.Sprintf("invalid %s=%q: %s", e.Var, e.Value, e.Accept)
}

// LoadWith reads the configuration through lookup (os.LookupEnv in main),
// with opts. It returns the first invalid variable as an *Error.
func LoadWith(lookup func(string) (string, bool), opts Options) (Config, error) {
	p := parser{lookup: lookup}
	c := Config{
		Host:            p.host("HOST"),
		Port:            p.int("PORT", 8080, 0, 65535),
		RedisURL:        p.redisURL("REDIS_URL"),
		HistoryLimit:    p.int("HISTORY_LIMIT", engine.DefaultHistoryLimit, 1, 1_000_000),
		ShutdownTimeout: p.duration("SHUTDOWN_TIMEOUT", DefaultShutdownTimeout, time.Millisecond, time.Hour),
		DrainDelay:      p.duration("DRAIN_DELAY", 0, 0, time.Hour),
		LogLevel:        p.level("LOG_LEVEL"),
		LogFormat:       p.oneOf("LOG_FORMAT", "json", "json", "text"),
		AllowedOrigins:  p.origins("ALLOWED_ORIGINS"),
		AuthTokens:      p.tokens("AUTH_TOKENS"),
		JWT:             p.jwt(),
		LeaseTTL:        p.duration("LEASE_TTL", agent.DefaultLeaseTTL, 100*time.Millisecond, time.Hour),
		ReplyTimeout:    p.duration("REPLY_TIMEOUT", agent.DefaultReplyTimeout, time.Millisecond, 24*time.Hour),
		Heartbeat:       p.duration("HEARTBEAT_INTERVAL", DefaultHeartbeat, 10*time.Millisecond, time.Hour),
		EchoDelay:       p.duration("ECHO_DELAY", 0, 0, time.Minute),
		WSPingInterval:  p.duration("WS_PING_INTERVAL", DefaultWSPingInterval, 10*time.Millisecond, time.Hour),
		WSPongTimeout:   p.duration("WS_PONG_TIMEOUT", DefaultWSPongTimeout, 10*time.Millisecond, time.Hour),
		WSReadLimit:     int64(p.int("WS_READ_LIMIT", DefaultWSReadLimit, 512, 16<<20)),
		WSSendQueue:     p.int("WS_SEND_QUEUE", DefaultWSSendQueue, 1, 1<<20),

		MaxConnections:       p.int("MAX_CONNECTIONS", 20000, 1, 10_000_000),
		ConnectionRate:       p.float("CONNECTION_RATE", 500, 0.1, 1e6),
		WSFrameRate:          p.float("WS_FRAME_RATE", 50, 0.1, 1e6),
		UserMessageRate:      p.int("USER_MESSAGE_RATE", 30, 0, 1_000_000),
		UserMaxConnections:   p.int("USER_MAX_CONNECTIONS", 100, 0, 10_000_000),
		MaxTextBytes:         p.int("MAX_TEXT_BYTES", agent.DefaultMaxTextBytes, 1, 4<<20),
		MaxReplyBytes:        p.int("MAX_REPLY_BYTES", agent.DefaultMaxReplyBytes, 1024, 256<<20),
		MaxContextBytes:      p.int("MAX_CONTEXT_BYTES", agent.DefaultMaxContextBytes, 1024, 256<<20),
		ReadMaxBytes:         p.int("READ_MAX_BYTES", DefaultReadMaxBytes, 1024, 64<<20),
		MaxHeaderBytes:       p.int("MAX_HEADER_BYTES", DefaultMaxHeaderBytes, 4<<10, 1<<20),
		ReadHeaderTimeout:    p.duration("READ_HEADER_TIMEOUT", DefaultReadHeaderTimeout, 10*time.Millisecond, 10*time.Minute),
		MaxConcurrentStreams: p.int("MAX_CONCURRENT_STREAMS", DefaultMaxConcurrentStreams, 1, 1<<20),
		MetricsAddr:          p.addr("METRICS_ADDR"),
		Console:              p.bool("CONSOLE_ENABLED", true),
	}
	if opts.OwnResponder {
		c.Responder = p.ownResponder()
	} else {
		c.Responder = p.responder()
	}
	if !c.JWT.Enabled() {
		p.warnUnusedUserLimits()
	}
	c.Tools = p.tools()
	c.Warnings = p.warnings
	if p.err == nil && c.DrainDelay >= c.ShutdownTimeout {
		p.fail("DRAIN_DELAY", c.DrainDelay.String(), "must be shorter than SHUTDOWN_TIMEOUT ("+c.ShutdownTimeout.String()+")")
	}
	if p.err == nil && c.WSPongTimeout <= c.WSPingInterval {
		p.fail("WS_PONG_TIMEOUT", c.WSPongTimeout.String(), "must be longer than WS_PING_INTERVAL ("+c.WSPingInterval.String()+")")
	}
	if p.err != nil {
		return Config{}, p.err
	}
	return c, nil
}

// parser reads variables, keeping the first error so that Load stays a flat
// list of fields.
type parser struct {
	lookup   func(string) (string, bool)
	err      error
	warnings []string
}

func (p *parser) warn(msg string) { p.warnings = append(p.warnings, msg) }

func (p *parser) get(name string) (string, bool) {
	v, ok := p.lookup(name)
	v = strings.TrimSpace(v)
	return v, ok && v != ""
}

func (p *parser) fail(name, value, accept string) {
	if p.err == nil {
		p.err = &Error{Var: name, Value: value, Accept: accept}
	}
}

func (p *parser) int(name string, def, lo, hi int) int {
	v, ok := p.get(name)
	if !ok {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		p.fail(name, v, fmt.Sprintf("want a whole number from %d to %d", lo, hi))
		return def
	}
	return n
}

func (p *parser) float(name string, def, lo, hi float64) float64 {
	v, ok := p.get(name)
	if !ok {
		return def
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || !(f >= lo && f <= hi) {
		p.fail(name, v, fmt.Sprintf("want a number from %g to %g", lo, hi))
		return def
	}
	return f
}

func (p *parser) bool(name string, def bool) bool {
	v, ok := p.get(name)
	if !ok {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		p.fail(name, v, "want true or false")
		return def
	}
	return b
}

// addr accepts host:port or :port.
func (p *parser) addr(name string) string {
	v, ok := p.get(name)
	if !ok {
		return ""
	}
	host, port, err := net.SplitHostPort(v)
	n, perr := strconv.Atoi(port)
	if err != nil || perr != nil || n < 0 || n > 65535 || (host != "" && net.ParseIP(host) == nil && !validHostname(host)) {
		p.fail(name, v, "want host:port or :port, such as :9090")
		return ""
	}
	return v
}

func (p *parser) duration(name string, def, lo, hi time.Duration) time.Duration {
	v, ok := p.get(name)
	if !ok {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < lo || d > hi {
		p.fail(name, v, fmt.Sprintf("want a duration such as 10s or 500ms, from %s to %s", lo, hi))
		return def
	}
	return d
}

func (p *parser) oneOf(name, def string, allowed ...string) string {
	v, ok := p.get(name)
	if !ok {
		return def
	}
	for _, a := range allowed {
		if strings.EqualFold(v, a) {
			return a
		}
	}
	p.fail(name, v, "want one of "+strings.Join(allowed, ", "))
	return def
}

func (p *parser) level(name string) slog.Level {
	switch p.oneOf(name, "info", "debug", "info", "warn", "error") {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}

func (p *parser) host(name string) string {
	v, ok := p.get(name)
	if !ok {
		return ""
	}
	h := strings.TrimSuffix(strings.TrimPrefix(v, "["), "]")
	if net.ParseIP(h) == nil && !validHostname(h) {
		p.fail(name, v, "want an IP address (0.0.0.0, ::, 127.0.0.1) or a host name; leave empty for all interfaces")
		return ""
	}
	return h
}

func validHostname(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for _, c := range label {
			if !(c == '-' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
				return false
			}
		}
	}
	return true
}

func (p *parser) redisURL(name string) string {
	v, ok := p.get(name)
	if !ok {
		return ""
	}
	const accept = "want redis://[user:password@]host:port[/db] or rediss://…"
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "" {
		p.fail(name, redact.URL(v), accept)
		return ""
	}
	if db := strings.TrimPrefix(u.Path, "/"); db != "" {
		if n, err := strconv.Atoi(db); err != nil || n < 0 {
			p.fail(name, redact.URL(v), "the database after the last / must be a whole number such as 0; "+accept)
			return ""
		}
	}
	// go-redis reads the rest (query options such as dial_timeout): what it
	// refuses is refused here, at start, rather than when connecting.
	if _, err := redis.ParseURL(v); err != nil {
		p.fail(name, redact.URL(v), accept+" ("+redactErr(err, v)+")")
		return ""
	}
	return v
}

// redactErr is err's text without the URL's secrets, in case the parser
// quoted them.
func redactErr(err error, rawURL string) string {
	return redact.New(redact.URLSecrets(rawURL)...).String(err.Error())
}

func (p *parser) list(name string) []string {
	v, ok := p.get(name)
	if !ok {
		return nil
	}
	var out []string
	for _, item := range strings.Split(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

func (p *parser) origins(name string) []string {
	list := p.list(name)
	for _, o := range list {
		if err := ValidateOrigin(o); err != nil {
			p.fail(name, o, err.Error())
			return nil
		}
	}
	return list
}

// ValidateOrigin accepts "*", an origin (scheme://host[:port]) or a wildcard
// host pattern "*.example.com" (any scheme) or "https://*.example.com".
func ValidateOrigin(o string) error {
	if o == "*" {
		return nil
	}
	rest := o
	if i := strings.Index(o, "://"); i >= 0 {
		scheme := o[:i]
		if scheme != "http" && scheme != "https" {
			return fmt.Errorf("want http:// or https:// origins, or *.domain wildcards")
		}
		rest = o[i+3:]
	}
	rest = strings.TrimPrefix(rest, "*.")
	host := rest
	if h, port, err := net.SplitHostPort(rest); err == nil {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("want a port from 1 to 65535")
		}
		host = h
	}
	if strings.ContainsAny(host, "/?#@* ") || (!validHostname(host) && net.ParseIP(strings.Trim(host, "[]")) == nil) {
		return fmt.Errorf("want origins like https://app.example.com or *.example.com, separated by commas")
	}
	return nil
}

func (p *parser) tokens(name string) []string {
	list := p.list(name)
	for _, t := range list {
		if len(t) < 16 || strings.ContainsAny(t, " \t\"'") {
			// The value is a secret: never echo it.
			p.fail(name, "(redacted)", "want comma-separated tokens of at least 16 characters without spaces or quotes")
			return nil
		}
	}
	return list
}
