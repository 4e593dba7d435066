package bridge

import (
	"errors"
	"time"

	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/agentgate/agentgate/internal/agent"
	"github.com/gorilla/websocket"
)

// The writer writes every frame the bridge sends on a socket. It is not a
// goroutine as long-lived as the socket: most sockets of a busy gateway are
// idle, and a writer parked for each would cost every one of them a stack.
// Whatever gives the writer work kicks it (a queued response or pong, a
// pushed event, the ping timer, the resume timer, the close): a goroutine
// starts, does all the work there is in turns, and ends when none is left.
// At most one runs at a time, so a socket's frames keep their order, and the
// writer's state passes from one to the next under c.mu.
//
// Every frame gets a write deadline of WriteTimeout. A client that stops
// reading is dropped in one of two ways, neither of which slows any other
// socket: its queue overflows (responses past SendQueue, or pushed events
// past the agent subscription's limit) and it is closed with 1013, or a write
// blocks for WriteTimeout and the connection is cut.

// writerLinger is how long a writer with nothing left to do waits for more
// before it ends: a busy socket (a conversation, a stream of events) keeps
// one writer instead of starting a goroutine, and growing its stack, for
// every frame.
const writerLinger = 100 * time.Millisecond

// kick makes sure a writer runs soon. It never blocks.
func (c *conn) kick() {
	c.mu.Lock()
	switch {
	case c.writerEnded:
	case c.writing:
		c.again = true
		select {
		case c.wake <- struct{}{}: // a lingering writer goes on
		default:
		}
	default:
		c.writing = true
		c.mu.Unlock()
		go c.writeTurns()
		return
	}
	c.mu.Unlock()
}

// writeTurns is the writer goroutine of one burst of work.
func (c *conn) writeTurns() {
	for {
		c.mu.Lock()
		c.again = false
		c.mu.Unlock()
		if c.isClosing() {
			c.finish()
			c.endWriter()
			return
		}
		if err := c.turn(); err != nil && !errors.Is(err, errClosing) {
			// A write failed: the client is gone, or stopped reading for
			// WriteTimeout. No close frame can get through.
			c.close(closeAbnormal, "")
			c.endRead(time.Now())
			c.endWriter()
			return
		}
		if !c.linger() {
			return
		}
	}
}

// linger waits up to writerLinger for more work. It reports false, having
// ended this writer, when none came.
//
// A busy writer lingers after every turn, hundreds of times a second: its
// timer is not reset for each wait, which would cost a runtime timer update
// every time, but left running, and when it fires early for this wait it is
// set again for the rest of it.
func (c *conn) linger() bool {
	c.mu.Lock()
	again := c.again
	c.mu.Unlock()
	if again || c.isClosing() {
		return true
	}
	idle := time.Now()
	switch {
	case c.lingerT == nil:
		c.lingerT = time.NewTimer(writerLinger)
	case !c.lingerArmed:
		c.lingerT.Reset(writerLinger)
	}
	c.lingerArmed = true
	for {
		select {
		case <-c.wake:
			return true
		case <-c.lingerT.C:
		}
		rest := writerLinger - time.Since(idle)
		if rest <= 0 {
			break
		}
		c.lingerT.Reset(rest)
	}
	c.lingerArmed = false
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.again {
		return true
	}
	c.writing = false
	return false
}

// turn does the work that waits, its frames sent together: the queued
// responses and pong, the pushed events, a ping.
func (c *conn) turn() error {
	c.out.begin()
	err := c.work()
	if ferr := c.out.end(); err == nil {
		err = ferr
	}
	return err
}

func (c *conn) work() error {
	if !c.started {
		c.started = true
		if err := c.startPush(); err != nil {
			return err
		}
	}
	if err := c.flush(); err != nil {
		return err
	}
	c.mu.Lock()
	ping, resume := c.pingDue, c.resumeDue
	c.pingDue, c.resumeDue = false, false
	c.mu.Unlock()
	if c.f != nil {
		switch {
		case c.resume != nil:
			// Broken: the ended subscription's Ready stays closed; the
			// resume timer says when to try again.
			if resume {
				// Resuming may wait on the store: what this turn
				// has written goes out first.
				if err := c.out.end(); err != nil {
					return err
				}
				c.out.begin()
				if err := c.resumePush(); err != nil {
					return err
				}
			}
		default:
			select {
			case <-c.f.Ready():
				if err := c.pump(); err != nil {
					return err
				}
			default:
			}
		}
	}
	if ping {
		if err := c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(c.b.cfg.WriteTimeout)); err != nil {
			return err
		}
		c.ping.Reset(c.b.cfg.PingInterval)
	}
	return nil
}

// endWriter ends the writer for good: no kick starts another.
func (c *conn) endWriter() {
	c.ping.Stop()
	if c.lingerT != nil {
		c.lingerT.Stop()
	}
	if c.resume != nil {
		c.resume.Stop()
	}
	if c.f != nil {
		c.f.Close()
	}
	c.mu.Lock()
	c.writerEnded = true
	c.mu.Unlock()
	close(c.writerDone)
}

// due sets a flag of work the writer's next turn does (pingDue, resumeDue)
// and kicks the writer; the ping and resume timers call it.
func (c *conn) due(flag *bool) {
	c.mu.Lock()
	*flag = true
	c.mu.Unlock()
	c.kick()
}

