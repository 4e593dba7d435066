package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// WSFanoutConfig configures ws-fanout.
type WSFanoutConfig struct {
	// Conns is how many sockets listen on the one agent (room). Default 1000.
	Conns int
	// Duration is the measured time, after one warm-up message has reached
	// every socket. Default 5s.
	Duration time.Duration
	// Window is how many messages may be on their way at once: the sender
	// sends the next one when fewer than Window have not yet reached every
	// socket. Default 1, so that latency has no queue of the tool's making.
	Window int
	// Lost is how long the sender waits for a message to reach every socket
	// before it counts it lost and goes on. Default 5s.
	Lost time.Duration
	// Messages, when > 0, ends the run once that many measured messages
	// reached every socket (or were lost); Duration still bounds it. Default
	// 0: as many as Duration allows.
	Messages int
	// SkipDeltas opens the gateway's sockets with ?deltas=false, as a
	// frontend that shows whole replies only would: three frames a message
	// instead of five. The bare room's one frame is the same either way.
	SkipDeltas bool
	// Batch opens the gateway's sockets with ?batch=true: the frames the
	// server has at once share a WebSocket message, one a line, which the
	// tool splits as it splits Centrifugo's. The bare room is the same
	// either way.
	Batch bool
}

func (c WSFanoutConfig) withDefaults() WSFanoutConfig {
	if c.Conns <= 0 {
		c.Conns = 1000
	}
	if c.Duration <= 0 {
		c.Duration = 5 * time.Second
	}
	if c.Window <= 0 {
		c.Window = 1
	}
	if c.Lost <= 0 {
		c.Lost = 5 * time.Second
	}
	return c
}

// maxFanoutMessages bounds the per-message counters of one run.
const maxFanoutMessages = 1 << 20

// fanout is the shared state of one ws-fanout run.
type fanout struct {
	conns int
	// centrifugo says the server is Centrifugo: a message is a publication
	// to channel, not a SendMessage frame.
	centrifugo bool
	// lines says the gateway's sockets were opened with ?batch=true.
	lines     bool
	channel   string
	measuring atomic.Bool
	// seen counts, per message seq, the sockets that received it.
	seen     []atomic.Int32
	complete chan int // seqs that reached every socket
	frames   atomic.Int64
	markers  atomic.Int64
	// first is the first measured seq; the warm-up messages come before.
	first atomic.Int64
}

// WSFanout runs ws-fanout: Conns sockets on one agent (the bare server: one
// room), and one more socket, not subscribed, that sends SendMessage
// frames. Each receiver times the arrival of the user message (the bare
// room: of the frame itself) against the send time the message carries.
// Figures: deliveries_per_s (user messages arriving on a socket, per
// second), frames_per_s (every frame pushed, the agent's reply included),
// and the delivery latency percentiles.
func WSFanout(ctx context.Context, t Target, cfg WSFanoutConfig) (*Result, error) {
	cfg = cfg.withDefaults()
	name := "ws-fanout"
	if cfg.SkipDeltas {
		name = "ws-fanout-whole"
	}
	if cfg.Batch {
		name += "-batch"
	}
	r := newResult(name, t.Name)
	room := "fanout-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	listen, err := fanoutListener(t, room, cfg.SkipDeltas, cfg.Batch)
	if err != nil {
		return nil, err
	}
	conns, err := dialAll(ctx, cfg.Conns, 32, listen)
	if err != nil {
		return nil, err
	}
	defer closeAll(conns)
	sender, err := t.open(ctx, room, "/room/"+room, false)
	if err != nil {
		return nil, err
	}
	// The sender's reader must not answer Centrifugo's pings: the sender's
	// writes are the run's own. It lives a run, far less than a ping's
	// interval and timeout. The run ends only once the reader has.
	senderRead := make(chan struct{})
	go func() {
		defer close(senderRead)
		discardMessages(&msgReader{c: sender, centrifugo: t.Centrifugo})
	}()
	defer func() {
		_ = sender.Close()
		<-senderRead
	}()

	f := &fanout{conns: cfg.Conns, centrifugo: t.Centrifugo, lines: cfg.Batch && t.Project, channel: centrifugoChannel(room), seen: make([]atomic.Int32, maxFanoutMessages), complete: make(chan int, 1024)}
	samples := make([]*Samples, len(conns))
	var wg sync.WaitGroup
	var dropped atomic.Int64
	for i, c := range conns {
		samples[i] = &Samples{}
		wg.Go(func() {
			if f.receive(c, samples[i]) {
				dropped.Add(1)
			}
		})
	}
	defer func() {
		closeAll(conns)
		wg.Wait()
	}()

	first, err := f.warmUp(ctx, sender)
	if err != nil {
		return nil, err
	}
	cpu := startCPU(t.PID)
	start := time.Now()
	lost, sent, err := f.run(ctx, sender, cfg, first)
	window := time.Since(start)
	elapsed := window.Seconds()
	if err != nil {
		return nil, err
	}
	cpu.stop(r, window, float64(f.markers.Load()))
	closeAll(conns)
	wg.Wait()
	all := &Samples{}
	for _, s := range samples {
		all.Merge(s)
	}
	r.Errors = lost + dropped.Load()
	if lost > 0 {
		r.Note(fmt.Sprintf("%d of %d messages did not reach every socket within %s", lost, sent, cfg.Lost))
	}
	if d := dropped.Load(); d > 0 {
		r.Note(fmt.Sprintf("%d sockets were closed by the server", d))
	}
	r.Set("conns", float64(cfg.Conns))
	r.Set("messages_per_s", float64(sent)/elapsed)
	r.Set("deliveries_per_s", float64(f.markers.Load())/elapsed)
	r.Set("frames_per_s", float64(f.frames.Load())/elapsed)
	latencyMetrics(r, "", all)
	return r, nil
}

