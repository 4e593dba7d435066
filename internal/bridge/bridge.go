// Package bridge serves a service to WebSocket clients that speak JSON
// frames, at /ws/agent/{agent_id}: the legacy browser frontend's protocol
// (docs/websocket.md).
//
// The bridge is generic over the service descriptor. A frame names a method;
// the bridge resolves it with protoreflect, decodes the request with
// protojson into the method's input type, fills agent_id from the URL, and
// calls the method's function (Config.Methods: the same functions the
// Connect handler serves) through the edge's policy (package edge), which
// authorizes the call, observes it as it observes a Connect call, and
// recovers a panic of the service. Nothing in between speaks HTTP: the
// function gets the decoded request, and its response is encoded once, as
// the frame's JSON. A method added to the service is reachable on the
// socket once it has a function; a bridge whose Methods miss one does not
// start. Unary and server-streaming methods are bridged; client and
// bidirectional streams are not (the socket is the duplex stream).
//
// On connect, the socket is also subscribed to its agent's events, which it
// receives as event frames (see Config.Agents).
//
// # A socket's life
//
// The Bridge has the edge authenticate an upgrade request (its token),
// validates it (its agent id, its query), has the edge check its origin
// and its permission on the agent and admit it (the connection cap and
// rate), and hands it to a socket, which owns the connection from then on,
// cleanup included. The bridge keeps a roster of its open sockets, so that
// a shutdown can end the streams of every one of them and close it with
// 1001 once its unary calls have answered.
//
// A socket's state is split by owner. Its reader, the one goroutine that
// lives as long as the socket, reads frames, checks each against the
// edge's frame rate and starts a call for it: the socket's session holds
// the calls in flight, each in a goroutine of its own (one that ran the
// socket's last call lingers briefly for its next), which answer into
// the socket's outbox, a bounded queue that also holds the pong to send,
// the work of the ping and resume timers and the close once decided. The
// writer is no goroutine of the socket's whole life: it is started
// whenever there is work, writes every frame of a turn in one write to the
// network, lingers briefly and ends, so that an idle socket costs its
// parked reader only. The push, the socket's follower of its agent's
// events, is the writer's too: pushed events wait in the engine's queue
// rather than in the outbox, and each is encoded once for all the sockets
// that receive it.
//
// A unary call that the client cancels, or whose socket closes, is
// detached: the socket answers it canceled at once and forgets it, and
// its goroutine ends on its own when the service returns, writing nothing
// more; the socket's close does not wait for it, the bridge's drain does.
//
// Every call of a socket runs in the socket's context, which outlives the
// upgrade request but keeps its values: the identity the edge proved at
// the upgrade, and the request id that ties the calls' log lines to the
// socket's.
//
// # Locks
//
// Every lock of the bridge is a leaf: no bridge code holds one while it takes
// another, or while it calls out of the package (into the agent service, the
// engine, gorilla/websocket or the edge), with the leaf operations of the
// standard library as the only exception (a deadline or a write on the
// network connection, a sync.Pool, a context's cancel). The one nesting
// across packages is the engine's: it calls a socket's writer.kick, through
// Follower.Notify, with its fan-out lock held, for every socket of the
// agent. kick takes no lock: it is an atomic state word and a non-blocking
// channel send, or a go statement. So the order is
//
//	engine fan-out lock → writer.kick (no lock)
//	outbox.mu, reader.dlMu, session.mu, roster.mu, batchConn.mu,
//	eventFrames.mu, lifetime.mu: leaves
//
// gorilla/websocket's own write lock is held around batchConn.mu (its writes
// reach the network through batchConn), never the other way round. The
// edge's own locks (the connection rate's limiter, the logger's) are
// leaves, taken with no bridge lock held. TestLockOrder checks these rules
// on the package's source.
package bridge

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"connectrpc.com/connect"
	"github.com/agentgate/agentgate/internal/agent"
	"github.com/agentgate/agentgate/internal/config"
	"github.com/agentgate/agentgate/internal/edge"
	"github.com/agentgate/agentgate/internal/pbjson"
	"github.com/gorilla/websocket"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Agents is what the push needs of the agent service: a Follower of one
// agent's events per socket. *agent.Service implements it.
type Agents interface {
	Follow(ctx context.Context, agentID string, opts agent.FollowOptions) (*agent.Follower, error)
}

