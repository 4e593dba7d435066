package bridge

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/gorilla/websocket"
)

// The writer writes every frame the bridge sends on a socket: the queued
// responses, the pushed events straight from the agent subscription, the
// pings, pongs and the close. It is not a goroutine as long-lived as the
// socket: most sockets of a busy gateway are idle, and a writer parked for
// each would cost every one of them a stack. Whatever gives the writer work
// kicks it: a goroutine starts, does all the work there is in turns (the
// frames of a turn leave in one write, see batchConn), lingers briefly for
// more, and ends when none came. At most one runs at a time, so a socket's
// frames keep their order; the writer's fields pass from one goroutine to
// the next through the state word.
//
// Every frame gets a write deadline of WriteTimeout. A client that stops
// reading is dropped in one of two ways, neither of which slows any other
// socket: its queue overflows (responses past SendQueue, or pushed events
// past the agent subscription's limit) and it is closed with 1013, or a
// write blocks for WriteTimeout and the connection is cut.
type writer struct {
	s *socket
	// state is the hand-off between kick and the writer goroutines; see
	// the writer* bits. It is the only thing kick touches.
	state atomic.Uint32
	// wake holds a kick's token for a lingering writer.
	wake chan struct{}
	// done is done when the writer has ended for good.
	done sync.WaitGroup

	// Owned by the writer goroutine of the moment.
	out         *batchConn  // ws's network connection; set before serve
	ping        *time.Timer // makes a ping due every PingInterval; set by wire
	lingerT     *time.Timer // see linger; nil while no writer lingers
	lingerArmed bool        // lingerT is running
	started     bool        // the first turn has replayed
	spare       []*[]byte   // an empty queue to hand the outbox back
}

// The bits of writer.state.
const (
	writerRunning uint32 = 1 << iota // a writer goroutine runs
	writerAgain                      // work came while it ran
	writerEnded                      // the writer ended for good: no kick starts another
)

// writerLinger is how long a writer with nothing left to do waits for more
// before it ends: a busy socket (a conversation, a stream of events) keeps
// one writer instead of starting a goroutine, and growing its stack, for
// every frame.
const writerLinger = 100 * time.Millisecond

func (w *writer) init(s *socket) {
	w.s = s
	w.wake = make(chan struct{}, 1)
	w.done.Add(1)
}

// kick makes sure a writer runs soon. It never blocks and takes no lock:
// the engine calls it for every socket of an agent with its fan-out lock
// held (see the package's lock order).
func (w *writer) kick() {
	for {
		st := w.state.Load()
		switch {
		case st&writerEnded != 0:
			return
		case st&writerRunning != 0:
			if w.state.CompareAndSwap(st, st|writerAgain) {
				select {
				case w.wake <- struct{}{}: // a lingering writer goes on
				default:
				}
				return
			}
		case w.state.CompareAndSwap(st, writerRunning):
			go w.run()
			return
		}
	}
}

// wait waits for the writer to end for good, which it does once the socket
// is closing and the close frame is sent.
func (w *writer) wait() { w.done.Wait() }

// run is the writer goroutine of one burst of work.
func (w *writer) run() {
	for {
		w.state.And(^writerAgain)
		if w.s.isClosing() {
			w.finish()
			w.end()
			return
		}
		if err := w.turn(); err != nil && !errors.Is(err, errClosing) {
			// A write failed: the client is gone, or stopped reading for
			// WriteTimeout. No close frame can get through.
			w.s.close(closeAbnormal, "")
			w.s.rd.endRead(time.Now())
			w.end()
			return
		}
		if !w.linger() {
			return
		}
	}
}

// linger waits up to writerLinger for more work. It reports false, having
// ended this writer goroutine, when none came.
//
// A busy writer lingers after every turn, hundreds of times a second: its
// timer is not reset for each wait, which would cost a runtime timer update
// every time, but left running, and when it fires early for this wait it is
// set again for the rest of it.
func (w *writer) linger() bool {
	if w.state.Load()&writerAgain != 0 || w.s.isClosing() {
		return true
	}
	idle := time.Now()
	switch {
	case w.lingerT == nil:
		w.lingerT = time.NewTimer(writerLinger)
	case !w.lingerArmed:
		w.lingerT.Reset(writerLinger)
	}
	w.lingerArmed = true
	for {
		select {
		case <-w.wake:
			return true
		case <-w.lingerT.C:
		}
		rest := writerLinger - time.Since(idle)
		if rest <= 0 {
			break
		}
		w.lingerT.Reset(rest)
	}
	w.lingerArmed = false
	for {
		st := w.state.Load()
		if st&writerAgain != 0 {
			return true
		}
		// The timer has fired: it goes with the goroutine, so that an idle
		// socket keeps none. (Fields are written before the hand-off.)
		w.lingerT = nil
		if w.state.CompareAndSwap(st, st&^writerRunning) {
			return false
		}
	}
}

