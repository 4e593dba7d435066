package bridge

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"connectrpc.com/connect"
	"github.com/gorilla/websocket"
	"golang.org/x/time/rate"
)

// reader reads a socket's frames and hands them to its calls. It is owned
// by the reader goroutine (socket.serve), but for the read deadline, which
// the writer shortens once the socket closes: dlMu, a leaf lock, orders the
// two.
type reader struct {
	s *socket
	// frames limits the frames the client sends (Config.FrameRate); strikes
	// counts the frames over it, so that only a sustained flood closes the
	// socket. Both nil without a limit.
	frames, strikes *rate.Limiter
	// Counted for the socket's log line.
	framesIn, bytesIn int64

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
	if r := s.b.cfg.FrameRate; r > 0 {
		burst := max(int(2*r), 1)
		rd.frames = rate.NewLimiter(rate.Limit(r), burst)
		rd.strikes = rate.NewLimiter(rate.Limit(r), burst)
	}
}

// loop reads frames until the connection fails or, once closing, until the
// client answers the close or CloseGrace passes. It returns the close to
// send if none was decided yet.
func (rd *reader) loop() (CloseCode, string) {
	s, cfg := rd.s, &rd.s.b.cfg
	for {
		kind, r, err := s.ws.NextReader()
		if err != nil {
			return rd.readError(err)
		}
		rd.touch()
		if s.isClosing() {
			continue // the next NextReader discards the frame
		}
		cfg.Observer.FrameIn()
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

// allowFrame applies Config.FrameRate: a frame over the rate is answered
// with a resource_exhausted error frame instead of being served, and a
// client that keeps flooding is closed with 1008.
func (rd *reader) allowFrame() bool {
	if rd.frames == nil || rd.frames.Allow() {
		return true
	}
	s, cfg := rd.s, &rd.s.b.cfg
	cfg.Observer.FrameRefused()
	if !rd.strikes.Allow() {
		s.b.log.Warn("websocket refused", "reason", "frame_flood", "agent", s.agentID,
			"peer", s.calls.peer.remoteAddr, "request_id", s.requestID, "frame_rate", cfg.FrameRate)
		s.closeFlush(ClosePolicyViolation, "too many frames: the client kept sending over the rate limit")
		return false
	}
	s.calls.reject("", false, &frameError{
		code: connect.CodeResourceExhausted,
		msg:  fmt.Sprintf("too many frames: at most %g per second; this frame was not served", cfg.FrameRate),
	})
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
