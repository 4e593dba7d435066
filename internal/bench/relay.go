package bench

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/agentgate/agentgate/internal/upstreamhttp"
	"github.com/gorilla/websocket"
	sdk "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
)

// Direct is the relay modes' baseline: not a server, but the relay
// upstream read directly by an openai-go client, as an application that
// called the model itself would.
const Direct = "direct"

// RelayConfig configures the relay modes: replies streamed from a fast
// OpenAI-compatible upstream, through the gateway (RESPONDER=openai) to
// subscribed sockets, against the same upstream read directly.
type RelayConfig struct {
	// Replies is how many replies stream at once, each on its own agent.
	// Default 100.
	Replies int
	// Deltas is how many content chunks each reply has. Default 100.
	Deltas int
	// Warmup runs before Duration and is not counted. Default 1s.
	Warmup time.Duration
	// Duration is the measured time. Default 5s.
	Duration time.Duration
}

func (c RelayConfig) withDefaults() RelayConfig {
	if c.Replies <= 0 {
		c.Replies = 100
	}
	if c.Deltas <= 0 {
		c.Deltas = 100
	}
	if c.Warmup <= 0 {
		c.Warmup = time.Second
	}
	if c.Duration <= 0 {
		c.Duration = 5 * time.Second
	}
	return c
}

// relayEnv points the gateway at the upstream.
func relayEnv(u *relayUpstream) []string {
	return []string{"RESPONDER=openai", "OPENAI_BASE_URL=" + u.baseURL(), "OPENAI_MODEL=bench", "CONTEXT_MESSAGES=0"}
}

// relayMode is relay-N: Replies concurrent replies through the gateway
// against the direct read. Its figures are deltas delivered per second and
// the latency from sending the message (or, directly, the request) to the
// first delta.
func (s *Setup) relayMode(name string, cfg RelayConfig) Mode {
	cfg = cfg.withDefaults()
	return Mode{
		Name: name, A: Gateway, B: Direct,
		Run: func(ctx context.Context, which string) (*Result, error) {
			u, err := startRelayUpstream(cfg.Deltas)
			if err != nil {
				return nil, err
			}
			defer u.close()
			if which == Direct {
				return RelayDirect(ctx, u.baseURL(), cfg)
			}
			return s.RunEnv(ctx, which, relayEnv(u), func(ctx context.Context, t Target) (*Result, error) {
				return RelayGateway(ctx, t, cfg)
			})
		},
		Show: []string{"deltas_per_s", "replies_per_s", "first_p50_ms", "first_p99_ms", "server_cpu_pct", "server_cpu_us_per_op", "errors"},
		Checks: []Check{
			{Metric: "deltas_per_s", Ratio: true, Limit: 0.5},
		},
	}
}

// relayTally gathers what the streams of one run saw.
type relayTally struct {
	deltas, replies, errors atomic.Int64
	first                   *Samples
	firstErr                atomic.Value
}

func (t *relayTally) fail(err error) {
	if t.errors.Add(1) == 1 {
		t.firstErr.Store(err.Error())
	}
}

// result turns a tally into figures over the measured window d.
func (t *relayTally) result(mode, target string, d time.Duration) *Result {
	r := newResult(mode, target)
	secs := d.Seconds()
	r.Set("deltas_per_s", float64(t.deltas.Load())/secs)
	r.Set("replies_per_s", float64(t.replies.Load())/secs)
	p := t.first.Percentiles(0.5, 0.99)
	r.Set("first_p50_ms", p[0])
	r.Set("first_p99_ms", p[1])
	r.Errors = t.errors.Load()
	if e, ok := t.firstErr.Load().(string); ok {
		r.Note("first error: " + e)
	}
	return r
}

// measure runs loop on n workers for warmup plus d, and window at the
// start of the measured time d; window's func is called at its end.
// counted tells a worker whether now is within the measured window: deltas
// and replies count when they arrive in it, a first-delta latency when its
// reply began in it.
func measure(ctx context.Context, n int, warmup, d time.Duration, window func() func(), loop func(ctx context.Context, i int, counted func() bool)) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	from := time.Now().Add(warmup)
	until := from.Add(d)
	counted := func() bool { now := time.Now(); return !now.Before(from) && now.Before(until) }
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { loop(ctx, i, counted) })
	}
	sleepUntil(ctx, from)
	end := window()
	sleepUntil(ctx, until)
	end()
	cancel()
	wg.Wait()
}

