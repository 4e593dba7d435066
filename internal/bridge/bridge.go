// Package bridge serves a Connect service to WebSocket clients that speak
// JSON frames, at /ws/agent/{agent_id}: the legacy browser frontend's
// protocol (docs/websocket.md).
//
// The bridge is generic over the service descriptor. A frame names a method;
// the bridge resolves it with protoreflect, decodes the request with
// protojson into the method's input type, fills agent_id from the URL, and
// calls the service's mounted Connect handler in process. Every frame thus
// runs the same service code and the same interceptors as a Connect call,
// and a method added to the service is reachable on the socket with no
// change here. Unary and server-streaming methods are bridged; client and
// bidirectional streams are not (the socket is the duplex stream).
//
// On connect, the socket is also subscribed to its agent's events, which it
// receives as event frames (see Config.Agents).
//
// The files follow the parts: bridge.go upgrades and tracks sockets,
// conn.go reads and closes one socket, writer.go writes to it, session.go
// and call.go turn frames into calls, method.go resolves the descriptor and
// frame.go encodes and decodes frames.
package bridge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/agentgate/agentgate/internal/agent"
	"github.com/gorilla/websocket"
	"golang.org/x/time/rate"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Config configures a Bridge. Every zero field but Service and Handler has
// the documented default.
type Config struct {
	// Service is the bridged service, such as agent.v1.AgentService.
	// Required.
	Service protoreflect.ServiceDescriptor
	// Handler serves Service's procedures (/package.Service/Method) in the
	// Connect protocol: the handler mounted on the server, with its
	// interceptors, so that bridged calls take the path Connect calls take.
	// Required.
	Handler http.Handler
	// Agents provides the push subscription of each socket to its agent's
	// events. Nil turns push off.
	Agents *agent.Service
	// TextMethod is the unary method that a text frame which is not a JSON
	// object calls, with the frame as its TextField. Default "SendMessage"
	// and "text"; set TextMethod to "-" to refuse such frames.
	TextMethod string
	TextField  string
	// CheckOrigin accepts or refuses the Origin of an upgrade request (403
	// when refused). Default: any origin.
	CheckOrigin func(r *http.Request) bool
	// Credentials returns the Authorization value that every call of a
	// socket carries, from its upgrade request; browsers, which cannot set
	// headers on a WebSocket, pass their token in the query or a
	// subprotocol. Default: the upgrade request's Authorization header.
	Credentials func(r *http.Request) string
	// Observer is told of sockets opening and closing and of frames, for
	// metrics. Default: nobody.
	Observer Observer
	// Logger receives the bridge's logs. Default slog.Default().
	Logger *slog.Logger

	// PingInterval is how often the server pings each socket. Default 25s.
	PingInterval time.Duration
	// PongTimeout closes a socket from which nothing (not even a pong) was
	// read for this long, with 1001. Default 60s.
	PongTimeout time.Duration
	// WriteTimeout bounds the write of one frame; a client that reads
	// nothing for this long is cut off. Default 10s.
	WriteTimeout time.Duration
	// CloseGrace is how long the server waits for the client to answer its
	// close frame before it drops the connection. Default 2s.
	CloseGrace time.Duration
	// ReadLimit is the largest frame accepted; a larger one closes the
	// socket with 1009. Default 64 KiB.
	ReadLimit int64
	// SendQueue is how many response frames may wait for a slow client
	// before its socket is closed with 1013. A stream's frames wait for room
	// once half of it is taken, instead. (Pushed events wait in the agent
	// subscription, up to the engine's subscriber limit.) Default 256.
	SendQueue int
	// MaxCalls is how many requests may be in flight on one socket; more
	// get resource_exhausted. Default 64.
	MaxCalls int
	// Admit, if set, decides whether a socket may open (a connection cap, a
	// rate of new connections). A refusal is answered with status and
	// reason before the upgrade; an admitted socket calls release once it
	// is closed.
	Admit func(r *http.Request) (release func(), status int, reason string)
	// FrameRate is how many frames per second one socket may send, with
	// bursts of twice that (a token bucket). A frame over the rate gets a
	// resource_exhausted error frame; a socket that keeps sending over it
	// is closed with 1008. Zero means no limit.
	FrameRate float64
}

