package mcp

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/agentgate/agentgate/internal/backoff"
	"github.com/agentgate/agentgate/internal/clip"
	"github.com/agentgate/agentgate/internal/logattr"
	"github.com/agentgate/agentgate/tool"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
)

// conn is one configured server: its connection, which run keeps up, and
// the tools it offers while connected.
//
// run owns the connection: it connects, lists the tools, and reconnects
// when the session ends. Call only reads the session (under mu) and, when
// a call finds the session broken, drops it so that run reconnects.
type conn struct {
	cfg    Server
	src    *Source
	log    *slog.Logger
	client *sdk.Client
	// http carries a url server's requests; nil for a command.
	http *httpTransport
	// refresh is signalled when the server says its tool list changed.
	refresh chan struct{}

	mu sync.Mutex
	// session is the connection that calls use; nil while not ready.
	session *sdk.ClientSession
	// lost is closed, and lostErr set, when a call finds session broken.
	lost    chan struct{}
	lostErr error
	// byName maps the names offered to the model to the server's names.
	byName map[string]string
	defs   []tool.Def
	status Status
}

func newConn(s Server, src *Source) *conn {
	c := &conn{
		cfg:     s,
		src:     src,
		log:     src.log.With("mcp_server", s.Name),
		refresh: make(chan struct{}, 1),
		status:  Status{Name: s.Name, Transport: s.Transport(), State: Connecting, Since: time.Now()},
	}
	if s.URL != "" {
		c.http = newHTTPTransport(s, src.kill)
	}
	c.client = sdk.NewClient(&sdk.Implementation{Name: "agentgate", Version: src.cfg.Version}, &sdk.ClientOptions{
		Logger: c.log,
		// The gateway offers the server no roots, sampling or
		// elicitation: it only lists and calls tools.
		Capabilities:           &sdk.ClientCapabilities{},
		ToolListChangedHandler: func(context.Context, *sdk.ToolListChangedRequest) { c.changed() },
	})
	return c
}

// changed asks run to list the tools again; a signal already waiting
// covers this one.
func (c *conn) changed() {
	select {
	case c.refresh <- struct{}{}:
	default:
	}
}

// run keeps the server connected until ctx is done: after each session
// ends, or each attempt fails, it waits the backoff's next delay, which
// starts again from the shortest after a session that lasted longer than
// the longest delay.
func (c *conn) run(ctx context.Context) {
	retry := backoff.New(c.src.cfg.ReconnectMin, c.src.cfg.ReconnectMax)
	for {
		began := time.Now()
		err := c.connected(ctx)
		if ctx.Err() != nil {
			c.setStatus(Status{State: Closed}, nil)
			return
		}
		if time.Since(began) > c.src.cfg.ReconnectMax {
			retry.Reset()
		}
		delay := retry.Next()
		c.down(err, delay)
		if !backoff.Sleep(ctx, delay) {
			c.setStatus(Status{State: Closed}, nil)
			return
		}
	}
}

// connected connects, offers the server's tools, and serves calls until
// the session ends; it returns why it ended.
func (c *conn) connected(ctx context.Context) error {
	var transport sdk.Transport
	var proc *process
	if c.http != nil {
		c.http.lastStatus() // forget an earlier session's
		transport = &sdk.StreamableClientTransport{
			Endpoint:   c.cfg.URL,
			HTTPClient: &http.Client{Transport: c.http},
			// A call's stream that breaks is resumed twice at most; then
			// the call fails, and a session that broke is reconnected
			// here, with the gateway's backoff.
			MaxRetries: 2,
		}
	} else {
		p, err := startProcess(c.cfg, c.log, &c.src.wg)
		if err != nil {
			return err
		}
		proc = p
		defer proc.stop(c.src.kill)
		transport = p.transport()
	}

	start, cancel := context.WithTimeout(ctx, c.src.cfg.Timeout)
	defer cancel()
	cs, err := c.client.Connect(start, transport, nil)
	if ctx.Err() != nil {
		return ctx.Err() // closing: nothing to tell
	}
	if err != nil {
		return c.why(err, proc)
	}
	defer cs.Close()
	ended := make(chan error, 1)
	c.src.wg.Add(1)
	go func() {
		defer c.src.wg.Done()
		ended <- cs.Wait()
	}()
	defs, byName, err := c.list(start, cs)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err != nil {
		return c.why(err, proc)
	}
	cancel()
	lost := c.ready(cs, defs, byName)
	defer c.unready(cs)

	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-ended:
			if err == nil {
				err = sdk.ErrConnectionClosed
			}
			return c.why(err, proc)
		case <-lost:
			return c.why(c.lostCause(), proc)
		case <-c.refresh:
			if err := c.relist(ctx, cs); err != nil && sessionLost(err) {
				return c.why(err, proc)
			}
		}
	}
}

