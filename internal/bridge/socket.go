package bridge

import (
	"context"
	"math"
	"net/http"
	"time"

	"github.com/agentgate/agentgate/internal/agent"
	"github.com/agentgate/agentgate/internal/edge"
	"github.com/agentgate/agentgate/internal/identity"
	"github.com/agentgate/agentgate/internal/logattr"
	"github.com/gorilla/websocket"
)

// socket is one WebSocket connection, from its admission to the end of its
// goroutines: the core that ServeHTTP hands the request to, and that owns
// its cleanup on every path. Its state is split by owner, one type each:
//
//   - reader: the reader goroutine (serve), for the whole life of the socket;
//   - outbox: what waits for the writer and how the socket closes; any
//     goroutine, under the outbox's lock;
//   - writer: the writer goroutine of the moment (at most one runs, and it
//     runs only while there is something to write);
//   - push: the subscription to the agent's events; the writer's;
//   - calls: the calls in flight (session); under the session's lock.
//
// An idle socket so costs one parked goroutine, its reader.
//
// The fields of socket itself are set before serve starts and never change.
type socket struct {
	b         *Bridge
	agentID   string
	requestID string // the upgrade request's, for the socket's log line
	opened    time.Time
	// ws is the connection. Its reads are the reader's; its writes are the
	// writer's (and gorilla's reader's, for the 1002 of a framing error).
	ws *websocket.Conn
	// ctx is the context of the socket's calls and push: it lives as long as
	// the socket, not as the upgrade request, and keeps the request's values
	// (the caller's identity, its request id). serve cancels it once the
	// writer is done.
	ctx    context.Context
	cancel context.CancelFunc
	// release gives back the edge's place (edge.Policy.Admit); called
	// once, by end.
	release func()

	// life is the end of a socket whose token expires; nil for one whose
	// token does not. Set by wire.
	life *lifetime

	rd    reader  // the reader goroutine's; its deadline under rd.dlMu
	out   outbox  // anyone's, under out.mu
	wr    writer  // the writer goroutine's of the moment; kick is anyone's
	push  push    // the writer goroutine's
	calls session // anyone's, under calls.mu; handle is the reader's
}

// newSocket makes the socket of an admitted request, which owns release
// and its place in the roster from now on.
func newSocket(b *Bridge, w http.ResponseWriter, r *http.Request, opts pushOptions, release func()) *socket {
	ctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
	s := &socket{
		b:       b,
		agentID: r.PathValue("agent_id"),
		// Set by the server's request-id middleware, when there is one.
		requestID: w.Header().Get("X-Request-Id"),
		opened:    time.Now(),
		ctx:       ctx,
		cancel:    cancel,
		release:   release,
	}
	s.rd.init(s)
	s.out.limit = b.cfg.SendQueue
	s.wr.init(s)
	s.push = push{s: s, skipDeltas: opts.skipDeltas}
	s.calls = session{rpc: b.rpc, agentID: s.agentID, peer: r.RemoteAddr,
		ctx: ctx, maxCalls: b.cfg.MaxCalls, sink: s, next: make(chan started), perm: opts.perm(),
		outlive: &b.roster.wg}
	return s
}

// open subscribes the socket, upgrades the connection and starts serving
// it. A socket that cannot open answers the request and gives its place
// back.
func (s *socket) open(w http.ResponseWriter, r *http.Request, opts pushOptions) {
	if err := s.push.follow(opts); err != nil {
		s.abandon()
		status, reason := http.StatusServiceUnavailable, "store_unavailable"
		if agent.KindOf(err) == agent.KindInvalidArgument {
			status, reason = http.StatusBadRequest, "bad_request"
		}
		s.b.refuse(w, r, status, reason, err.Error())
		return
	}
	hw := &batchHijacker{ResponseWriter: w}
	ws, err := s.b.up.Upgrade(hw, r, nil)
	if err != nil {
		s.abandon() // Upgrade has answered the request.
		return
	}
	s.ws, s.wr.out = ws, hw.conn
	hw.conn.lines = opts.batch
	s.rd.attach(hw.conn, hw.br)
	s.b.edge.SocketOpened() // before wire, which may start the writer
	if s.b.cfg.Opened != nil {
		s.b.cfg.Opened()
	}
	s.wire()
	if !s.b.roster.track(s) {
		s.drain()
	}
	go s.serve()
}

// wire connects the socket's parts to the connection and to each other.
// Whatever it sets up may start the writer at once (a ping timer that
// fires, events that wait), so everything the writer uses is in place
// before each.
func (s *socket) wire() {
	// Armed once stored: a timer that fired first would start a writer
	// that finds no ping timer to reset.
	s.wr.ping = time.AfterFunc(time.Duration(math.MaxInt64), func() { s.due(duePing) })
	s.wr.ping.Reset(s.b.cfg.PingInterval)
	s.ws.SetPongHandler(func(string) error { s.rd.touch(); return nil })
	s.ws.SetPingHandler(func(data string) error {
		s.rd.touch()
		s.out.setPong(data)
		s.wr.kick()
		return nil
	})
	// The reader sees the client's close as an error and lets the writer
	// answer it: gorilla's default handler would write from the reader.
	s.ws.SetCloseHandler(func(int, string) error { return nil })
	id := edge.IdentityFrom(s.ctx)
	if _, ok := s.b.edge.Deadline(id); ok {
		s.life = newLifetime(s, id.Expires, s.b.edge.Grace())
	}
	s.push.notify()
}