func (c Config) withDefaults() Config {
	if c.TextMethod == "" {
		c.TextMethod, c.TextField = "SendMessage", "text"
	}
	if c.TextMethod == "-" {
		c.TextMethod = ""
	}
	if c.CheckOrigin == nil {
		c.CheckOrigin = func(*http.Request) bool { return true }
	}
	if c.Credentials == nil {
		c.Credentials = func(r *http.Request) string { return r.Header.Get("Authorization") }
	}
	if c.Observer == nil {
		c.Observer = nopObserver{}
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.PingInterval <= 0 {
		c.PingInterval = 25 * time.Second
	}
	if c.PongTimeout <= 0 {
		c.PongTimeout = 60 * time.Second
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 10 * time.Second
	}
	if c.CloseGrace <= 0 {
		c.CloseGrace = 2 * time.Second
	}
	if c.ReadLimit <= 0 {
		c.ReadLimit = 64 << 10
	}
	if c.SendQueue <= 0 {
		c.SendQueue = 256
	}
	if c.MaxCalls <= 0 {
		c.MaxCalls = 64
	}
	return c
}

// Observer is told what happens on the sockets, for metrics. Its methods
// are called concurrently, on the sockets' goroutines, and must not block.
type Observer interface {
	// Opened is called when a socket is upgraded.
	Opened()
	// Closed is called when a socket's goroutines are done, with the close
	// code it ended with (1006 when the connection was cut).
	Closed(code CloseCode)
	// FrameIn is called for every data frame read, FrameOut for every data
	// frame written.
	FrameIn()
	FrameOut()
	// FrameRefused is called for every frame refused over Config.FrameRate.
	FrameRefused()
}

type nopObserver struct{}

func (nopObserver) Opened()          {}
func (nopObserver) Closed(CloseCode) {}
func (nopObserver) FrameIn()         {}
func (nopObserver) FrameOut()        {}
func (nopObserver) FrameRefused()    {}

// Bridge is the WebSocket endpoint: an http.Handler for
// GET /ws/agent/{agent_id}. It is safe for concurrent use.
type Bridge struct {
	cfg    Config
	log    *slog.Logger
	rpc    *rpc
	frames *eventFrames
	up     websocket.Upgrader

	mu       sync.Mutex
	conns    map[*conn]struct{}
	draining bool
	wg       sync.WaitGroup // sockets, from the upgrade until their goroutines end
}

// New returns a Bridge for cfg.Service.
func New(cfg Config) (*Bridge, error) {
	cfg = cfg.withDefaults()
	if cfg.Service == nil || cfg.Handler == nil {
		return nil, errors.New("bridge: Service and Handler are required")
	}
	ms, err := newMethods(cfg.Service, cfg.TextMethod, cfg.TextField)
	if err != nil {
		return nil, err
	}
	b := &Bridge{
		cfg:    cfg,
		log:    cfg.Logger,
		rpc:    &rpc{methods: ms, handler: cfg.Handler, log: cfg.Logger},
		frames: newEventFrames(),
		conns:  make(map[*conn]struct{}),
	}
	b.up = websocket.Upgrader{
		// Small buffers and a shared write pool keep an idle socket small:
		// frames larger than a buffer are read and written in pieces.
		ReadBufferSize:  1 << 10,
		WriteBufferSize: 1 << 10,
		WriteBufferPool: &sync.Pool{},
		Subprotocols:    []string{"agent.v1"},
		CheckOrigin:     cfg.CheckOrigin,
		Error: func(w http.ResponseWriter, _ *http.Request, status int, reason error) {
			http.Error(w, reason.Error(), status)
		},
	}
	if cfg.CheckOrigin != nil {
		// ServeHTTP has checked the origin before the upgrade.
		b.up.CheckOrigin = func(*http.Request) bool { return true }
	}
	return b, nil
}

// refuse answers an upgrade request that cannot become a socket, and logs
// why: every refusal is visible to the operator.
func (b *Bridge) refuse(w http.ResponseWriter, r *http.Request, status int, reason, msg string) {
	b.log.Warn("websocket refused", "reason", reason, "status", status, "path", r.URL.Path,
		"peer", r.RemoteAddr, "request_id", w.Header().Get("X-Request-Id"), "detail", truncate(msg, 200))
	http.Error(w, msg, status)
}

// pushOptions are the socket's query parameters: ?after_seq=N replays the
// events after N first (&epoch=E names the log N counts in, so that a log
// created anew is replayed whole after a history_reset), ?subscribe=false
// turns push off, ?deltas=false leaves the reply's text deltas out of the
// push.
type pushOptions struct {
	subscribe  bool
	after      *uint64
	epoch      string
	skipDeltas bool
}

// maxEpochLen bounds ?epoch: epochs the server gives out are 26 characters.
const maxEpochLen = 128

func parsePushOptions(r *http.Request) (pushOptions, error) {
	q := r.URL.Query()
	o := pushOptions{subscribe: true}
	if v := q.Get("subscribe"); v != "" {
		s, err := strconv.ParseBool(v)
		if err != nil {
			return o, fmt.Errorf("subscribe=%q: want true or false", truncate(v, 32))
		}
		o.subscribe = s
	}
	if v := q.Get("after_seq"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return o, fmt.Errorf("after_seq=%q: want the seq of the last event received, a whole number", truncate(v, 32))
		}
		if !o.subscribe {
			return o, errors.New("after_seq replays pushed events: it cannot go with subscribe=false")
		}
		o.after = &n
	}
	if v := q.Get("epoch"); v != "" {
		switch {
		case len(v) > maxEpochLen:
			return o, fmt.Errorf("epoch is %d characters long: want the epoch of the last event received", len(v))
		case o.after == nil:
			return o, errors.New("epoch names the log of after_seq: it needs after_seq")
		}
		o.epoch = v
	}
	if v := q.Get("deltas"); v != "" {
		d, err := strconv.ParseBool(v)
		if err != nil {
			return o, fmt.Errorf("deltas=%q: want true or false", truncate(v, 32))
		}
		if !o.subscribe {
			return o, errors.New("deltas chooses the pushed events: it cannot go with subscribe=false")
		}
		o.skipDeltas = !d
	}
	return o, nil
}