// finish sends what must precede the close frame, then the close frame, and
// gives the client CloseGrace to answer it.
func (c *conn) finish() {
	c.mu.Lock()
	code, reason, flush := c.code, c.reason, c.flushOnClose
	c.mu.Unlock()
	if flush && c.flush() != nil {
		code = closeAbnormal
	}
	c.mu.Lock()
	for _, b := range c.queue {
		putBuf(b)
	}
	c.queue = nil
	c.mu.Unlock()
	if code == closeAbnormal {
		c.endRead(time.Now())
		return
	}
	msg := websocket.FormatCloseMessage(int(code), reason)
	if c.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(c.b.cfg.WriteTimeout)) != nil {
		c.endRead(time.Now())
		return
	}
	c.endRead(time.Now().Add(c.b.cfg.CloseGrace))
}

// flush writes the queued response frames and a pending pong: the ones
// queued now. Frames queued meanwhile kicked the writer, whose next turn
// takes them, after the pushed events, pings and close checks of this one:
// a stream that keeps the queue full cannot hold those back.
func (c *conn) flush() error {
	c.mu.Lock()
	q := c.queue
	c.queue = c.spare
	if c.space != nil {
		close(c.space) // the streams waiting for room may go on
		c.space = nil
	}
	var pong []byte
	pongDue := c.pongDue
	if pongDue {
		// Copied: the reader reuses c.pong for the next ping.
		pong, c.pongDue = append([]byte(nil), c.pong...), false
	}
	c.mu.Unlock()
	c.spare = nil
	if pongDue {
		if err := c.ws.WriteControl(websocket.PongMessage, pong, time.Now().Add(c.b.cfg.WriteTimeout)); err != nil {
			return err
		}
	}
	var err error
	for i, b := range q {
		if err == nil {
			err = c.write(*b)
		}
		putBuf(b)
		q[i] = nil
	}
	if cap(q) <= 16 {
		c.spare = q[:0] // reuse; larger ones go, so idle sockets stay small
	}
	return err
}

// startPush replays the events the client missed, when it asked with
// after_seq.
func (c *conn) startPush() error {
	if c.f == nil {
		return nil
	}
	if err := c.f.Replay(c.ctx, c.emit); err != nil {
		return c.pushEnded(err)
	}
	return nil
}

// pump writes the pushed events that wait. When the store broke the
// subscription, the writer goes on serving the socket (responses, pings,
// closes) and tries to resume the subscription on a timer: the socket stays
// open through a short outage and misses nothing, since resuming reads
// what was appended meanwhile from the log.
func (c *conn) pump() error {
	broken, err := c.f.PumpLive(c.ctx, c.emit)
	if err != nil {
		return c.pushEnded(err)
	}
	if broken {
		c.retryResume()
	}
	return nil
}

// resumePush tries once to resume a broken subscription.
func (c *conn) resumePush() error {
	ok, err := c.f.ResumeOnce(c.ctx, c.emit)
	if err != nil {
		c.resume.Stop()
		c.resume = nil
		return c.pushEnded(err)
	}
	if !ok {
		c.retryResume()
		return nil
	}
	c.resume.Stop()
	c.resume, c.resumeWait = nil, 0
	return nil
}

// retryResume sets the timer of the next attempt to resume, backing off
// from 100 ms to 2 s.
func (c *conn) retryResume() {
	c.resumeWait = min(max(2*c.resumeWait, 100*time.Millisecond), 2*time.Second)
	if c.resume == nil {
		c.resume = time.AfterFunc(c.resumeWait, func() { c.due(&c.resumeDue) })
		return
	}
	c.resume.Reset(c.resumeWait)
}

// pushEnded handles the end of the push subscription. A write error ends the
// writer. An agent that was deleted is followed again from its new start (it
// comes back on first use). Otherwise the socket closes: 1013 when the client
// fell behind or the store is unavailable, so that it resumes with after_seq.
func (c *conn) pushEnded(err error) error {
	var ae *agent.Error
	if !errors.As(err, &ae) {
		return err // a write error, or errClosing
	}
	epoch := c.f.Epoch()
	c.f.Close()
	c.f = nil
	switch ae.Kind {
	case agent.KindNotFound:
		// The client saw the deleted log: the new one starts with a
		// history_reset, since its seqs begin at 1 again.
		zero := uint64(0)
		f, ferr := c.b.cfg.Agents.Follow(c.ctx, c.agentID, agent.FollowOptions{After: &zero, SkipDeltas: c.skipDeltas, Epoch: epoch})
		if ferr != nil {
			c.close(CloseTryAgainLater, "event stream interrupted; reconnect and resume with after_seq")
			return nil
		}
		c.f = f
		f.Notify(c.kick)
		return c.startPush()
	case agent.KindResourceExhausted:
		c.close(CloseTryAgainLater, "client fell behind: reconnect and resume with after_seq")
	case agent.KindInternal:
		c.close(CloseInternalError, "event stream failed; reconnect and resume with after_seq")
	default:
		c.close(CloseTryAgainLater, "event stream interrupted; reconnect and resume with after_seq")
	}
	return nil
}

// writeEvent writes one pushed event; it is the Follower's emit.
func (c *conn) writeEvent(ev *agentv1.AgentEvent) error {
	if c.isClosing() {
		return errClosing
	}
	frame, err := c.b.frames.frame(ev)
	if err != nil {
		c.b.log.Error("cannot encode event", "agent", c.agentID, "seq", ev.GetSeq(), "err", err)
		return nil
	}
	if err := c.out.writeText(frame, true, time.Now().Add(c.b.cfg.WriteTimeout)); err != nil {
		return err
	}
	c.b.cfg.Observer.FrameOut()
	return nil
}

// write writes one text frame under the write deadline.
func (c *conn) write(frame []byte) error {
	if err := c.out.writeText(frame, false, time.Now().Add(c.b.cfg.WriteTimeout)); err != nil {
		return err
	}
	c.b.cfg.Observer.FrameOut()
	return nil
}
