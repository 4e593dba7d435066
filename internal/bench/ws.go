package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// Target is a running server under test.
type Target struct {
	// Name labels the results: "agentgate", "bare", "agentgate+redis".
	Name string
	// Addr is the loopback host:port.
	Addr string
	// Project is true for the gateway, false for the bare servers and the
	// peers.
	Project bool
	// Centrifugo is true for the Centrifugo peer, which speaks its own
	// protocol at /connection/websocket.
	Centrifugo bool
	// PID is the server's process id, for its RSS; 0 when unknown.
	PID int
	// Token is the gateway's bearer token, which its sockets send as their
	// access_token; empty for none.
	Token string
}

// wsURL is the socket URL for agent id (the gateway) or the bare path.
func (t Target) wsURL(agentID, barePath string, subscribe bool) string {
	if !t.Project {
		u := "ws://" + t.Addr + barePath
		if !subscribe {
			u += "?subscribe=false"
		}
		return u
	}
	q := url.Values{}
	if !subscribe {
		q.Set("subscribe", "false")
	}
	if t.Token != "" {
		q.Set("access_token", t.Token)
	}
	u := "ws://" + t.Addr + "/ws/agent/" + agentID
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	return u
}

// open dials a socket for name: the gateway's agent name, the bare server's
// barePath, or Centrifugo's channel name in the bench namespace. A socket
// that does not subscribe only sends (the gateway and the bare room:
// ?subscribe=false). A Centrifugo socket is connected, and subscribed when
// subscribe is set, before open returns, as the gateway's socket is
// subscribed once its upgrade succeeded.
func (t Target) open(ctx context.Context, name, barePath string, subscribe bool) (*websocket.Conn, error) {
	if !t.Centrifugo {
		return dial(ctx, t.wsURL(name, barePath, subscribe))
	}
	url := "ws://" + t.Addr + centrifugoPath
	c, err := dial(ctx, url)
	if err != nil {
		return nil, err
	}
	channel := ""
	if subscribe {
		channel = centrifugoChannel(name)
	}
	if err := centrifugoHandshake(c, channel); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("%s: %w", url, err)
	}
	return c, nil
}

// dialer is the client side of every socket: gorilla's defaults but for
// smaller buffers, which only the tool's own memory sees.
var dialer = websocket.Dialer{
	HandshakeTimeout: 10 * time.Second,
	ReadBufferSize:   2 << 10,
	WriteBufferSize:  2 << 10,
}

func dial(ctx context.Context, url string) (*websocket.Conn, error) {
	c, resp, err := dialer.DialContext(ctx, url, http.Header{})
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("%s: %w (HTTP %d)", url, err, resp.StatusCode)
		}
		return nil, fmt.Errorf("%s: %w", url, err)
	}
	return c, nil
}

// dialAll opens n sockets with parallel dialers; open opens socket i.
// On error it closes what it opened.
func dialAll(ctx context.Context, n, parallel int, open func(ctx context.Context, i int) (*websocket.Conn, error)) ([]*websocket.Conn, error) {
	conns := make([]*websocket.Conn, n)
	var next atomic.Int64
	var firstErr error
	var once sync.Once
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for range min(parallel, n) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				c, err := open(ctx, i)
				if err != nil {
					once.Do(func() { firstErr = fmt.Errorf("socket %d of %d: %w", i+1, n, err) })
					cancel()
					return
				}
				conns[i] = c
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		closeAll(conns)
		return nil, firstErr
	}
	return conns, nil
}

func closeAll(conns []*websocket.Conn) {
	for _, c := range conns {
		if c != nil {
			_ = c.Close()
		}
	}
}

// WSRTTConfig configures ws-rtt.
type WSRTTConfig struct {
	// Conns is how many sockets send, each its own agent. Default 64.
	Conns int
	// Warmup runs before Duration and is not counted. Default 1s.
	Warmup time.Duration
	// Duration is the measured time. Default 5s.
	Duration time.Duration
	// Subscribe leaves the gateway's push on, so that each round trip also
	// pushes the agent's events to the sender. Default off: the figure is
	// the request/response path, which the bare echo is compared with.
	Subscribe bool
}

func (c WSRTTConfig) withDefaults() WSRTTConfig {
	if c.Conns <= 0 {
		c.Conns = 64
	}
	c.Warmup, c.Duration = measuredTimes(c.Warmup, c.Duration)
	return c
}

