package engine

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"time"

	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/agentgate/agentgate/internal/backoff"
	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// This file holds the two goroutines of fanout: the reader of the pub/sub
// connection, which delivers messages and replaces the connection when it
// fails, and the janitor, which unsubscribes from channels nobody watches.

// Reconnection backoff of the pub/sub reader after a failure.
const (
	minBackoff = 50 * time.Millisecond
	maxBackoff = time.Second
)

// run is the reader: it receives from one connection until it fails, then
// ends every subscription on it and reconnects with backoff.
func (f *fanout) run(ps *redis.PubSub) {
	defer f.wg.Done()
	delay := backoff.New(minBackoff, maxBackoff)
	for {
		replied, err := f.receive(ps)
		f.reset(ps, err)
		if replied {
			delay.Reset()
		}
		t := time.NewTimer(delay.Next())
		select {
		case <-f.done:
			t.Stop()
			return
		case <-t.C:
		}
		if ps = f.reconnect(); ps == nil {
			return
		}
	}
}

// reconnect installs a new connection, or returns nil if the engine closed.
func (f *fanout) reconnect() *redis.PubSub {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil
	}
	f.setPS(f.rdb.Subscribe(context.Background()))
	return f.ps
}

// receive reads from ps until it fails. A connection silent for pingIdle is
// pinged; if the next pingIdle brings no reply either, it is considered
// dead, so that a half-open TCP connection is noticed.
func (f *fanout) receive(ps *redis.PubSub) (replied bool, err error) {
	// The first ping dials at once, so that a Redis outage is noticed
	// before anyone subscribes.
	if err := f.ping(ps); err != nil {
		return false, err
	}
	pinged := true
	for {
		msg, err := ps.ReceiveTimeout(context.Background(), f.pingIdle)
		if err != nil {
			var netErr net.Error
			if pinged || !errors.As(err, &netErr) || !netErr.Timeout() {
				return replied, err
			}
			if err := f.ping(ps); err != nil {
				return replied, err
			}
			pinged = true
			continue
		}
		if !replied {
			replied = true
			f.up()
		}
		pinged = false
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" {
				f.confirm(m.Channel)
			}
		case *redis.Message:
			f.dispatch(m.Channel, m.Payload)
		}
	}
}

// up logs the end of an outage.
func (f *fanout) up() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		f.down = false
		f.log.Info("redis engine: pub/sub connection restored")
	}
}

func (f *fanout) ping(ps *redis.PubSub) error {
	ctx, cancel := context.WithTimeout(context.Background(), f.timeout)
	defer cancel()
	return ps.Ping(ctx)
}

func (f *fanout) confirm(channel string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	h := f.hubs[channel]
	if h == nil || h.confirmed {
		return
	}
	h.confirmed = true
	close(h.ready)
	if h.subs.len() == 0 { // its subscriber gave up while waiting
		select {
		case f.idle <- struct{}{}:
		default:
		}
	}
}

