package bridge

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"syscall"
	"time"

	"connectrpc.com/connect"
	"github.com/agentgate/agentgate/internal/edge"
	"github.com/gorilla/websocket"
)

// reader reads a socket's frames and hands them to its calls. It is owned
// by the reader goroutine (socket.serve), but for the read deadline, which
// the writer shortens once the socket closes: dlMu, a leaf lock, orders the
// two.
type reader struct {
	s *socket
	// frames is the socket's share of the edge's frame rate.
	frames edge.Frames
	// Counted for the socket's log line.
	framesIn, bytesIn int64
	// For park: gorilla's read buffer br and the connection under it (nil
	// where park does not work), and what park's check needs.
	br       *bufio.Reader
	raw      syscall.RawConn
	checks   int
	check    func(fd uintptr) bool
	peekByte [1]byte

	dlMu sync.Mutex
	// closeBy, once the socket closes, is when the reader gives up waiting
	// for the client's answer to the close; guarded by dlMu.
	closeBy time.Time
}

var (
	// errClosing stops writing frames once the connection is closing.
	errClosing = errors.New("bridge: connection closing")
	// errTooBig is a frame over the read limit.
	errTooBig = errors.New("bridge: frame too big")
)

func (rd *reader) init(s *socket) {
	rd.s = s
	rd.frames = s.b.edge.Frames()
}

// loop reads frames until the connection fails or, once closing, until the
// client answers the close or CloseGrace passes. It returns the close to
// send if none was decided yet.
func (rd *reader) loop() (CloseCode, string) {
	s, cfg := rd.s, &rd.s.b.cfg
	for {
		rd.park()
		kind, r, err := s.ws.NextReader()
		if err != nil {
			return rd.readError(err)
		}
		rd.touch()
		if s.isClosing() {
			continue // the next NextReader discards the frame
		}
		s.b.edge.FrameIn()
		rd.framesIn++
		if kind != websocket.TextMessage {
			s.closeFlush(CloseUnsupportedData, "binary frames are not supported: send JSON in text frames")
			continue
		}
		buf := getBuf()
		*buf, err = readFrame(r, *buf, cfg.ReadLimit)
		rd.bytesIn += int64(len(*buf))
		switch {
		case errors.Is(err, errTooBig):
			s.closeFlush(CloseMessageTooBig, fmt.Sprintf("frame over the limit of %d bytes", cfg.ReadLimit))
		case err != nil:
			putBuf(buf)
			return rd.readError(err)
		case !rd.allowFrame():
		default:
			s.calls.handle(*buf)
		}
		putBuf(buf)
	}
}

// allowFrame applies the edge's frame rate (WS_FRAME_RATE): a frame over
// the rate is answered with a resource_exhausted error frame instead of
// being served, and a client that keeps flooding is closed with 1008.
func (rd *reader) allowFrame() bool {
	s := rd.s
	switch rd.frames.Allow(time.Now()) {
	case edge.FrameServed:
		return true
	case edge.FrameFlood:
		const why = "too many frames: the client kept sending over the rate limit"
		s.b.edge.SocketRefused(s.calls.callCtx(), edge.WebSocket, s.agentID, "frame_flood", why)
		s.closeFlush(ClosePolicyViolation, why)
	default:
		s.calls.reject("", false, &frameError{
			code: connect.CodeResourceExhausted,
			msg:  fmt.Sprintf("too many frames: at most %g per second; this frame was not served", rd.frames.Rate()),
		})
	}
	return false
}

// readError decides how a connection whose read failed is closed.
func (rd *reader) readError(err error) (CloseCode, string) {
	var ce *websocket.CloseError
	var ne net.Error
	switch {
	case errors.As(err, &ce) && ce.Code != websocket.CloseAbnormalClosure:
		return CloseNormal, "" // echo the client's close
	case rd.s.isClosing():
		return closeAbnormal, "" // the client did not answer our close in time
	case errors.As(err, &ne) && ne.Timeout():
		return CloseGoingAway, fmt.Sprintf("no pong for %s", rd.s.b.cfg.PongTimeout)
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

// attach gives the reader the connection and the read buffer that gorilla
// reads frames from, for park; without them park does nothing.
func (rd *reader) attach(conn *batchConn, br *bufio.Reader) {
	sc, ok := conn.Conn.(syscall.Conn)
	if !ok || br == nil || !canPeek {
		return
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return
	}
	rd.br, rd.raw = br, raw
	rd.check = rd.readable
}

// park waits until the connection has something to read, when gorilla's
// read buffer is empty: an idle socket's reader parks here, a few calls
// deep, rather than deep in gorilla's frame parser and the buffered read
// under it. That keeps its goroutine within the smallest stack (2 KiB),
// which a read parked through NextReader overflows, doubling it: most
// sockets are idle, and the stack is most of what an idle one costs. The
// read deadline ends the wait as it would end the read.
func (rd *reader) park() {
	if rd.raw == nil || rd.br.Buffered() > 0 {
		return
	}
	rd.checks = 0
	_ = rd.raw.Read(rd.check) // an error is the next read's too
}

// readable is park's check, which RawConn.Read calls until it returns
// true, waiting for the poller each time it returns false. The first check
// looks whether data waits already (the poller's readiness was reset when
// the wait began, so data that came before would not wake it); after that,
// the poller woke the reader because something came.
func (rd *reader) readable(fd uintptr) bool {
	rd.checks++
	return rd.checks > 1 || peek(fd, rd.peekByte[:])
}

// touch extends the read deadline: a client silent for PongTimeout is gone.
// Once closing, the deadline is the end of the close grace instead.
func (rd *reader) touch() {
	rd.dlMu.Lock()
	defer rd.dlMu.Unlock()
	d := rd.closeBy
	if d.IsZero() {
		d = time.Now().Add(rd.s.b.cfg.PongTimeout)
	}
	_ = rd.s.ws.SetReadDeadline(d)
}

// endRead makes the reader give up at t; the writer calls it once closing.
func (rd *reader) endRead(t time.Time) {
	rd.dlMu.Lock()
	defer rd.dlMu.Unlock()
	rd.closeBy = t
	_ = rd.s.ws.SetReadDeadline(t)
}
