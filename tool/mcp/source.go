package mcp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/agentgate/agentgate/internal/clip"
	"github.com/agentgate/agentgate/internal/logattr"
	"github.com/agentgate/agentgate/internal/redact"
	"github.com/agentgate/agentgate/tool"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
)

// Config configures a Source. Only Servers is required.
type Config struct {
	// Servers are the MCP servers (MCP_SERVERS), with distinct names.
	Servers []Server
	// Timeout (TOOL_TIMEOUT) bounds each call, and each attempt to connect
	// a server and list its tools. Default tool.DefaultTimeout (60s).
	Timeout time.Duration
	// MaxResultBytes (TOOL_RESULT_MAX_BYTES) is the longest result a call
	// returns; a longer one is cut, with a marker saying so. Default
	// tool.DefaultMaxResultBytes (64 KiB); at least 1 KiB.
	MaxResultBytes int
	// Logger gets a line per call and per change of a server's state,
	// with the servers' Secrets taken out. Default slog.Default().
	Logger *slog.Logger
	// Observer is told of every call and state change, for metrics.
	// Default none.
	Observer Observer
	// Version is the gateway's version, sent to servers with the client's
	// name, agentgate. Default "dev".
	Version string
	// ReconnectMin and ReconnectMax bound the delays between attempts to
	// connect a server: they start near ReconnectMin and double, with
	// jitter, up to ReconnectMax. Defaults 250ms and 30s.
	ReconnectMin, ReconnectMax time.Duration
}

// minResultBytes is the least Config.MaxResultBytes.
const minResultBytes = 1 << 10

// Source is the tools of MCP servers, as a tool.Source. It keeps every
// server connected from New to Close, and is safe for concurrent use.
type Source struct {
	cfg   Config
	log   *slog.Logger
	red   *redact.Redactor
	conns []*conn
	// byName finds a conn by its server's name, the prefix of its tools'.
	byName map[string]*conn
	// life ends when Close starts: the connections stop, and the calls
	// in flight end.
	life context.Context
	stop context.CancelFunc
	// kill ends when Close's deadline passes: processes get SIGKILL and
	// HTTP requests end at once.
	kill    context.Context
	killNow context.CancelFunc
	// wg counts every goroutine the Source started.
	wg sync.WaitGroup
}

var (
	_ tool.Source = (*Source)(nil)
	_ tool.Owner  = (*Source)(nil)
)

// New checks cfg and starts connecting to its servers in the background.
// It does not wait for them: a server that is down is retried until it
// answers, and its tools are offered from then on.
func New(cfg Config) (*Source, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = tool.DefaultTimeout
	}
	if cfg.MaxResultBytes == 0 {
		cfg.MaxResultBytes = tool.DefaultMaxResultBytes
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Observer == nil {
		cfg.Observer = nopObserver{}
	}
	if cfg.Version == "" {
		cfg.Version = "dev"
	}
	if cfg.ReconnectMin == 0 {
		cfg.ReconnectMin = 250 * time.Millisecond
	}
	if cfg.ReconnectMax == 0 {
		cfg.ReconnectMax = 30 * time.Second
	}
	var secrets []string
	for _, s := range cfg.Servers {
		secrets = append(secrets, s.secrets()...)
	}
	red := redact.New(secrets...)
	// The servers' secrets are taken out of every line, the SDK's too,
	// whether or not the program's logger redacts its own.
	s := &Source{cfg: cfg, log: redact.Logger(cfg.Logger, red), red: red, byName: map[string]*conn{}}
	s.life, s.stop = context.WithCancel(context.Background())
	s.kill, s.killNow = context.WithCancel(context.Background())
	for _, srv := range cfg.Servers {
		c := newConn(srv, s)
		s.conns = append(s.conns, c)
		s.byName[srv.Name] = c
	}
	for _, c := range s.conns {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			c.run(s.life)
		}()
	}
	return s, nil
}