// dispatch delivers one message to the channel's subscriptions. The event is
// decoded once and shared by all of them, as Subscription allows, and only
// if one of them takes it: a text delta that every subscription skips is
// not decoded, nor an event of a hub that has no subscription left.
func (f *fanout) dispatch(channel, payload string) {
	if payload == "" {
		return
	}
	var ev *agentv1.AgentEvent
	if payload[0] == msgEvent {
		if !f.wanted(channel, payload[1:]) {
			return
		}
		ev = &agentv1.AgentEvent{}
		if err := proto.Unmarshal([]byte(payload[1:]), ev); err != nil {
			f.log.Error("redis engine: undecodable event dropped", "channel", channel, "err", err)
			return
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	h := f.hubs[channel]
	if h == nil || !h.confirmed {
		return
	}
	switch payload[0] {
	case msgEvent:
		h.subs.deliver(ev)
		if ev.GetSeq() > 0 {
			h.seen = ev.GetSeq()
		}
	case msgDeleted:
		h.subs.endAll(ErrDeleted)
		h.seen = 0
		h.deletes++
	case msgCancel:
		h.subs.cancel(payload[1:])
		return
	}
	h.wakeLocked()
}

// wanted reports whether a subscription of channel's hub takes the event
// encoded in body, which it tells without decoding it.
func (f *fanout) wanted(channel, body string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	h := f.hubs[channel]
	if h == nil || !h.confirmed {
		return false
	}
	return h.subs.takes(isTextDelta(body))
}

// isTextDelta reports whether body, an encoded AgentEvent, holds a text
// delta, from its fields' tags alone (the body is not copied). A body it
// cannot read is not one.
func isTextDelta(body string) bool {
	for len(body) > 0 {
		tag, n := uvarint(body)
		if n == 0 {
			return false
		}
		body = body[n:]
		if protowire.Number(tag>>3) == textDeltaField && protowire.Type(tag&7) == protowire.BytesType {
			return true
		}
		switch protowire.Type(tag & 7) {
		case protowire.VarintType:
			_, n = uvarint(body)
		case protowire.Fixed64Type:
			n = 8
		case protowire.Fixed32Type:
			n = 4
		case protowire.BytesType:
			l, m := uvarint(body)
			if m == 0 || l > uint64(len(body)-m) {
				return false
			}
			n = m + int(l)
		default:
			return false
		}
		if n == 0 || n > len(body) {
			return false
		}
		body = body[n:]
	}
	return false
}

// uvarint decodes a varint at the start of s, and its length; 0 if s does
// not start with one.
func uvarint(s string) (uint64, int) {
	var v uint64
	for i := 0; i < len(s) && i < binary.MaxVarintLen64; i++ {
		b := s[i]
		v |= uint64(b&0x7f) << (7 * i)
		if b < 0x80 {
			return v, i + 1
		}
	}
	return 0, 0
}

// textDeltaField is the field number of AgentEvent's text_delta (a test
// checks it against the descriptor).
const textDeltaField protowire.Number = 12

// reset ends every hub of ps, which failed: their subscriptions end with
// ErrUnavailable (ErrClosed if the engine closed), and the hubs go, since
// Redis dropped their SUBSCRIBEs with the connection.
func (f *fanout) reset(ps *redis.PubSub, err error) {
	f.mu.Lock()
	cause := ErrClosed
	if !f.closed {
		cause = fmt.Errorf("%w: pub/sub connection lost: %w", ErrUnavailable, err)
		f.pres.markDirty()
		if !f.down {
			f.down = true
			f.log.Warn("redis engine: pub/sub connection lost; its subscriptions end with ErrUnavailable", "err", err)
		}
	}
	if f.ps == ps {
		f.setPS(nil)
	}
	hubs := f.hubs
	f.hubs = make(map[string]*hub)
	f.endHubsLocked(hubs, cause)
	f.mu.Unlock()
	_ = ps.Close()
}

func (f *fanout) endHubsLocked(hubs map[string]*hub, cause error) {
	for _, h := range hubs {
		h.gone = true
		if !h.confirmed {
			close(h.ready)
		}
		h.subs.endAll(cause)
		h.wakeLocked()
	}
}

// janitor unsubscribes from the channels of hubs left without
// subscriptions.
func (f *fanout) janitor() {
	defer f.wg.Done()
	for {
		select {
		case <-f.done:
			return
		case <-f.idle:
		}
		f.sweep()
	}
}

func (f *fanout) sweep() {
	select {
	case f.sem <- struct{}{}:
	case <-f.done:
		return
	}
	defer func() { <-f.sem }()
	f.mu.Lock()
	ps := f.ps
	var channels []string
	for ch, h := range f.hubs {
		if h.confirmed && h.subs.len() == 0 {
			delete(f.hubs, ch)
			h.gone = true
			h.wakeLocked()
			channels = append(channels, ch)
		}
	}
	f.mu.Unlock()
	if len(channels) == 0 || ps == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), f.timeout)
	defer cancel()
	if err := ps.Unsubscribe(ctx, channels...); err != nil {
		f.log.Warn("redis engine: pub/sub unsubscribe failed", "err", err)
		_ = ps.Close() // the reader reconnects
	}
}

// close ends every subscription with ErrClosed and stops the goroutines.
func (f *fanout) close() {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return
	}
	f.closed = true
	ps := f.ps
	f.setPS(nil)
	hubs := f.hubs
	f.hubs = make(map[string]*hub)
	f.endHubsLocked(hubs, ErrClosed)
	f.mu.Unlock()
	close(f.done)
	if ps != nil {
		_ = ps.Close() // unblocks the reader
	}
	f.wg.Wait()
}
