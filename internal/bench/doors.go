package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// The ways a door mode sends a message and reads its reply.
const (
	DoorAGUI      = "agui"
	DoorAISDK     = "aisdk"
	DoorWebSocket = "websocket"
)

// DoorConfig configures the door modes: each worker, on an agent of its
// own, sends a message and reads its streamed reply to the end, over and
// over, through one door. Figures: replies_per_s, and first_delta p50/p99
// (from sending to the reply's first text delta).
type DoorConfig struct {
	// Door is DoorAGUI, DoorAISDK or DoorWebSocket.
	Door string
	// Conns is how many workers send at once. Default 64.
	Conns int
	// Warmup runs before Duration and is not counted. Default 1s.
	Warmup time.Duration
	// Duration is the measured time. Default 5s.
	Duration time.Duration
}

func (c DoorConfig) withDefaults() DoorConfig {
	r := WSRTTConfig{Conns: c.Conns, Warmup: c.Warmup, Duration: c.Duration}.withDefaults()
	c.Conns, c.Warmup, c.Duration = r.Conns, r.Warmup, r.Duration
	return c
}

// doorTurn sends message n of a worker and returns when the reply ended,
// having recorded the first delta's latency.
type doorTurn func(n int, firstDelta func()) error

// Doors runs a door mode against the gateway.
func Doors(ctx context.Context, t Target, cfg DoorConfig) (*Result, error) {
	cfg = cfg.withDefaults()
	r := newResult("door-"+cfg.Door, cfg.Door)
	tr := &http.Transport{MaxIdleConnsPerHost: cfg.Conns, MaxConnsPerHost: cfg.Conns}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	turns := make([]doorTurn, cfg.Conns)
	for i := range turns {
		agentID := "door-" + strconv.Itoa(i)
		switch cfg.Door {
		case DoorAGUI, DoorAISDK:
			turns[i] = sseTurn(ctx, hc, t, cfg.Door, agentID, i)
		case DoorWebSocket:
			c, err := dial(ctx, t.wsURL(agentID, "", true))
			if err != nil {
				return nil, err
			}
			defer c.Close()
			turns[i] = wsTurn(c, i)
		default:
			return nil, fmt.Errorf("unknown door %q", cfg.Door)
		}
	}
	start := time.Now()
	from, until := start.Add(cfg.Warmup), start.Add(cfg.Warmup+cfg.Duration)
	all, first := &Samples{}, &Samples{}
	var errs errorTally
	var wg sync.WaitGroup
	for _, turn := range turns {
		wg.Go(func() {
			s, f := &Samples{}, &Samples{}
			for n := 0; ; n++ {
				sent := time.Now()
				if !sent.Before(until) || ctx.Err() != nil {
					break
				}
				counted := !sent.Before(from)
				err := turn(n, func() {
					if counted {
						f.Add(time.Since(sent))
					}
				})
				if err != nil {
					errs.add(err)
					break
				}
				if counted {
					s.Add(time.Since(sent))
				}
			}
			all.Merge(s)
			first.Merge(f)
		})
	}
	measureWindow(ctx, t.PID, r, from, until, &wg, all)
	errs.report(r)
	r.Set("conns", float64(cfg.Conns))
	r.Set("replies_per_s", float64(all.Count())/cfg.Duration.Seconds())
	latencyMetrics(r, "", all)
	latencyMetrics(r, "first_delta_", first)
	return r, nil
}

// sseTurn posts to an SSE door and reads the stream to its end.
func sseTurn(ctx context.Context, hc *http.Client, t Target, door, agentID string, worker int) doorTurn {
	url, delta := "http://"+t.Addr+"/agui/"+agentID, []byte(`"TEXT_MESSAGE_CONTENT"`)
	if door == DoorAISDK {
		url, delta = "http://"+t.Addr+"/ai/chat", []byte(`"text-delta"`)
	}
	prefix := "w" + strconv.Itoa(worker) + "-"
	var body []byte
	return func(n int, firstDelta func()) error {
		id := prefix + strconv.Itoa(n)
		if door == DoorAGUI {
			body = fmt.Appendf(body[:0], `{"threadId":%q,"runId":"r-%s","messages":[{"id":%q,"role":"user","content":"hello %d"}]}`, agentID, id, id, n)
		} else {
			body = fmt.Appendf(body[:0], `{"id":%q,"trigger":"submit-message","messages":[{"id":%q,"role":"user","parts":[{"type":"text","text":"hello %d"}]}]}`, agentID, id, n)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		res, err := hc.Do(req)
		if err != nil {
			return err
		}
		defer res.Body.Close()
		if res.StatusCode != http.StatusOK {
			b, _ := io.ReadAll(io.LimitReader(res.Body, 300))
			return fmt.Errorf("%s: HTTP %d: %s", door, res.StatusCode, b)
		}
		sc := bufio.NewScanner(res.Body)
		seen := false
		for sc.Scan() {
			line := sc.Bytes()
			if !seen && bytes.Contains(line, delta) {
				seen = true
				firstDelta()
			}
			if bytes.Contains(line, []byte(`"RUN_ERROR"`)) || bytes.HasPrefix(line, []byte(`data: {"type":"error"`)) {
				return fmt.Errorf("%s: %s", door, line)
			}
		}
		return sc.Err()
	}
}

// wsTurn sends SendMessage on a socket with push on and waits for its
// response (the reply), timing the first pushed text delta on the way.
func wsTurn(c *websocket.Conn, worker int) doorTurn {
	prefix := `{"id":"w` + strconv.Itoa(worker) + `-`
	var fr frameReader
	var buf, idb []byte
	return func(n int, firstDelta func()) error {
		buf = append(buf[:0], prefix...)
		buf = strconv.AppendInt(buf, int64(n), 10)
		buf = append(buf, `","method":"SendMessage","request":{"text":"hello `...)
		buf = strconv.AppendInt(buf, int64(n), 10)
		buf = append(buf, `"}}`...)
		idb = append(idb[:0], prefix[1:]...)
		idb = strconv.AppendInt(idb, int64(n), 10)
		idb = append(idb, '"')
		_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
		if err := c.WriteMessage(websocket.TextMessage, buf); err != nil {
			return err
		}
		seen := false
		for {
			data, err := fr.next(c)
			if err != nil {
				return err
			}
			if !seen && bytes.Contains(data, []byte(`"textDelta"`)) {
				seen = true
				firstDelta()
			}
			if !bytes.Contains(data, idb) {
				continue
			}
			if bytes.Contains(data, []byte(`"error":{`)) {
				return fmt.Errorf("error frame: %.300s", data)
			}
			return nil
		}
	}
}