// check refuses what New cannot run; ParseServers has checked the servers
// of MCP_SERVERS already.
func (cfg Config) check() error {
	seen := map[string]bool{}
	for i, s := range cfg.Servers {
		var err error
		switch {
		case seen[s.Name]:
			err = errors.New("the name is taken by another server")
		case checkName(s.Name) != nil:
			err = checkName(s.Name)
		case (s.URL == "") == (len(s.Command) == 0):
			err = errors.New("set url or command, not both")
		case len(s.Command) > 0 && s.Command[0] == "":
			err = errors.New("command must start with the program to run")
		case s.URL != "" && !validURL(s.URL):
			err = errors.New("want an http:// or https:// url")
		}
		if err != nil {
			return fmt.Errorf("mcp: server %d (%q): %v", i+1, clipName(s.Name), err)
		}
		seen[s.Name] = true
	}
	switch {
	case cfg.Timeout < 0:
		return errors.New("mcp: Timeout must not be negative")
	case cfg.MaxResultBytes != 0 && cfg.MaxResultBytes < minResultBytes:
		return fmt.Errorf("mcp: MaxResultBytes must be at least %d", minResultBytes)
	case cfg.ReconnectMin < 0 || cfg.ReconnectMax < 0 || (cfg.ReconnectMax != 0 && cfg.ReconnectMin > cfg.ReconnectMax):
		return errors.New("mcp: want 0 <= ReconnectMin <= ReconnectMax")
	}
	return nil
}

// Tools implements tool.Source: the tools of the servers that are ready,
// in the order of Config.Servers. The Defs are shared: do not modify them.
func (s *Source) Tools(context.Context) []tool.Def {
	var out []tool.Def
	for _, c := range s.conns {
		c.mu.Lock()
		out = append(out, c.defs...)
		c.mu.Unlock()
	}
	return out
}

// Owns implements tool.Owner: the Source owns every name of its servers'
// prefixes (server__…), offered now or not, so that the gateway keeps
// client tools out of them and sends it a call of one whose server is
// down, which fails saying so.
func (s *Source) Owns(name string) bool {
	server, ok := serverOf(name)
	return ok && s.byName[server] != nil
}

// Status returns each server's state, in the order of Config.Servers.
func (s *Source) Status() []Status {
	out := make([]Status, len(s.conns))
	for i, c := range s.conns {
		c.mu.Lock()
		out[i] = c.status
		c.mu.Unlock()
	}
	return out
}

// Call implements tool.Source. It runs the tool on its server, bounded by
// Config.Timeout and by ctx, and returns its result as text (see the
// package doc), cut to Config.MaxResultBytes. A tool's own failure is a
// Result with IsError; an error is a *CallError: the tool did not run, or
// did not end.
func (s *Source) Call(ctx context.Context, name string, args json.RawMessage) (tool.Result, error) {
	start := time.Now()
	res, info, err := s.call(ctx, name, args)
	info.Duration = time.Since(start)
	s.report(ctx, info, err)
	return res, err
}

func (s *Source) call(ctx context.Context, name string, args json.RawMessage) (tool.Result, Call, error) {
	server, _ := serverOf(name)
	c := s.byName[server]
	if c == nil {
		return tool.Result{}, Call{Outcome: UnknownTool}, unknownTool(name, "", false)
	}
	info := Call{Server: c.cfg.Name}
	cs, mcpName, cerr := c.route(name)
	if cerr != nil {
		info.Outcome = cerr.Kind
		return tool.Result{}, info, cerr
	}
	info.Tool = mcpName
	if err := objectArgs(args); err != nil {
		info.Outcome = BadArguments
		return tool.Result{}, info, &CallError{Kind: BadArguments, Server: c.cfg.Name, Tool: name, msg: err.Error(), err: err}
	}
	if len(bytes.TrimSpace(args)) == 0 || bytes.Equal(bytes.TrimSpace(args), []byte("null")) {
		args = json.RawMessage("{}")
	}

	cctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	closing := context.AfterFunc(s.life, func() { cancel(errClosed) })
	defer closing()
	tctx, tcancel := context.WithTimeoutCause(cctx, s.cfg.Timeout, errTimeout)
	defer tcancel()

	res, err := cs.CallTool(tctx, &sdk.CallToolParams{Name: mcpName, Arguments: args})
	if err != nil {
		cerr := s.callError(tctx, c, cs, name, err)
		info.Outcome = cerr.Kind
		return tool.Result{}, info, cerr
	}
	out, size := result(res, s.cfg.MaxResultBytes)
	info.Outcome, info.ResultBytes, info.Cut = OK, size, size > s.cfg.MaxResultBytes
	if out.IsError {
		info.Outcome = ToolError
	}
	return out, info, nil
}

// objectArgs checks that args are a JSON object, or nothing.
func objectArgs(args json.RawMessage) error {
	t := bytes.TrimSpace(args)
	if len(t) == 0 || bytes.Equal(t, []byte("null")) {
		return nil
	}
	if t[0] != '{' || !json.Valid(t) {
		return errors.New("the arguments must be a JSON object, such as {\"path\": \"notes.txt\"}")
	}
	return nil
}

