package bridge

import (
	"bufio"
	"net"
	"net/http"
	"sync"
	"time"
)

// gorilla/websocket writes every frame to the network connection as it is
// made: one write syscall per frame. A socket that pushes a reply (user
// message, run started, deltas, reply) gets five frames in a burst, and on
// an agent with a thousand sockets those syscalls are most of the server's
// CPU. batchConn lets the writer goroutine hold the frames it writes in one
// turn and send them in one write when the turn ends.

// maxBatch bounds the bytes held back: a turn with more flushes as it goes.
const maxBatch = 32 << 10

// maxBatchFrames bounds the frames held back. A turn lasts as long as events
// keep coming, and a reply streamed from a fast model keeps them coming: the
// first delta would wait for the whole burst. A reply on a socket of a
// fan-out is three to five frames, which still leave in one write.
const maxBatchFrames = 8

// batchConn is the socket's network connection as gorilla/websocket sees it.
// Between begin and end, writes are appended to a pooled buffer; otherwise,
// and for the handshake, they go straight through. Close and the reads go to
// the connection as they are.
//
// The writer goroutine is not the only one that writes: gorilla's reader
// answers a protocol error (a reserved opcode, an unmasked frame) with a
// close frame of its own, at any moment. mu orders that write with the
// writer's batch.
type batchConn struct {
	net.Conn
	mu  sync.Mutex
	buf *[]byte // non-nil between begin and end
	// frames counts the frames in buf (the lines, with lines set).
	frames int
	// lines is ?batch=true: the frames of a batch go in one WebSocket
	// message, one per line (see writeLineLocked). Set before the socket
	// serves, never changed.
	lines bool
	// open is where the message being filled with lines begins in buf, at
	// a gap of maxTextHeader bytes kept for its header; -1 for none.
	open int
	// deadline is the write deadline asked for during the batch: setting it
	// on the connection costs a timer update, once per batch is enough.
	deadline time.Time
	// set is the write deadline in force on the connection; see setDeadlineLocked.
	set time.Time
}

// setDeadlineLocked bounds the next write by t. Setting a deadline costs a
// runtime timer update, and a busy socket's writer asks for one with every
// batch, each a few milliseconds later than the last: the one in force is
// kept while at least seven eighths of the time asked for remain of it. A
// write may so be cut up to an eighth of WriteTimeout early, never late.
// c.mu is held.
func (c *batchConn) setDeadlineLocked(t time.Time) error {
	if !t.IsZero() && !c.set.IsZero() && !c.set.After(t) {
		now := time.Now()
		if left := t.Sub(now); c.set.Sub(now) >= left-left/8 {
			return nil
		}
	}
	if err := c.Conn.SetWriteDeadline(t); err != nil {
		return err
	}
	c.set = t
	return nil
}

// begin starts holding writes back.
func (c *batchConn) begin() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.buf == nil {
		c.buf = getBuf()
		c.open = -1
	}
}

// end sends what was held back in one write and goes back to writing
// straight through. The error is the write's: a failed batch fails the
// writer, as a failed frame would.
func (c *batchConn) end() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.buf == nil {
		return nil
	}
	err := c.flushLocked()
	putBuf(c.buf)
	c.buf = nil
	return err
}

// flushLocked writes the buffer out; c.mu is held.
func (c *batchConn) flushLocked() error {
	c.closeLinesLocked()
	if len(*c.buf) == 0 {
		return nil
	}
	if err := c.setDeadlineLocked(c.deadline); err != nil {
		return err
	}
	_, err := c.Conn.Write(*c.buf)
	*c.buf = (*c.buf)[:0]
	c.frames = 0
	return err
}

// SetWriteDeadline implements net.Conn. Inside a batch the deadline is kept
// for the batch's write: the write of held frames is bounded by the deadline
// set for the last of them.
func (c *batchConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.buf == nil {
		return c.setDeadlineLocked(t)
	}
	c.deadline = t
	return nil
}

// Write implements net.Conn. gorilla writes its control frames (pings,
// pongs, the close) through it; the data frames take writeText.
func (c *batchConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.buf == nil {
		return c.Conn.Write(p)
	}
	if err := c.roomLocked(len(p)); err != nil {
		return 0, err
	}
	c.closeLinesLocked() // a control frame goes between two messages
	*c.buf = append(*c.buf, p...)
	return len(p), nil
}

// roomLocked flushes the batch if one more frame of n bytes would take it
// past maxBatch or maxBatchFrames; c.mu is held.
func (c *batchConn) roomLocked(n int) error {
	if len(*c.buf)+n > maxBatch || c.frames >= maxBatchFrames {
		if err := c.flushLocked(); err != nil {
			return err
		}
	}
	c.frames++
	return nil
}