// WSRTT runs ws-rtt: each socket sends a SendMessage frame and waits for its
// response (the bare echo: for the frame itself), over and over. Figures:
// rtt_per_s and the latency percentiles.
func WSRTT(ctx context.Context, t Target, cfg WSRTTConfig) (*Result, error) {
	cfg = cfg.withDefaults()
	r := newResult("ws-rtt", t.Name)
	// Each run's agents (channels) are new, so that a server on Redis,
	// whose store outlives it, starts every run from empty logs, as on
	// memory.
	run := "rtt-" + strconv.FormatInt(time.Now().UnixNano(), 36) + "-"
	name := func(i int) string { return run + strconv.Itoa(i) }
	conns, err := dialAll(ctx, cfg.Conns, 16, func(ctx context.Context, i int) (*websocket.Conn, error) {
		return t.open(ctx, name(i), "/echo", cfg.Subscribe)
	})
	if err != nil {
		return nil, err
	}
	defer closeAll(conns)
	start := time.Now()
	from, until := start.Add(cfg.Warmup), start.Add(cfg.Warmup+cfg.Duration)
	all := &Samples{}
	var errs errorTally
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Go(func() {
			s := &Samples{}
			loop := func() error { return rttLoop(c, i, from, until, s) }
			if t.Centrifugo {
				loop = func() error { return centrifugoRTTLoop(c, centrifugoChannel(name(i)), from, until, s) }
			}
			if err := loop(); err != nil {
				errs.add(err)
			}
			all.Merge(s)
		})
	}
	measureWindow(ctx, t.PID, r, from, until, &wg, all)
	errs.report(r)
	r.Set("conns", float64(cfg.Conns))
	r.Set("rtt_per_s", float64(all.Count())/cfg.Duration.Seconds())
	latencyMetrics(r, "", all)
	return r, nil
}

// rttLoop sends and waits until the deadline, recording round trips that
// start at or after from.
func rttLoop(c *websocket.Conn, worker int, from, until time.Time, s *Samples) error {
	prefix := `{"id":"w` + strconv.Itoa(worker) + `-`
	buf := make([]byte, 0, 128)
	idb := make([]byte, 0, 32)
	var fr frameReader
	_ = c.SetReadDeadline(until.Add(10 * time.Second))
	for n := 0; ; n++ {
		sent := time.Now()
		if !sent.Before(until) {
			return nil
		}
		buf = append(buf[:0], prefix...)
		buf = strconv.AppendInt(buf, int64(n), 10)
		buf = append(buf, `","method":"SendMessage","request":{"text":"hello `...)
		buf = strconv.AppendInt(buf, int64(n), 10)
		buf = append(buf, `"}}`...)
		idb = append(idb[:0], prefix[1:]...)
		idb = strconv.AppendInt(idb, int64(n), 10)
		idb = append(idb, '"')
		if err := c.WriteMessage(websocket.TextMessage, buf); err != nil {
			return err
		}
		for {
			data, err := fr.next(c)
			if err != nil {
				return err
			}
			if !bytes.Contains(data, idb) {
				continue // a pushed event
			}
			if bytes.Contains(data, []byte(`"error":{`)) {
				return fmt.Errorf("error frame: %.300s", data)
			}
			break
		}
		if !sent.Before(from) {
			s.Add(time.Since(sent))
		}
	}
}

// frameReader reads a socket's messages into one reused buffer. The tool
// shares the cores with the server it measures, so its own garbage would
// count against whichever server sends more frames: ReadMessage allocates
// every message anew, and at a fan-out of five frames per message the tool's
// collector ran five times as often against the gateway as against the bare
// room.
type frameReader struct {
	buf []byte
}

// next returns the next message; it is valid until the following call.
func (f *frameReader) next(c *websocket.Conn) ([]byte, error) {
	_, r, err := c.NextReader()
	if err != nil {
		return nil, err
	}
	f.buf = f.buf[:0]
	for {
		if len(f.buf) == cap(f.buf) {
			f.buf = append(f.buf, 0)[:len(f.buf)]
		}
		n, err := r.Read(f.buf[len(f.buf):cap(f.buf)])
		f.buf = f.buf[:len(f.buf)+n]
		if err == io.EOF {
			return f.buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
}