// Config configures a Bridge. Every zero field but Service, Methods and
// Edge has the documented default.
type Config struct {
	// Service is the bridged service, such as agent.v1.AgentService.
	// Required.
	Service protoreflect.ServiceDescriptor
	// Methods are the functions of Service's unary and server-streaming
	// methods, by name (api.Handler.Methods): a frame's request, decoded
	// into the method's input type, is passed to its function through
	// Edge. Every such method of Service needs one, and no other. Required.
	Methods map[string]edge.Method
	// Edge is the policy every upgrade and every frame goes through: the
	// upgrade's token, origin and permission and the connection limits,
	// each frame's rate, each call's permission, and the access log and
	// metrics of it all. Required.
	Edge *edge.Policy
	// Agents provides the push subscription of each socket to its agent's
	// events. Nil turns push off.
	Agents Agents
	// TextMethod is the unary method that a text frame which is not a JSON
	// object calls, with the frame as its TextField. Default "SendMessage"
	// and "text"; set TextMethod to "-" to refuse such frames.
	TextMethod string
	TextField  string
	// Logger receives the bridge's logs. Default slog.Default().
	Logger *slog.Logger

	// PingInterval is how often the server pings each socket. Default
	// config.DefaultWSPingInterval.
	PingInterval time.Duration
	// PongTimeout closes a socket from which nothing (not even a pong) was
	// read for this long, with 1001. Default config.DefaultWSPongTimeout.
	PongTimeout time.Duration
	// WriteTimeout bounds the write of one frame; a client that reads
	// nothing for this long is cut off. Default config.WriteTimeout.
	WriteTimeout time.Duration
	// CloseGrace is how long the server waits for the client to answer its
	// close frame before it drops the connection. Default 2s.
	CloseGrace time.Duration
	// ReadLimit is the largest frame accepted; a larger one closes the
	// socket with 1009. Default config.DefaultWSReadLimit.
	ReadLimit int64
	// SendQueue is how many response frames may wait for a slow client
	// before its socket is closed with 1013. A stream's frames wait for room
	// once half of it is taken, instead. (Pushed events wait in the agent
	// subscription, up to the engine's subscriber limit.) Default
	// config.DefaultWSSendQueue.
	SendQueue int
	// MaxCalls is how many requests may be in flight on one socket; more
	// get resource_exhausted. Default 64.
	MaxCalls int
	// Opened, if set, is called for every socket that opened (upgraded);
	// it must not block. The gateway counts bursts of new sockets with it
	// (gctune.Burst).
	Opened func()
}

func (c Config) withDefaults() Config {
	if c.TextMethod == "" {
		c.TextMethod, c.TextField = "SendMessage", "text"
	}
	if c.TextMethod == "-" {
		c.TextMethod = ""
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.PingInterval <= 0 {
		c.PingInterval = config.DefaultWSPingInterval
	}
	if c.PongTimeout <= 0 {
		c.PongTimeout = config.DefaultWSPongTimeout
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = config.WriteTimeout
	}
	if c.CloseGrace <= 0 {
		c.CloseGrace = 2 * time.Second
	}
	if c.ReadLimit <= 0 {
		c.ReadLimit = config.DefaultWSReadLimit
	}
	if c.SendQueue <= 0 {
		c.SendQueue = config.DefaultWSSendQueue
	}
	if c.MaxCalls <= 0 {
		c.MaxCalls = 64
	}
	return c
}

// Bridge is the WebSocket endpoint: an http.Handler for
// GET /ws/agent/{agent_id}. It is safe for concurrent use.
type Bridge struct {
	cfg    Config
	log    *slog.Logger
	edge   *edge.Policy
	rpc    *rpc
	frames *eventFrames
	// json writes every message the sockets send.
	json   pbjson.Encoder
	up     websocket.Upgrader
	roster roster
}

// New returns a Bridge for cfg.Service.
func New(cfg Config) (*Bridge, error) {
	cfg = cfg.withDefaults()
	if cfg.Service == nil || cfg.Methods == nil || cfg.Edge == nil {
		return nil, errors.New("bridge: Service, Methods and Edge are required")
	}
	ms, err := newMethods(cfg.Service, cfg.Methods, cfg.TextMethod, cfg.TextField)
	if err != nil {
		return nil, err
	}
	b := &Bridge{
		cfg:    cfg,
		log:    cfg.Logger,
		edge:   cfg.Edge,
		roster: roster{sockets: make(map[*socket]struct{})},
	}
	b.rpc = &rpc{methods: ms, edge: cfg.Edge, log: cfg.Logger, json: &b.json}
	b.frames = newEventFrames(&b.json)
	b.up = websocket.Upgrader{
		// Small buffers and a shared write pool keep an idle socket small:
		// frames larger than a buffer are read and written in pieces. The
		// read buffer is the socket's own, of readBufferSize, which the
		// upgrader reuses when ReadBufferSize is 0 (see batchHijacker).
		ReadBufferSize:  0,
		WriteBufferSize: 1 << 10,
		WriteBufferPool: &sync.Pool{},
		Subprotocols:    []string{"agent.v1"},
		// ServeHTTP has checked the origin before the upgrade.
		CheckOrigin: func(*http.Request) bool { return true },
		// A handshake that gorilla/websocket refuses (a missing key, a
		// version it does not speak) is a refusal like the bridge's own.
		Error: func(w http.ResponseWriter, r *http.Request, status int, reason error) {
			b.refuse(w, r, status, "bad_handshake", reason.Error())
		},
	}
	return b, nil
}

// ServeHTTP upgrades the request to a WebSocket bound to the agent in the
// path, in four steps: authenticate the request, validate it, admit the
// socket, and hand it to the socket's core, which subscribes, upgrades,
// serves and cleans up. What can be refused is refused before the upgrade,
// with an HTTP status (docs/websocket.md): 401 for a missing or bad token,
// 400 for a bad agent_id or query, 426 for a request that is not a
// WebSocket upgrade, 403 for an origin not allowed or an agent the token
// may not follow, 503 while the server drains, is full, or cannot reach
// its event store.
func (b *Bridge) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r = b.edge.AuthenticateUpgrade(w, r); r == nil {
		return
	}
	opts, ok := b.validate(w, r)
	if !ok {
		return
	}
	s, ok := b.admit(w, r, opts)
	if !ok {
		return
	}
	s.open(w, r, opts)
}

