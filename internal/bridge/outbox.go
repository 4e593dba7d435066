package bridge

import (
	"sync"
	"sync/atomic"
)

// outbox is what waits for a socket's writer, and how the socket closes:
// the response frames of its calls, a pong to send, the work its timers
// made due, and the close once decided. Any goroutine puts work in (the
// calls, the reader, the timers); the writer takes it out. mu is a leaf
// lock: nothing is called while it is held but the standard library's
// leaf operations.
type outbox struct {
	limit int // Config.SendQueue; set before the socket starts

	// closing is set, under mu, by the first close; read without the lock
	// by anyone (every frame the writer writes checks it).
	closing atomic.Bool

	mu sync.Mutex
	// frames are the response frames waiting, each a pooled buffer the
	// writer owns once it takes it.
	frames []*[]byte
	// space, when not nil, is closed when the writer takes the frames or
	// the socket closes: the streams waiting for room go on then.
	space   chan struct{}
	pong    []byte // the payload of the last ping, to echo
	pongDue bool
	due     dueWork
	// The close, once decided: the first close sets them, and they never
	// change again.
	code   CloseCode
	reason string
	flush  bool // send the frames that wait before the close frame
}

// dueWork is work that a timer made due, for the writer's next turn.
type dueWork uint8

const (
	duePing dueWork = 1 << iota // send a ping
)

// putResult is what became of a frame handed to put.
type putResult uint8

const (
	putQueued   putResult = iota
	putClosed             // the socket closes: the frame was dropped
	putOverflow           // the queue is full: the frame was dropped
)

// put queues a response frame. A frame that is not queued goes back to the
// pool.
func (o *outbox) put(b *[]byte) putResult {
	o.mu.Lock()
	switch {
	case o.closing.Load():
		o.mu.Unlock()
		putBuf(b)
		return putClosed
	case len(o.frames) >= o.limit:
		o.mu.Unlock()
		putBuf(b)
		return putOverflow
	}
	o.frames = append(o.frames, b)
	o.mu.Unlock()
	return putQueued
}

// room returns nil if a stream's frame may be queued now (or the socket
// closes, which put then tells), and otherwise a channel closed once the
// writer has taken the frames that wait: while half the queue is taken, a
// stream waits.
func (o *outbox) room() <-chan struct{} {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closing.Load() || len(o.frames) < max(o.limit/2, 1) {
		return nil
	}
	if o.space == nil {
		o.space = make(chan struct{})
	}
	return o.space
}

// setPong records a ping's payload, for the writer to echo.
func (o *outbox) setPong(data string) {
	o.mu.Lock()
	o.pongDue, o.pong = true, append(o.pong[:0], data...)
	o.mu.Unlock()
}

// setDue marks work due.
func (o *outbox) setDue(work dueWork) {
	o.mu.Lock()
	o.due |= work
	o.mu.Unlock()
}

// take hands the writer everything that waits, and leaves spare as the
// empty queue. The pong is a copy: the reader reuses its buffer.
func (o *outbox) take(spare []*[]byte) (frames []*[]byte, pong []byte, pongDue bool, due dueWork) {
	o.mu.Lock()
	defer o.mu.Unlock()
	frames, o.frames = o.frames, spare
	o.wakeLocked()
	if o.pongDue {
		pong, pongDue, o.pongDue = append([]byte(nil), o.pong...), true, false
	}
	due, o.due = o.due, 0
	return frames, pong, pongDue, due
}

// close decides how the socket closes. Only the first close counts; it
// reports whether this was it.
func (o *outbox) close(code CloseCode, reason string, flush bool) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closing.Load() {
		return false
	}
	o.code, o.reason, o.flush = code, reason, flush
	o.closing.Store(true)
	o.wakeLocked()
	return true
}

// ending returns the close that was decided.
func (o *outbox) ending() (code CloseCode, reason string, flush bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.code, o.reason, o.flush
}

// closeCode is the code the socket closed with; 0 while it is open.
func (o *outbox) closeCode() CloseCode {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.code
}

// drop frees the frames that still wait, once the socket has closed.
func (o *outbox) drop() {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, b := range o.frames {
		putBuf(b)
	}
	o.frames = nil
}

// wakeLocked lets the streams that wait for room go on.
func (o *outbox) wakeLocked() {
	if o.space != nil {
		close(o.space)
		o.space = nil
	}
}
