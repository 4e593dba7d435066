package bridge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"strings"
	"sync"
	"time"

	"connectrpc.com/connect"
	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/agentgate/agentgate/internal/agent"
	"github.com/gorilla/websocket"
	"golang.org/x/time/rate"
)

// conn is one WebSocket. One goroutine serves it for as long as it stays
// open: the reader (run), which reads frames and hands them to the session.
// The writer (writeTurns), which writes every frame the bridge sends (the
// queued response frames, the pushed events straight from the agent
// subscription, the pings, pongs and the close), runs only while it has
// something to write: an idle socket costs one parked goroutine. (gorilla/
// websocket itself writes one frame from the reader: the 1002 close of a
// framing error; batchConn orders it with the writer.) Calls in flight run
// in goroutines of their own while they last.
//
// When the reader stops reading, it closes the connection: it has the writer
// send the close frame, waits for it, closes the network connection, cancels
// the calls in flight and waits for them. close may be called any number of
// times, from any goroutine; the first code wins.
type conn struct {
	b  *Bridge
	ws *websocket.Conn
	session
	// cancel ends ctx, the connection's context: it lives as long as the
	// connection, not as the upgrade request.
	cancel context.CancelFunc
	opened time.Time
	// release gives back the socket's place (Config.Admit).
	release func()
	// frames limits the frames the client sends (Config.FrameRate); strikes
	// counts the frames over it, so that only a sustained flood closes the
	// socket. Both nil without a limit; used by the reader only.
	frames, strikes *rate.Limiter
	// requestID ties the session's log line to the upgrade request.
	requestID string
	// Counted by the reader, for the session's log line.
	framesIn, bytesIn int64

	// Owned by the writer: by one writer goroutine at a time (see kick).
	started     bool            // the first turn has replayed
	ping        *time.Timer     // sets pingDue every PingInterval
	lingerT     *time.Timer     // see linger; nil until the first
	lingerArmed bool            // lingerT is running
	skipDeltas  bool            // ?deltas=false, for a new Follower
	out         *batchConn      // ws's network connection
	f           *agent.Follower // the push subscription; nil when off
	// resume, while not nil, times the next attempt to repair a push
	// subscription the store broke; resumeWait is its backoff.
	resume     *time.Timer
	resumeWait time.Duration
	emit       func(*agentv1.AgentEvent) error
	spare      []*[]byte

	mu           sync.Mutex
	queue        []*[]byte     // response frames waiting for the writer
	space        chan struct{} // closed by the writer when it takes the queue; nil if nobody waits
	pongDue      bool
	pong         []byte
	pingDue      bool // set by the ping timer
	resumeDue    bool
	writing      bool // a writer goroutine runs
	again        bool // work came while it ran
	writerEnded  bool
	closed       bool // no more frames are queued
	code         CloseCode
	reason       string
	flushOnClose bool

	wake       chan struct{} // a token for a lingering writer
	closing    chan struct{} // closed by close
	writerDone chan struct{}
	closeOnce  sync.Once

	// dlMu orders the read deadline updates of the reader (every frame
	// extends it) and the writer (which shortens it once closing).
	dlMu    sync.Mutex
	closeBy time.Time
}

var (
	// errClosing stops writing frames once the connection is closing.
	errClosing = errors.New("bridge: connection closing")
	// errTooBig is a frame over the read limit.
	errTooBig = errors.New("bridge: frame too big")
)

func (c *conn) setup() {
	c.wake = make(chan struct{}, 1)
	c.closing = make(chan struct{})
	c.writerDone = make(chan struct{})
	c.session.send = c.enqueue
	c.session.sendStream = c.enqueueWait
	c.session.idle = func() { c.closeFlush(CloseGoingAway, "server shutting down; reconnect and resume with after_seq") }
	c.emit = c.writeEvent
	// Armed once stored: a timer that fired first would start a writer
	// that finds no c.ping.
	c.ping = time.AfterFunc(time.Duration(math.MaxInt64), func() { c.due(&c.pingDue) })
	c.ping.Reset(c.b.cfg.PingInterval)
	if c.f != nil {
		c.f.Notify(c.kick)
	}
	c.ws.SetPongHandler(func(string) error { c.touch(); return nil })
	c.ws.SetPingHandler(func(data string) error {
		c.touch()
		c.mu.Lock()
		c.pongDue, c.pong = true, append(c.pong[:0], data...)
		c.mu.Unlock()
		c.kick()
		return nil
	})
	// The reader sees the client's close as an error and lets the writer
	// answer it: gorilla's default handler would write from the reader.
	c.ws.SetCloseHandler(func(int, string) error { return nil })
}