// why is err with what tells more: the exit of a command that ended on
// its own (it did if it exits within exitWait), or the HTTP status that
// refused the connection. A command still running is stopped.
func (c *conn) why(err error, proc *process) error {
	if proc != nil {
		if proc.awaitExit(c.src.kill, exitWait) {
			return fmt.Errorf("%w; %w", proc.exitErr(), err)
		}
		proc.stop(c.src.kill)
	}
	if c.http != nil {
		if code := c.http.lastStatus(); code != 0 {
			return fmt.Errorf("%w; %w", &statusError{code: code}, err)
		}
	}
	return err
}

// exitWait is how long a command whose session ended is given to exit on
// its own, before it is stopped.
const exitWait = 500 * time.Millisecond

// list returns the server's tools as offered to the model, the allow-list
// applied, and the map from the offered names back to the server's.
func (c *conn) list(ctx context.Context, cs *sdk.ClientSession) ([]tool.Def, map[string]string, error) {
	var defs []tool.Def
	byName := map[string]string{}
	listed := map[string]bool{}
	for t, err := range cs.Tools(ctx, nil) {
		if err != nil {
			return nil, nil, err
		}
		listed[t.Name] = true
		if c.cfg.Tools != nil && !slices.Contains(c.cfg.Tools, t.Name) {
			continue
		}
		name := toolName(c.cfg.Name, t.Name)
		if _, dup := byName[name]; dup {
			c.log.Warn("mcp tool left out: its name is taken", "tool", clip.Value(t.Name), "name", name)
			continue
		}
		byName[name] = t.Name
		defs = append(defs, tool.Def{Name: name, Description: description(t), Parameters: schema(t.InputSchema)})
	}
	for _, want := range c.cfg.Tools {
		if !listed[want] {
			c.log.Warn("mcp tool allowed but not offered by the server", "tool", want)
		}
	}
	return defs, byName, nil
}

// description is what the model reads of a tool: its description, or its
// title when it has none.
func description(t *sdk.Tool) string {
	if t.Description != "" {
		return t.Description
	}
	if t.Title != "" {
		return t.Title
	}
	if t.Annotations != nil {
		return t.Annotations.Title
	}
	return ""
}

// emptySchema stands for an input schema that is not a JSON object.
var emptySchema = json.RawMessage(`{"type":"object","properties":{}}`)

// schema is a tool's input schema as JSON, an object.
func schema(in any) json.RawMessage {
	b, err := json.Marshal(in)
	if err != nil || len(b) == 0 || b[0] != '{' {
		return emptySchema
	}
	return b
}

// relist lists the tools again, after the server said they changed.
func (c *conn) relist(ctx context.Context, cs *sdk.ClientSession) error {
	lctx, cancel := context.WithTimeout(ctx, c.src.cfg.Timeout)
	defer cancel()
	defs, byName, err := c.list(lctx, cs)
	if err != nil {
		c.log.Warn("mcp tools not listed again", "error", c.src.clean(err.Error(), c.cfg))
		return err
	}
	c.mu.Lock()
	if c.session == cs {
		c.defs, c.byName = defs, byName
	}
	c.mu.Unlock()
	c.log.Info("mcp tools changed", "tools", len(defs))
	c.setStatus(Status{State: Ready, Tools: len(defs)}, cs)
	return nil
}