// serve is the reader goroutine; when the reader is done, it closes the
// socket and cleans up, in order: the writer sends the close and ends, the
// connection closes, the calls are canceled, the unary ones detached (the
// bridge's shutdown waits for them, the socket does not) and the streams
// waited for, the place is given back.
func (s *socket) serve() {
	s.wr.kick() // the first turn replays what the client missed
	s.rd.touch()
	code, reason := s.rd.loop()
	if s.life != nil {
		s.life.stop()
	}
	s.close(code, reason)
	s.wr.wait()
	_ = s.ws.NetConn().Close()
	s.cancel()
	s.calls.detach()
	s.calls.wait()
	s.end()
}

// end gives back the place of a socket whose goroutines are done, and logs
// its session: one line per socket, like the access log's one per RPC.
func (s *socket) end() {
	s.release()
	code := s.out.closeCode()
	s.b.edge.SocketClosed(int(code), code == CloseTryAgainLater)
	s.b.log.Info("websocket", "agent", s.agentID, "peer", s.calls.peer,
		"request_id", s.requestID, "code", int(code), "close", code.String(),
		logattr.Millis("duration_ms", time.Since(s.opened)), "frames_in", s.rd.framesIn, "bytes_in", s.rd.bytesIn)
	s.b.roster.leave(s)
}

// abandon cleans up a socket that never served: refused after admission,
// or whose upgrade failed.
func (s *socket) abandon() {
	s.push.stop()
	s.cancel()
	s.release()
	s.b.roster.leave(s)
}

// drain starts closing the socket for shutdown: once its unary calls in
// flight have answered, it closes with 1001.
func (s *socket) drain() {
	if s.calls.drain() {
		s.closeDrained()
	}
}

// close starts closing the socket with code: frames still queued are
// dropped, and the writer sends the close frame. It may be called any
// number of times, from any goroutine; the first close wins.
func (s *socket) close(code CloseCode, reason string) { s.closeWith(code, reason, false) }

// closeFlush closes like close, but the writer sends the frames already
// queued first: the responses of calls that finished during a drain, or the
// answers a client got before it broke a rule (the resource_exhausted
// frames before a flood's 1008), which tell it what went wrong. Only a
// queue that overflowed is dropped, since its client does not read.
func (s *socket) closeFlush(code CloseCode, reason string) { s.closeWith(code, reason, true) }

func (s *socket) closeWith(code CloseCode, reason string, flush bool) {
	if s.out.close(code, closeReason(reason), flush) {
		s.wr.kick()
	}
}

// isClosing reports whether the socket closes: no more frames are queued.
func (s *socket) isClosing() bool { return s.out.closing.Load() }

// due marks work for the writer's next turn and kicks it; the ping and
// resume timers call it.
func (s *socket) due(work dueWork) {
	s.out.setDue(work)
	s.wr.kick()
}

// The socket is its calls' sink (see session).

// renew makes id, of a fresh token, the socket's caller, and moves its end
// to id's. A socket whose first token did not expire keeps no end: its
// caller, of the same subject, is what it was.
func (s *socket) renew(id identity.Identity) {
	caller := s.calls.callerOf(id)
	if s.life == nil {
		s.calls.caller.Store(caller)
		return
	}
	s.life.renew(caller, id.Expires)
}

// send queues a response frame for the writer. A full queue means the
// client reads too slowly: the socket is closed with 1013 rather than
// slowing anyone down.
func (s *socket) send(b *[]byte) bool {
	switch s.out.put(b) {
	case putClosed:
		return false
	case putOverflow:
		s.close(CloseTryAgainLater, "send queue overflow: reconnect and resume with after_seq")
		return false
	}
	s.wr.kick()
	return true
}

// sendStream queues a stream's frame like send, but while half the queue
// is taken it waits for the writer to take it, so that a stream produced
// faster than the network carries it does not overflow the queue of a
// client that reads at full speed. A client that stops reading holds the
// writer in a write until WriteTimeout, which ends the socket and the wait.
func (s *socket) sendStream(ctx context.Context, b *[]byte) bool {
	for {
		space := s.out.room()
		if space == nil {
			return s.send(b)
		}
		s.wr.kick()
		select {
		case <-space: // the writer took the queue, or the socket closes
		case <-ctx.Done():
			putBuf(b)
			return false
		}
	}
}

// closeDrained closes a draining socket with 1001, after the frames
// queued: it is called once its last call has ended.
func (s *socket) closeDrained() { s.closeFlush(CloseGoingAway, goingAwayReason) }