// ServeHTTP upgrades the request to a WebSocket bound to the agent in the
// path. What can be refused is refused before the upgrade, with an HTTP
// status: 400 for a bad agent_id or query, 426 for a request that is not a
// WebSocket upgrade, 503 while the server drains or the event store is
// unavailable.
func (b *Bridge) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	agentID := r.PathValue("agent_id")
	if err := agent.ValidateID(agentID); err != nil {
		b.refuse(w, r, http.StatusBadRequest, "bad_agent_id", err.Error())
		return
	}
	opts, err := parsePushOptions(r)
	if err != nil {
		b.refuse(w, r, http.StatusBadRequest, "bad_query", err.Error())
		return
	}
	if !websocket.IsWebSocketUpgrade(r) {
		w.Header().Set("Upgrade", "websocket")
		b.refuse(w, r, http.StatusUpgradeRequired, "not_websocket", "this endpoint is a WebSocket: connect with a WebSocket client")
		return
	}
	// The origin is checked before the socket takes a place or a rate
	// token, or subscribes: a refused page costs nothing. (CheckOrigin
	// answers for itself, 403.)
	if b.cfg.CheckOrigin != nil && !b.cfg.CheckOrigin(r) {
		http.Error(w, "websocket: request origin not allowed", http.StatusForbidden)
		return
	}
	release := func() {}
	if b.cfg.Admit != nil {
		var status int
		var reason string
		if release, status, reason = b.cfg.Admit(r); release == nil {
			http.Error(w, reason, status)
			return
		}
	}
	if !b.acquire() {
		release()
		b.refuse(w, r, http.StatusServiceUnavailable, "draining", "the server is shutting down; reconnect")
		return
	}
	// The connection's context lives as long as the socket, not as r; it
	// keeps r's values (such as the request id), which its calls carry.
	ctx, cancel := context.WithCancel(context.WithValue(context.WithoutCancel(r.Context()), socketKey{}, true))
	c := &conn{b: b, cancel: cancel, opened: time.Now(), release: release,
		// Set by the server's request-id middleware, when there is one.
		requestID: w.Header().Get("X-Request-Id")}
	if b.cfg.FrameRate > 0 {
		burst := max(int(2*b.cfg.FrameRate), 1)
		c.frames = rate.NewLimiter(rate.Limit(b.cfg.FrameRate), burst)
		c.strikes = rate.NewLimiter(rate.Limit(b.cfg.FrameRate), burst)
	}
	c.session = session{rpc: b.rpc, agentID: agentID, peer: newPeer(r, b.cfg.Credentials(r)), ctx: ctx, maxCalls: b.cfg.MaxCalls}
	if opts.subscribe && b.cfg.Agents != nil {
		c.skipDeltas = opts.skipDeltas
		if c.f, err = b.cfg.Agents.Follow(ctx, agentID, agent.FollowOptions{After: opts.after, SkipDeltas: opts.skipDeltas, Epoch: opts.epoch}); err != nil {
			cancel()
			b.wg.Done()
			release()
			status, reason := http.StatusServiceUnavailable, "store_unavailable"
			if agent.KindOf(err) == agent.KindInvalidArgument {
				status, reason = http.StatusBadRequest, "bad_request"
			}
			b.refuse(w, r, status, reason, err.Error())
			return
		}
	}
	hw := &batchHijacker{ResponseWriter: w}
	ws, err := b.up.Upgrade(hw, r, nil)
	if err != nil {
		// Upgrade has answered the request.
		if c.f != nil {
			c.f.Close()
		}
		cancel()
		b.wg.Done()
		release()
		return
	}
	c.ws, c.out = ws, hw.conn
	b.cfg.Observer.Opened() // before setup, which may start the writer
	c.setup()
	b.track(c)
	go c.run()
}