// batchHijacker hands the upgrader a batchConn in place of the hijacked
// connection, and a read buffer of readBufferSize over it in place of
// net/http's (which the upgrader reuses, see Bridge.up): the socket's reader
// then knows when that buffer is empty (see reader.park).
type batchHijacker struct {
	http.ResponseWriter
	conn *batchConn
	br   *bufio.Reader
}

// readBufferSize is the size of a socket's read buffer. Client frames are
// small (a call is a hundred bytes or so), and a larger frame is read
// through it in pieces, or past it straight into the frame's buffer.
const readBufferSize = 512

// Hijack implements http.Hijacker through http.ResponseController, which
// finds the hijacker under any middleware that wraps the ResponseWriter and
// unwraps.
func (h *batchHijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	nc, brw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	h.conn = &batchConn{Conn: nc}
	if brw.Reader.Buffered() > 0 {
		// The client sent data before the handshake was done: the upgrader
		// refuses it, on the reader that holds it.
		return h.conn, brw, nil
	}
	h.br = bufio.NewReaderSize(h.conn, readBufferSize)
	return h.conn, bufio.NewReadWriter(h.br, brw.Writer), nil
}

// Unwrap lets http.ResponseController reach the writer underneath.
func (h *batchHijacker) Unwrap() http.ResponseWriter { return h.ResponseWriter }

// maxTextHeader is the longest header of a server's frame: no mask, and a
// 64-bit length at most.
const maxTextHeader = 10

// appendTextHeader appends the header of a final, unmasked text frame of n
// bytes (RFC 6455, section 5.2).
func appendTextHeader(b []byte, n int) []byte {
	const finText = 0x80 | 0x1
	switch {
	case n < 126:
		return append(b, finText, byte(n))
	case n <= 0xFFFF:
		return append(b, finText, 126, byte(n>>8), byte(n))
	default:
		u := uint64(n)
		return append(b, finText, 127, byte(u>>56), byte(u>>48), byte(u>>40), byte(u>>32),
			byte(u>>24), byte(u>>16), byte(u>>8), byte(u))
	}
}

// writeText writes a text frame, header then payload, in one piece: no
// other write (gorilla's close frame from the reader) can come between
// them. The writer's data frames take this way rather than gorilla's
// WriteMessage, which would copy each through a pooled buffer of its own;
// the frame of a pushed event comes ready, header included (framed true).
func (c *batchConn) writeText(b []byte, framed bool, deadline time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.buf == nil {
		// Outside a batch: straight through, in one write.
		out := b
		if !framed {
			out = append(appendTextHeader(make([]byte, 0, maxTextHeader+len(b)), len(b)), b...)
		}
		if err := c.setDeadlineLocked(deadline); err != nil {
			return err
		}
		_, err := c.Conn.Write(out)
		return err
	}
	c.deadline = deadline
	if c.lines {
		return c.writeLineLocked(b, framed)
	}
	n := len(b)
	if !framed {
		n += maxTextHeader
	}
	if err := c.roomLocked(n); err != nil {
		return err
	}
	if !framed {
		*c.buf = appendTextHeader(*c.buf, len(b))
	}
	*c.buf = append(*c.buf, b...)
	return nil
}

// writeLineLocked adds a frame to the message being filled, one JSON
// object a line, as ?batch=true asks: the frames of a batch leave as one
// WebSocket message, which costs the client one message to read for a
// burst of events rather than one per event. A batch flushed as it goes
// (maxBatch, maxBatchFrames) ends its message first. c.mu is held.
func (c *batchConn) writeLineLocked(b []byte, framed bool) error {
	if framed {
		b = textPayload(b)
	}
	if err := c.roomLocked(len(b) + 1 + maxTextHeader); err != nil {
		return err
	}
	if c.open < 0 {
		c.open = len(*c.buf)
		*c.buf = append(*c.buf, make([]byte, maxTextHeader)...)
	} else {
		*c.buf = append(*c.buf, '\n')
	}
	*c.buf = append(*c.buf, b...)
	return nil
}

// closeLinesLocked ends the message being filled with lines, if any: its
// header goes in front of its payload, in the gap kept for it, and the
// payload moves up to meet it. c.mu is held.
func (c *batchConn) closeLinesLocked() {
	if c.open < 0 {
		return
	}
	buf := *c.buf
	start := c.open + maxTextHeader
	var hdr [maxTextHeader]byte
	h := appendTextHeader(hdr[:0], len(buf)-start)
	copy(buf[c.open:], h)
	n := copy(buf[c.open+len(h):], buf[start:])
	*c.buf = buf[:c.open+len(h)+n]
	c.open = -1
}

// textPayload is the payload of b, a whole text frame as appendTextHeader
// begins it.
func textPayload(b []byte) []byte {
	switch b[1] {
	case 126:
		return b[4:]
	case 127:
		return b[10:]
	}
	return b[2:]
}