// run is the reader goroutine.
func (c *conn) run() {
	defer c.b.release(c)
	c.kick() // the first turn replays what the client missed
	c.touch()
	code, reason := c.readLoop()
	c.close(code, reason)
	<-c.writerDone
	_ = c.ws.NetConn().Close()
	c.cancel()
	c.session.wait()
	c.release()
	c.b.cfg.Observer.Closed(c.closeCode())
	// One line per socket session, like the access log's one per RPC.
	c.b.log.Info("websocket", "agent", c.agentID, "peer", c.peer.remoteAddr,
		"request_id", c.requestID, "code", int(c.closeCode()), "close", c.closeCode().String(),
		"duration", time.Since(c.opened), "frames_in", c.framesIn, "bytes_in", c.bytesIn)
}

// readLoop reads frames until the connection fails or, once closing, until
// the client answers the close or CloseGrace passes. It returns the close to
// send if none was decided yet.
func (c *conn) readLoop() (CloseCode, string) {
	for {
		kind, r, err := c.ws.NextReader()
		if err != nil {
			return c.readError(err)
		}
		c.touch()
		if c.isClosing() {
			continue // the next NextReader discards the frame
		}
		c.b.cfg.Observer.FrameIn()
		c.framesIn++
		if kind != websocket.TextMessage {
			c.closeFlush(CloseUnsupportedData, "binary frames are not supported: send JSON in text frames")
			continue
		}
		buf := getBuf()
		*buf, err = readFrame(r, *buf, c.b.cfg.ReadLimit)
		c.bytesIn += int64(len(*buf))
		switch {
		case errors.Is(err, errTooBig):
			c.closeFlush(CloseMessageTooBig, fmt.Sprintf("frame over the limit of %d bytes", c.b.cfg.ReadLimit))
		case err != nil:
			putBuf(buf)
			return c.readError(err)
		case !c.allowFrame():
		default:
			c.session.handle(*buf)
		}
		putBuf(buf)
	}
}

// allowFrame applies Config.FrameRate: a frame over the rate is answered
// with a resource_exhausted error frame instead of being served, and a
// client that keeps flooding is closed with 1008.
func (c *conn) allowFrame() bool {
	if c.frames == nil || c.frames.Allow() {
		return true
	}
	c.b.cfg.Observer.FrameRefused()
	if !c.strikes.Allow() {
		c.b.log.Warn("websocket refused", "reason", "frame_flood", "agent", c.agentID,
			"peer", c.peer.remoteAddr, "request_id", c.requestID, "frame_rate", c.b.cfg.FrameRate)
		c.closeFlush(ClosePolicyViolation, "too many frames: the client kept sending over the rate limit")
		return false
	}
	c.session.reject("", false, &frameError{
		code: connect.CodeResourceExhausted,
		msg:  fmt.Sprintf("too many frames: at most %g per second; this frame was not served", c.b.cfg.FrameRate),
	})
	return false
}

// readError decides how a connection whose read failed is closed.
func (c *conn) readError(err error) (CloseCode, string) {
	var ce *websocket.CloseError
	var ne net.Error
	switch {
	case errors.As(err, &ce) && ce.Code != websocket.CloseAbnormalClosure:
		return CloseNormal, "" // echo the client's close
	case c.isClosing():
		return closeAbnormal, "" // the client did not answer our close in time
	case errors.As(err, &ne) && ne.Timeout():
		return CloseGoingAway, fmt.Sprintf("no pong for %s", c.b.cfg.PongTimeout)
	case protocolError(err):
		// gorilla has sent the close frame already; the writer's own fails
		// harmlessly.
		return CloseProtocolError, ""
	}
	return closeAbnormal, ""
}