// warmUpTries bounds the warm-up messages of one run.
const warmUpTries = 20

// warmUp sends warm-up messages until one reaches every socket, which
// proves them all subscribed: a socket joins its agent (the bare room) only
// after its upgrade response has left the server, so the first message may
// miss the last sockets to connect. It returns the first seq to measure.
func (f *fanout) warmUp(ctx context.Context, sender *websocket.Conn) (int, error) {
	for seq := range warmUpTries {
		if err := f.send(sender, seq); err != nil {
			return 0, err
		}
		if f.await(ctx, seq, time.Second) {
			f.first.Store(int64(seq + 1))
			return seq + 1, nil
		}
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
	}
	return 0, fmt.Errorf("none of %d warm-up messages reached all %d sockets (the last reached %d)", warmUpTries, f.conns, f.seen[warmUpTries-1].Load())
}

// run sends messages first, first+1, … for cfg.Duration, or until
// cfg.Messages of them are done, keeping at most cfg.Window on their way. It
// returns how many were lost and sent.
func (f *fanout) run(ctx context.Context, sender *websocket.Conn, cfg WSFanoutConfig, first int) (lost, sent int64, err error) {
	f.measuring.Store(true)
	defer f.measuring.Store(false)
	until := time.Now().Add(cfg.Duration)
	last := maxFanoutMessages
	if cfg.Messages > 0 {
		last = min(last, first+cfg.Messages)
	}
	pending := map[int]time.Time{}
	for seq := first; time.Now().Before(until); {
		if len(pending) < cfg.Window && seq < last {
			if err := f.send(sender, seq); err != nil {
				return lost, sent, err
			}
			pending[seq] = time.Now()
			sent++
			seq++
			continue
		}
		if len(pending) == 0 {
			break // every message is done
		}
		oldest := time.Now()
		for _, at := range pending {
			oldest = minTime(oldest, at)
		}
		wait := time.NewTimer(time.Until(oldest.Add(cfg.Lost)))
		select {
		case done := <-f.complete:
			delete(pending, done)
		case <-wait.C:
			for s, at := range pending {
				if time.Since(at) >= cfg.Lost {
					delete(pending, s)
					lost++
				}
			}
		case <-ctx.Done():
			wait.Stop()
			return lost, sent, ctx.Err()
		}
		wait.Stop()
	}
	return lost, sent, nil
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// await waits until message seq reached every socket.
func (f *fanout) await(ctx context.Context, seq int, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		select {
		case s := <-f.complete:
			if s == seq {
				return true
			}
		case <-t.C:
			return false
		case <-ctx.Done():
			return false
		}
	}
}