// ready makes cs the session calls use, with its tools, and returns the
// channel that a broken call closes.
func (c *conn) ready(cs *sdk.ClientSession, defs []tool.Def, byName map[string]string) <-chan struct{} {
	c.mu.Lock()
	c.session, c.defs, c.byName = cs, defs, byName
	c.lost, c.lostErr = make(chan struct{}), nil
	lost := c.lost
	c.mu.Unlock()
	attrs := []any{"tools", len(defs), "transport", c.cfg.Transport()}
	if init := cs.InitializeResult(); init != nil {
		attrs = append(attrs, "protocol", init.ProtocolVersion)
		if init.ServerInfo != nil {
			attrs = append(attrs, "server_info", clip.Value(init.ServerInfo.Name+" "+init.ServerInfo.Version))
		}
	}
	c.log.Info("mcp server ready", attrs...)
	c.setStatus(Status{State: Ready, Tools: len(defs)}, nil)
	return lost
}

// unready stops offering cs's tools and taking calls on it.
func (c *conn) unready(cs *sdk.ClientSession) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.session == cs {
		c.session, c.defs, c.byName = nil, nil, nil
	}
}

// drop is told by a call that cs is broken: calls stop using it, and run
// reconnects.
func (c *conn) drop(cs *sdk.ClientSession, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.session == cs {
		c.session, c.defs, c.byName = nil, nil, nil
		c.lostErr = err
		close(c.lost)
	}
}

func (c *conn) lostCause() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lostErr
}

// down records that the server is not connected, and logs it: at warn
// when it goes down or its reason changes, at debug for each retry that
// fails the same way.
func (c *conn) down(err error, retryIn time.Duration) {
	why := reason(err)
	c.mu.Lock()
	was := c.status
	c.mu.Unlock()
	level := slog.LevelWarn
	if was.State == Down && was.Reason == why {
		level = slog.LevelDebug
	}
	c.log.Log(context.Background(), level, "mcp server down", "reason", why,
		"error", c.src.clean(err.Error(), c.cfg), logattr.Millis("retry_in_ms", retryIn))
	c.setStatus(Status{State: Down, Reason: why}, nil)
}

// setStatus updates the status's state, tools and reason, keeping Since
// when the state stays, and tells the Observer of a change. With cs set,
// only while cs is the session.
func (c *conn) setStatus(st Status, cs *sdk.ClientSession) {
	c.mu.Lock()
	if cs != nil && c.session != cs {
		c.mu.Unlock()
		return
	}
	old := c.status
	st.Name, st.Transport, st.Since = old.Name, old.Transport, old.Since
	if st.State != old.State {
		st.Since = time.Now()
	}
	c.status = st
	c.mu.Unlock()
	if st != old {
		c.src.cfg.Observer.Changed(st)
	}
}

// route returns the session and the server's name of the tool offered as
// name, or the error a call of it gets.
func (c *conn) route(name string) (*sdk.ClientSession, string, *CallError) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.session == nil {
		msg := fmt.Sprintf("MCP server %q is unavailable", c.cfg.Name)
		switch st := c.status; st.State {
		case Down:
			msg += fmt.Sprintf(" (down for %s: %s); it is being reconnected, try again later", since(st.Since, time.Now()), st.Reason)
		case Connecting:
			msg += " (connecting); try again later"
		case Closed:
			msg += " (the gateway is shutting down)"
		}
		return nil, "", &CallError{Kind: Unavailable, Server: c.cfg.Name, Tool: name, msg: msg}
	}
	mcpName, ok := c.byName[name]
	if !ok {
		return nil, "", unknownTool(name, c.cfg.Name, true)
	}
	return c.session, mcpName, nil
}