// protocolError reports whether a read failed on a framing error of the
// client, which gorilla/websocket answers with a 1002 close itself. Those
// errors have no type of their own: they are the ones that are neither a
// close, nor an error of the connection, nor the end of the stream.
func protocolError(err error) bool {
	var ce *websocket.CloseError
	var ne net.Error
	return !errors.As(err, &ce) && !errors.As(err, &ne) &&
		!errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, net.ErrClosed) &&
		strings.HasPrefix(err.Error(), "websocket: ")
}

// readFrame reads one message into b, up to limit bytes.
func readFrame(r io.Reader, b []byte, limit int64) ([]byte, error) {
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if int64(len(b)) > limit {
			return b, errTooBig
		}
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
}

// touch extends the read deadline: a client silent for PongTimeout is gone.
// Once closing, the deadline is the end of the close grace instead.
func (c *conn) touch() {
	c.dlMu.Lock()
	defer c.dlMu.Unlock()
	d := c.closeBy
	if d.IsZero() {
		d = time.Now().Add(c.b.cfg.PongTimeout)
	}
	_ = c.ws.SetReadDeadline(d)
}

// endRead makes the reader give up at t.
func (c *conn) endRead(t time.Time) {
	c.dlMu.Lock()
	defer c.dlMu.Unlock()
	c.closeBy = t
	_ = c.ws.SetReadDeadline(t)
}

// enqueue queues a response frame for the writer; it implements
// session.send. A full queue means the client reads too slowly: the
// connection is closed with 1013 rather than slowing anyone down.
func (c *conn) enqueue(b *[]byte) bool {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		putBuf(b)
		return false
	}
	if len(c.queue) >= c.b.cfg.SendQueue {
		c.mu.Unlock()
		putBuf(b)
		c.close(CloseTryAgainLater, "send queue overflow: reconnect and resume with after_seq")
		return false
	}
	c.queue = append(c.queue, b)
	c.mu.Unlock()
	c.kick()
	return true
}

// enqueueWait queues a stream's frame like enqueue, but while half the
// queue is taken it waits for the writer to take it, so that a stream
// produced faster than the network carries it does not overflow the queue
// of a client that reads at full speed. A client that stops reading holds
// the writer in a write until WriteTimeout, which ends the socket and the
// wait.
func (c *conn) enqueueWait(ctx context.Context, b *[]byte) bool {
	high := max(c.b.cfg.SendQueue/2, 1)
	for {
		c.mu.Lock()
		if c.closed || len(c.queue) < high {
			c.mu.Unlock()
			return c.enqueue(b)
		}
		if c.space == nil {
			c.space = make(chan struct{})
		}
		space := c.space
		c.mu.Unlock()
		c.kick()
		select {
		case <-space:
		case <-ctx.Done():
			putBuf(b)
			return false
		case <-c.closing:
			putBuf(b)
			return false
		}
	}
}

// close starts closing the connection with code: frames still queued are
// dropped, and the writer sends the close frame.
func (c *conn) close(code CloseCode, reason string) { c.closeWith(code, reason, false) }

// closeFlush closes like close, but the writer sends the frames already
// queued first: the responses of calls that finished during a drain, or the
// answers a client got before it broke a rule (the resource_exhausted
// frames before a flood's 1008), which tell it what went wrong. Only a
// queue that overflowed is dropped, since its client does not read.
func (c *conn) closeFlush(code CloseCode, reason string) { c.closeWith(code, reason, true) }

func (c *conn) closeWith(code CloseCode, reason string, flush bool) {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.closed = true
		c.code, c.reason, c.flushOnClose = code, closeReason(reason), flush
		c.mu.Unlock()
		close(c.closing)
		c.kick()
	})
}

func (c *conn) isClosing() bool {
	select {
	case <-c.closing:
		return true
	default:
		return false
	}
}

func (c *conn) closeCode() CloseCode {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.code
}