// send sends message seq, stamped with the time: a SendMessage frame,
// which the bare room broadcasts as it is, or Centrifugo's publication of
// {"text":…} to the run's channel. Either way the text is "m<seq>t<ns>".
func (f *fanout) send(c *websocket.Conn, seq int) error {
	text := make([]byte, 0, 64)
	text = append(text, `{"text":"m`...)
	text = strconv.AppendInt(text, int64(seq), 10)
	text = append(text, 't')
	text = strconv.AppendInt(text, time.Now().UnixNano(), 10)
	text = append(text, `"}`...)
	buf := make([]byte, 0, 128)
	if f.centrifugo {
		// Ids from firstCommandID on: the sender's handshake used the ones below.
		buf = appendPublish(buf, uint32(firstCommandID+seq), f.channel, text)
	} else {
		buf = append(buf, `{"id":"s`...)
		buf = strconv.AppendInt(buf, int64(seq), 10)
		buf = append(buf, `","method":"SendMessage","request":`...)
		buf = append(buf, text...)
		buf = append(buf, '}')
	}
	return c.WriteMessage(websocket.TextMessage, buf)
}

// fanoutListener returns how to open a listening socket of room: on the
// gateway, with ?deltas=false when skipDeltas is set, and ?batch=true when
// batch is.
func fanoutListener(t Target, room string, skipDeltas, batch bool) (func(context.Context, int) (*websocket.Conn, error), error) {
	listen := t.wsURL(room, "/room/"+room, true)
	if t.Centrifugo {
		return func(ctx context.Context, _ int) (*websocket.Conn, error) { return t.open(ctx, room, "", true) }, nil
	}
	if (skipDeltas || batch) && t.Project {
		u, err := url.Parse(listen)
		if err != nil {
			return nil, err
		}
		q := u.Query()
		if skipDeltas {
			q.Set("deltas", "false")
		}
		if batch {
			q.Set("batch", "true")
		}
		u.RawQuery = q.Encode()
		listen = u.String()
	}
	return func(ctx context.Context, _ int) (*websocket.Conn, error) { return dial(ctx, listen) }, nil
}

var markerKey = []byte(`"text":"m`)

// parseMarker finds the message seq and send time in a frame. Only the user
// message carries "text":"m…: the reply's text starts with "echo: " and
// deltas have no text field. Centrifugo's push carries the published data,
// {"text":"m…"}, as it is.
func parseMarker(data []byte) (seq int, sent int64, ok bool) {
	i := bytes.Index(data, markerKey)
	if i < 0 {
		return 0, 0, false
	}
	rest := data[i+len(markerKey):]
	t := bytes.IndexByte(rest, 't')
	q := bytes.IndexByte(rest, '"')
	if t < 0 || q < t {
		return 0, 0, false
	}
	s, err1 := strconv.Atoi(string(rest[:t]))
	ns, err2 := strconv.ParseInt(string(rest[t+1:q]), 10, 64)
	if err1 != nil || err2 != nil || s < 0 || s >= maxFanoutMessages {
		return 0, 0, false
	}
	return s, ns, true
}

// receive reads one socket until it fails. It reports whether the server
// closed it (rather than the tool).
// For Centrifugo, and the gateway with ?batch=true, frames_per_s counts
// protocol messages, several of which may share a frame.
func (f *fanout) receive(c *websocket.Conn, s *Samples) bool {
	m := msgReader{c: c, centrifugo: f.centrifugo, lines: f.lines, pong: true}
	for {
		data, err := m.next()
		if err != nil {
			var ce *websocket.CloseError
			return errors.As(err, &ce)
		}
		measuring := f.measuring.Load()
		if measuring {
			f.frames.Add(1)
		}
		seq, sent, ok := parseMarker(data)
		if !ok {
			continue
		}
		if measuring && int64(seq) >= f.first.Load() {
			s.Add(time.Duration(time.Now().UnixNano() - sent))
			f.markers.Add(1)
		}
		if int(f.seen[seq].Add(1)) == f.conns {
			select {
			case f.complete <- seq:
			default:
			}
		}
	}
}

// discardMessages reads and drops a socket's messages until it fails.
func discardMessages(m *msgReader) {
	for {
		if _, err := m.next(); err != nil {
			return
		}
	}
}