// socketKey marks the context of the calls a socket makes.
type socketKey struct{}

// FromSocket reports whether ctx is that of a call bridged from a WebSocket.
// The mark lives in the context, where no client header can forge it.
func FromSocket(ctx context.Context) bool {
	v, _ := ctx.Value(socketKey{}).(bool)
	return v
}

// acquire counts a socket about to open, unless the bridge drains.
func (b *Bridge) acquire() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.draining {
		return false
	}
	b.wg.Add(1)
	return true
}

// track registers an open socket. One that opened while the drain began is
// closed at once, like the others.
func (b *Bridge) track(c *conn) {
	b.mu.Lock()
	b.conns[c] = struct{}{}
	draining := b.draining
	b.mu.Unlock()
	if draining {
		c.drain()
	}
}

// release forgets a socket whose goroutines are done.
func (b *Bridge) release(c *conn) {
	b.mu.Lock()
	delete(b.conns, c)
	b.mu.Unlock()
	b.wg.Done()
}

// drain starts closing the socket for shutdown: once its unary calls in
// flight have answered, it closes with 1001.
func (c *conn) drain() {
	if c.session.drain() {
		c.session.idle()
	}
}

// Drain closes every socket for shutdown, within ctx, and refuses new ones.
// Unary calls in flight may finish first, for up to half the time ctx
// leaves; streams end with unavailable. Then every socket gets 1001 (going
// away), so that clients reconnect to the next instance and resume with
// after_seq. Drain waits for the sockets' goroutines; if ctx ends first, it
// cuts the remaining connections and returns. It suits
// server.Config.OnShutdown: http.Server.Shutdown does not touch hijacked
// connections.
func (b *Bridge) Drain(ctx context.Context) {
	b.mu.Lock()
	b.draining = true
	conns := b.snapshotLocked()
	b.mu.Unlock()
	for _, c := range conns {
		c.drain()
	}
	done := make(chan struct{})
	go func() {
		b.wg.Wait()
		close(done)
	}()

	var soft <-chan time.Time
	if deadline, ok := ctx.Deadline(); ok {
		t := time.NewTimer(time.Until(deadline) / 2)
		defer t.Stop()
		soft = t.C
	}
	select {
	case <-done:
		return
	case <-soft:
	case <-ctx.Done():
	}
	for _, c := range b.snapshot() {
		c.closeFlush(CloseGoingAway, "server shutting down; reconnect and resume with after_seq")
	}
	select {
	case <-done:
		return
	case <-ctx.Done():
	}
	conns = b.snapshot()
	b.log.Warn("drain timed out; cutting websockets", "open", len(conns))
	for _, c := range conns {
		_ = c.ws.NetConn().Close()
	}
}

func (b *Bridge) snapshot() []*conn {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.snapshotLocked()
}

func (b *Bridge) snapshotLocked() []*conn {
	out := make([]*conn, 0, len(b.conns))
	for c := range b.conns {
		out = append(out, c)
	}
	return out
}