// turn does the work that waits, its frames sent together: the queued
// responses and pong, the pushed events, a ping.
func (w *writer) turn() error {
	w.out.begin()
	err := w.work()
	if ferr := w.out.end(); err == nil {
		err = ferr
	}
	return err
}

func (w *writer) work() error {
	if !w.started {
		w.started = true
		if err := w.s.push.start(); err != nil {
			return err
		}
	}
	due, err := w.flush()
	if err != nil {
		return err
	}
	if err := w.s.push.serve(); err != nil {
		return err
	}
	if due&duePing != 0 {
		if err := w.s.ws.WriteControl(websocket.PingMessage, nil, w.deadline()); err != nil {
			return err
		}
		w.ping.Reset(w.s.b.cfg.PingInterval)
	}
	return nil
}

// flush writes the queued response frames and a pending pong: the ones
// queued now, and returns the work the timers made due. Frames queued
// meanwhile kicked the writer, whose next turn takes them, after the pushed
// events, pings and close checks of this one: a stream that keeps the queue
// full cannot hold those back.
func (w *writer) flush() (dueWork, error) {
	frames, pong, pongDue, due := w.s.out.take(w.spare)
	w.spare = nil
	if pongDue {
		if err := w.s.ws.WriteControl(websocket.PongMessage, pong, w.deadline()); err != nil {
			putBufs(frames)
			return due, err
		}
	}
	var err error
	for i, b := range frames {
		if err == nil {
			err = w.write(*b)
		}
		putBuf(b)
		frames[i] = nil
	}
	if cap(frames) <= 16 {
		w.spare = frames[:0] // reuse; larger ones go, so idle sockets stay small
	}
	return due, err
}

// finish sends what must precede the close frame, then the close frame, and
// gives the client CloseGrace to answer it.
func (w *writer) finish() {
	code, reason, flush := w.s.out.ending()
	if flush {
		if _, err := w.flush(); err != nil {
			code = closeAbnormal
		}
	}
	w.s.out.drop()
	if code == closeAbnormal {
		w.s.rd.endRead(time.Now())
		return
	}
	msg := websocket.FormatCloseMessage(int(code), reason)
	if w.s.ws.WriteControl(websocket.CloseMessage, msg, w.deadline()) != nil {
		w.s.rd.endRead(time.Now())
		return
	}
	w.s.rd.endRead(time.Now().Add(w.s.b.cfg.CloseGrace))
}

// end ends the writer for good: its timers stop, the push ends, no kick
// starts another writer, and wait returns.
func (w *writer) end() {
	w.ping.Stop()
	if w.lingerT != nil {
		w.lingerT.Stop()
	}
	w.s.push.stop()
	w.state.Or(writerEnded)
	w.done.Done()
}

// writeEvent writes one pushed event; it is the Follower's emit.
func (w *writer) writeEvent(ev *agentv1.AgentEvent) error {
	if w.s.isClosing() {
		return errClosing
	}
	frame, err := w.s.b.frames.frame(ev)
	if err != nil {
		w.s.b.log.Error("cannot encode event", "agent", w.s.agentID, "seq", ev.GetSeq(), "err", err)
		return nil
	}
	if err := w.out.writeText(frame, true, w.deadline()); err != nil {
		return err
	}
	w.s.b.edge.FrameOut()
	return nil
}

// write writes one response frame.
func (w *writer) write(frame []byte) error {
	if err := w.out.writeText(frame, false, w.deadline()); err != nil {
		return err
	}
	w.s.b.edge.FrameOut()
	return nil
}

// deadline is the write deadline of a frame written now.
func (w *writer) deadline() time.Time { return time.Now().Add(w.s.b.cfg.WriteTimeout) }

// putBufs frees the frames of a queue that will not be written.
func putBufs(frames []*[]byte) {
	for _, b := range frames {
		putBuf(b)
	}
}