// validate refuses what is wrong with the request itself: its agent_id, its
// query, its not being an upgrade, its origin, an agent the caller may not
// use. It costs the server nothing: no place, no rate token and no
// subscription is taken before it. The push needs Read on the agent, the
// console's socket Admin; a socket without either needs only to reach
// it, since each of its calls is authorized on its own.
func (b *Bridge) validate(w http.ResponseWriter, r *http.Request) (pushOptions, bool) {
	// The edge observes its refusals itself.
	if ref := b.edge.CheckAgentID(r, edge.WebSocket, r.PathValue("agent_id")); ref != nil {
		ref.Write(w)
		return pushOptions{}, false
	}
	opts, err := parsePushOptions(r)
	if err != nil {
		b.refuse(w, r, http.StatusBadRequest, "bad_query", err.Error())
		return opts, false
	}
	if !websocket.IsWebSocketUpgrade(r) {
		w.Header().Set("Upgrade", "websocket")
		b.refuse(w, r, http.StatusUpgradeRequired, "not_websocket", "this endpoint is a WebSocket: connect with a WebSocket client")
		return opts, false
	}
	if ref := b.edge.CheckOrigin(r, edge.WebSocket); ref != nil {
		ref.Write(w)
		return opts, false
	}
	if ref := b.edge.Authorize(r, edge.WebSocket, r.PathValue("agent_id"), opts.perm()); ref != nil {
		ref.Write(w)
		return opts, false
	}
	return opts, true
}

// admit takes the socket's place: the edge's (the connection cap and
// rate) and the roster's, which a draining bridge refuses. The socket it
// returns owns both from then on and gives them back on every path.
func (b *Bridge) admit(w http.ResponseWriter, r *http.Request, opts pushOptions) (*socket, bool) {
	release, ref := b.edge.Admit(r, edge.WebSocket)
	if ref != nil {
		ref.Write(w) // the edge observes its refusals itself
		return nil, false
	}
	if !b.roster.enter() {
		release()
		b.refuse(w, r, http.StatusServiceUnavailable, "draining", "the server is shutting down; reconnect")
		return nil, false
	}
	return newSocket(b, w, r, opts, release), true
}

// refuse answers an upgrade request that cannot become a socket for a
// reason of the bridge's own, through the edge, which observes it as it
// does every refusal: counted by reason and door, and logged with who and
// why. The answer is the status and the JSON error body of every refusal
// at the edge (package jsonerror).
func (b *Bridge) refuse(w http.ResponseWriter, r *http.Request, status int, reason, msg string) {
	b.edge.Refuse(w, r, edge.WebSocket, &edge.Refusal{Status: status, Code: refusalCode(status), Reason: reason, Message: msg})
}

// refusalCode is the error code of an upgrade refused with status.
func refusalCode(status int) connect.Code {
	switch status {
	case http.StatusUnauthorized:
		return connect.CodeUnauthenticated
	case http.StatusForbidden:
		return connect.CodePermissionDenied
	case http.StatusServiceUnavailable:
		return connect.CodeUnavailable
	}
	return connect.CodeInvalidArgument
}

// Drain closes every socket for shutdown, within ctx, and refuses new ones.
// Unary calls in flight may finish first, for up to half the time ctx
// leaves; streams end with unavailable. Then every socket gets 1001 (going
// away), so that clients reconnect to the next instance and resume with
// after_seq. Drain waits for the sockets' goroutines, and for those of
// the unary calls they detached (canceled, or cut by a socket's close,
// and still in the service); if ctx ends first, it cuts the remaining
// connections and returns. It suits server.Config.OnShutdown:
// http.Server.Shutdown does not touch hijacked connections.
func (b *Bridge) Drain(ctx context.Context) {
	for _, s := range b.roster.drain() {
		s.drain()
	}
	var soft <-chan time.Time
	if deadline, ok := ctx.Deadline(); ok {
		t := time.NewTimer(time.Until(deadline) / 2)
		defer t.Stop()
		soft = t.C
	}
	done := b.roster.done()
	select {
	case <-done:
		return
	case <-soft:
	case <-ctx.Done():
	}
	for _, s := range b.roster.snapshot() {
		s.closeFlush(CloseGoingAway, goingAwayReason)
	}
	select {
	case <-done:
		return
	case <-ctx.Done():
	}
	left := b.roster.snapshot()
	b.log.Warn("drain timed out; cutting websockets", "open", len(left))
	for _, s := range left {
		_ = s.ws.NetConn().Close()
	}
}

// goingAwayReason is the close reason of a shutdown.
const goingAwayReason = "server shutting down; reconnect and resume with after_seq"