// RelayGateway streams replies through the gateway: each worker's socket
// is subscribed to its own agent, sends SendMessage and reads the pushed
// deltas until the reply; the next message goes when the reply is in.
func RelayGateway(ctx context.Context, t Target, cfg RelayConfig) (*Result, error) {
	cfg = cfg.withDefaults()
	conns, err := dialAll(ctx, cfg.Replies, 32, func(ctx context.Context, i int) (*websocket.Conn, error) {
		return dial(ctx, t.wsURL(fmt.Sprint("relay-", i), "", true))
	})
	if err != nil {
		return nil, err
	}
	defer closeAll(conns)
	tally := &relayTally{first: &Samples{}}
	var cpu *cpuMeter
	r := newResult("relay", t.Name)
	window := func() func() {
		cpu = startCPU(t.PID)
		return func() { cpu.stop(r, cfg.Duration, 0) }
	}
	measure(ctx, cfg.Replies, cfg.Warmup, cfg.Duration, window, func(ctx context.Context, i int, counted func() bool) {
		c := conns[i]
		stop := context.AfterFunc(ctx, func() { _ = c.SetReadDeadline(time.Now()) })
		defer stop()
		for ctx.Err() == nil {
			if err := relayOnce(c, i, counted, tally); err != nil {
				if ctx.Err() == nil {
					tally.fail(err)
				}
				return
			}
		}
	})
	out := tally.result("relay", t.Name, cfg.Duration)
	for k, v := range r.Metrics {
		out.Set(k, v)
	}
	if pct, ok := out.Metrics["server_cpu_pct"]; ok && tally.deltas.Load() > 0 {
		// The server's CPU per delta delivered to a socket.
		out.Set("server_cpu_us_per_op", pct/100*cfg.Duration.Seconds()*1e6/float64(tally.deltas.Load()))
	}
	return out, nil
}

// relayOnce sends one message and reads its reply's events.
func relayOnce(c *websocket.Conn, i int, counted func() bool, tally *relayTally) error {
	sent, timed := time.Now(), counted()
	frame := fmt.Sprintf(`{"id":"r%d","method":"SendMessage","request":{"text":"go"}}`, i)
	if err := c.WriteMessage(websocket.TextMessage, []byte(frame)); err != nil {
		return err
	}
	first, replied, answered := true, false, false
	var fr frameReader
	for !(replied && answered) {
		data, err := fr.next(c)
		if err != nil {
			return err
		}
		switch {
		case strings.Contains(string(data), `"textDelta"`):
			if first && timed {
				tally.first.Add(time.Since(sent))
			}
			first = false
			if counted() {
				tally.deltas.Add(1)
			}
		case strings.HasPrefix(string(data), `{"id"`):
			answered = true
			if strings.Contains(string(data), `"error"`) {
				return fmt.Errorf("SendMessage: %s", data)
			}
		case strings.Contains(string(data), `"ROLE_ASSISTANT"`), strings.Contains(string(data), `"runError"`):
			replied = true
		}
	}
	if counted() {
		tally.replies.Add(1)
	}
	return nil
}

// RelayDirect reads the upstream with openai-go, Replies streams at once:
// what an application that called the model itself would get.
func RelayDirect(ctx context.Context, baseURL string, cfg RelayConfig) (*Result, error) {
	cfg = cfg.withDefaults()
	client := sdk.NewChatCompletionService(option.WithBaseURL(baseURL), option.WithMaxRetries(0),
		option.WithHTTPClient(upstreamhttp.NewClient()))
	params := sdk.ChatCompletionNewParams{Model: "bench", Messages: []sdk.ChatCompletionMessageParamUnion{sdk.UserMessage("go")}}
	tally := &relayTally{first: &Samples{}}
	nothing := func() func() { return func() {} }
	measure(ctx, cfg.Replies, cfg.Warmup, cfg.Duration, nothing, func(ctx context.Context, _ int, counted func() bool) {
		for ctx.Err() == nil {
			sent, timed := time.Now(), counted()
			stream := client.NewStreaming(ctx, params)
			first := true
			for stream.Next() {
				ch := stream.Current()
				if len(ch.Choices) == 0 || ch.Choices[0].Delta.Content == "" {
					continue
				}
				if first && timed {
					tally.first.Add(time.Since(sent))
				}
				first = false
				if counted() {
					tally.deltas.Add(1)
				}
			}
			err := stream.Err()
			_ = stream.Close()
			if err != nil {
				if ctx.Err() == nil {
					tally.fail(err)
				}
				return
			}
			if counted() {
				tally.replies.Add(1)
			}
		}
	})
	return tally.result("relay", Direct, cfg.Duration), nil
}
