package bridge

import (
	"errors"
	"time"

	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/agentgate/agentgate/internal/agent"
	"github.com/gorilla/websocket"
)

// The writer writes every frame the bridge sends on a socket. It waits on the
// closing signal, the response queue, the push subscription and the ping
// ticker; an idle socket's writer is parked in that select and costs its
// stack only.
//
// Every frame gets a write deadline of WriteTimeout. A client that stops
// reading is dropped in one of two ways, neither of which slows any other
// socket: its queue overflows (responses past SendQueue, or pushed events
// past the agent subscription's limit) and it is closed with 1013, or a write
// blocks for WriteTimeout and the connection is cut.

// writeLoop is the writer goroutine.
func (c *conn) writeLoop() {
	defer close(c.writerDone)
	defer func() {
		if c.f != nil {
			c.f.Close()
		}
	}()
	ping := time.NewTicker(c.b.cfg.PingInterval)
	defer ping.Stop()
	defer func() {
		if c.resume != nil {
			c.resume.Stop()
		}
	}()
	err := c.startPush()
	for {
		if errors.Is(err, errClosing) {
			err = nil
		}
		if err != nil {
			break
		}
		if c.isClosing() {
			c.finish()
			return
		}
		var ready <-chan struct{}
		var resume <-chan time.Time
		switch {
		case c.f != nil && c.resume != nil:
			resume = c.resume.C // broken: the ended subscription's Ready stays closed
		case c.f != nil:
			ready = c.f.Ready()
		}
		select {
		case <-c.closing:
		case <-c.wake:
			err = c.batch(c.flush)
		case <-ready:
			err = c.batch(c.pump)
		case <-resume:
			err = c.batch(c.resumePush)
		case <-ping.C:
			err = c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(c.b.cfg.WriteTimeout))
		}
	}
	// A write failed: the client is gone, or stopped reading for
	// WriteTimeout. No close frame can get through.
	c.close(closeAbnormal, "")
	c.endRead(time.Now())
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

// batch runs one turn of the writer with its frames sent together: the
// pushed events that waited, or the queued responses, leave in one write.
func (c *conn) batch(turn func() error) error {
	c.out.begin()
	err := turn()
	if ferr := c.out.end(); err == nil {
		err = ferr
	}
	return err
}

// flush writes the queued response frames and a pending pong.
func (c *conn) flush() error {
	for {
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
		if len(q) == 0 {
			c.spare = q
			return nil
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
		if err != nil {
			return err
		}
	}
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
		c.resume = nil
		return c.pushEnded(err)
	}
	if !ok {
		c.retryResume()
		return nil
	}
	c.resume, c.resumeWait = nil, 0
	return nil
}

// retryResume sets the timer of the next attempt to resume, backing off
// from 100 ms to 2 s.
func (c *conn) retryResume() {
	c.resumeWait = min(max(2*c.resumeWait, 100*time.Millisecond), 2*time.Second)
	if c.resume == nil {
		c.resume = time.NewTimer(c.resumeWait)
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
	c.f.Close()
	c.f = nil
	switch ae.Kind {
	case agent.KindNotFound:
		zero := uint64(0)
		f, ferr := c.b.cfg.Agents.Follow(c.ctx, c.agentID, &zero)
		if ferr != nil {
			c.close(CloseTryAgainLater, "event stream interrupted; reconnect and resume with after_seq")
			return nil
		}
		c.f = f
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
	return c.write(frame)
}

// write writes one text frame under the write deadline.
func (c *conn) write(frame []byte) error {
	_ = c.ws.SetWriteDeadline(time.Now().Add(c.b.cfg.WriteTimeout))
	if err := c.ws.WriteMessage(websocket.TextMessage, frame); err != nil {
		return err
	}
	c.b.cfg.Observer.FrameOut()
	return nil
}