// callError is the *CallError of a CallTool that failed.
func (s *Source) callError(ctx context.Context, c *conn, cs *sdk.ClientSession, name string, err error) *CallError {
	e := &CallError{Server: c.cfg.Name, Tool: name, err: err}
	if ctx.Err() != nil {
		switch cause := context.Cause(ctx); {
		case errors.Is(cause, errTimeout):
			e.Kind, e.msg, e.err = Timeout, fmt.Sprintf("the tool %q did not answer within %s", name, s.cfg.Timeout), cause
		case errors.Is(cause, errClosed):
			e.Kind, e.msg, e.err = Cancelled, "the call was cancelled: the gateway is shutting down", cause
		case errors.Is(cause, context.DeadlineExceeded):
			// The caller's own deadline, such as the loop's bound on a
			// step.
			e.Kind, e.msg, e.err = Timeout, fmt.Sprintf("the tool %q did not answer in time", name), cause
		default:
			e.Kind, e.msg, e.err = Cancelled, "the call was cancelled", cause
		}
		return e
	}
	if we, ok := serverError(err); ok {
		// The server may have dropped the tool without saying so.
		c.changed()
		e.Kind = Rejected
		e.msg = fmt.Sprintf("MCP server %q refused the call: %s", c.cfg.Name, clip.Message(s.red.String(we.Message)))
		return e
	}
	if sessionLost(err) {
		c.drop(cs, err)
	}
	e.Kind = Failed
	e.msg = fmt.Sprintf("MCP server %q failed during the call (%s); it is being reconnected, try again later", c.cfg.Name, reason(err))
	return e
}

// report tells the Observer of a call and writes its log line: server,
// tool, duration and outcome, and the agent, run and call that made it
// when ctx says (tool.CallInfo); never its arguments or its result.
func (s *Source) report(ctx context.Context, info Call, err error) {
	s.cfg.Observer.Called(info)
	level := slog.LevelInfo
	switch info.Outcome {
	case Unavailable, Failed, Timeout:
		level = slog.LevelWarn
	}
	attrs := []slog.Attr{
		slog.String("mcp_server", info.Server),
		slog.String("tool", clip.Value(info.Tool)),
		logattr.Millis("duration_ms", info.Duration),
		slog.String("outcome", string(info.Outcome)),
	}
	if ci, ok := tool.CallInfoFrom(ctx); ok {
		attrs = append(attrs, slog.String("agent", clip.Value(ci.AgentID)), slog.String("run_id", clip.Value(ci.RunID)),
			slog.String("tool_call_id", clip.Value(ci.ToolCallID)))
	}
	if err == nil {
		attrs = append(attrs, slog.Int("result_bytes", info.ResultBytes))
		if info.Cut {
			attrs = append(attrs, slog.Bool("cut", true))
		}
	} else {
		detail := err.Error()
		if cause := errors.Unwrap(err); cause != nil {
			detail += ": " + cause.Error()
		}
		if cerr, ok := errors.AsType[*CallError](err); ok && info.Tool == "" {
			attrs = append(attrs, slog.String("name", clip.Value(cerr.Tool)))
		}
		attrs = append(attrs, slog.String("error", s.clean(detail, Server{})))
	}
	s.log.LogAttrs(ctx, level, "mcp call", attrs...)
}

// clean is an error's text for a log line: on one line, cut, without the
// configuration's secrets, and with srv's URL masked.
func (s *Source) clean(msg string, srv Server) string {
	msg = oneLine(msg)
	if srv.URL != "" {
		msg = strings.ReplaceAll(msg, srv.URL, redact.URL(srv.URL))
	}
	return clip.Message(s.red.String(msg))
}

// Close stops every server and ends the calls in flight. Commands get
// their input closed, then SIGTERM, then SIGKILL (see the package doc);
// when ctx is done first (its deadline is SHUTDOWN_TIMEOUT's in the
// gateway), they are killed at once and Close returns an error saying so,
// once they have exited. Tools offers nothing and Call fails after Close.
// Close may be called more than once.
func (s *Source) Close(ctx context.Context) error {
	s.stop()
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		s.killNow()
		<-done
		err = fmt.Errorf("mcp: the servers did not stop in time and were killed: %w", ctx.Err())
	}
	s.killNow()
	for _, c := range s.conns {
		if c.http != nil {
			c.http.base.CloseIdleConnections()
		}
	}
	return err
}
