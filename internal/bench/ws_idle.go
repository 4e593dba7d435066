package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// WSIdleConfig configures ws-idle.
type WSIdleConfig struct {
	// Conns is how many sockets are held. Default 10000.
	Conns int
	// Agents is how many agents the sockets spread over, round robin;
	// 0 gives each socket its own agent (the default), the costlier case.
	Agents int
	// Settle is how long the sockets are held after the last one opened,
	// before RSS is read. Default 2s.
	Settle time.Duration
	// Parallel is how many dials run at once. Default 32.
	Parallel int
}

func (c WSIdleConfig) withDefaults() WSIdleConfig {
	if c.Conns <= 0 {
		c.Conns = 10000
	}
	if c.Settle <= 0 {
		c.Settle = 2 * time.Second
	}
	if c.Parallel <= 0 {
		c.Parallel = 32
	}
	return c
}

// WSIdle runs ws-idle: it opens Conns sockets (on the gateway, each
// subscribed to its agent, the default), holds them, and reads the server's
// RSS before and after. Figures: kb_per_conn, rss_before_mb, rss_after_mb,
// open (sockets still open at the end), dial_per_s.
func WSIdle(ctx context.Context, t Target, cfg WSIdleConfig) (*Result, error) {
	cfg = cfg.withDefaults()
	if t.PID == 0 {
		return nil, errors.New("ws-idle needs the server's PID to read its RSS")
	}
	r := newResult("ws-idle", t.Name)
	agent := func(i int) string {
		if cfg.Agents > 0 {
			i %= cfg.Agents
		}
		return "idle-" + strconv.Itoa(i)
	}
	// One socket opened and closed first, so that what every server
	// allocates once (handler code paths, pools) is not charged to the
	// sockets.
	warm, err := t.open(ctx, agent(0), "/echo", true)
	if err != nil {
		return nil, err
	}
	_ = warm.Close()
	before, err := stableRSS(ctx, t.PID, 500*time.Millisecond)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	conns, err := dialAll(ctx, cfg.Conns, cfg.Parallel, func(ctx context.Context, i int) (*websocket.Conn, error) {
		return t.open(ctx, agent(i), "/echo", true)
	})
	if err != nil {
		return nil, err
	}
	dialTime := time.Since(start)
	defer closeAll(conns)
	var closed atomic.Int64
	var closing atomic.Bool
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Go(func() {
			holdReader(&msgReader{c: c, centrifugo: t.Centrifugo, pong: true}, &closing, &closed, &firstErr)
		})
	}
	select {
	case <-time.After(cfg.Settle):
	case <-ctx.Done():
	}
	after, err := RSS(t.PID)
	serverOpen, openErr := gatewaySockets(ctx, t)
	closing.Store(true)
	closeAll(conns)
	wg.Wait()
	if err != nil {
		return nil, err
	}
	if openErr != nil {
		return nil, openErr
	}
	// Readers end when the tool closes the sockets; only failures seen
	// before that count as errors.
	r.Errors = closed.Load()
	if e, ok := firstErr.Load().(string); ok {
		r.Note(e)
	}
	r.Set("conns", float64(cfg.Conns))
	r.Set("open", float64(int64(cfg.Conns)-r.Errors))
	if t.Project {
		r.Set("server_open", serverOpen)
	}
	r.Set("dial_per_s", float64(cfg.Conns)/dialTime.Seconds())
	r.Set("rss_before_mb", float64(before)/(1<<20))
	r.Set("rss_after_mb", float64(after)/(1<<20))
	r.Set("kb_per_conn", float64(after-before)/float64(cfg.Conns)/1000)
	return r, nil
}

// holdReader reads a held socket until it fails; a failure before the tool
// closes the socket (closing: a close frame from the server, a reset, an
// end of stream) is counted. It answers Centrifugo's pings, which a held
// socket gets every 25 s.
func holdReader(m *msgReader, closing *atomic.Bool, closed *atomic.Int64, firstErr *atomic.Value) {
	var err error
	for err == nil {
		_, err = m.next()
	}
	if !closing.Load() {
		closed.Add(1)
		firstErr.CompareAndSwap(nil, fmt.Sprintf("lost before the end: %v", err))
	}
}

// gatewaySockets returns the gateway's own count of open WebSockets
// (agentgate_websockets_open on /metrics), so that "open" is what the
// server holds and not only what the tool believes; 0 for other servers.
func gatewaySockets(ctx context.Context, t Target) (float64, error) {
	if !t.Project {
		return 0, nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+t.Addr+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	if t.Token != "" {
		req.Header.Set("Authorization", "Bearer "+t.Token)
	}
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	res, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return 0, fmt.Errorf("reading the gateway's metrics: %w", err)
	}
	defer res.Body.Close()
	const name = "agentgate_websockets_open "
	lines := bufio.NewScanner(res.Body)
	for lines.Scan() {
		if v, ok := strings.CutPrefix(lines.Text(), name); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	return 0, fmt.Errorf("the gateway's /metrics has no %s(status %s)", name, res.Status)
}

// stableRSS reads the RSS of pid until two readings d apart differ by less
// than 1%, at most five times, and returns the last one.
func stableRSS(ctx context.Context, pid int, d time.Duration) (int64, error) {
	prev, err := RSS(pid)
	if err != nil {
		return 0, err
	}
	for range 5 {
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return 0, ctx.Err()
		}
		cur, err := RSS(pid)
		if err != nil {
			return 0, err
		}
		if diff := cur - prev; diff*100 < prev && -diff*100 < prev {
			return cur, nil
		}
		prev = cur
	}
	return prev, nil
}
