package bench

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

func TestReplyID(t *testing.T) {
	t.Parallel()
	tests := []struct {
		msg string
		id  uint32
		ok  bool
	}{
		{`{"id":3,"publish":{}}`, 3, true},
		{`{"id":12}`, 12, true},
		{`{"error":{"code":103},"id":7}`, 7, true}, // id not first: decoded in full
		{`{"push":{"channel":"bench:a","pub":{"data":{"id":5}}}}`, 0, false},
		{`{}`, 0, false},
		{`{"id":0,"connect":{}}`, 0, false},
		{`not json`, 0, false},
	}
	for _, tt := range tests {
		id, ok := replyID([]byte(tt.msg))
		if id != tt.id || ok != tt.ok {
			t.Errorf("replyID(%s) = %d, %v; want %d, %v", tt.msg, id, ok, tt.id, tt.ok)
		}
	}
}

func TestAppendPublish(t *testing.T) {
	t.Parallel()
	got := string(appendPublish(nil, 9, `bench:a"b`, []byte(`{"text":"x"}`)))
	want := `{"id":9,"publish":{"channel":"bench:a\"b","data":{"text":"x"}}}`
	if got != want {
		t.Errorf("appendPublish = %s, want %s", got, want)
	}
}

// openFake connects a socket to the fake and subscribes it to channel name
// (none when empty).
func openFake(t *testing.T, f *fakeCentrifugo, name string) *websocket.Conn {
	t.Helper()
	c, err := f.target().open(context.Background(), name, "", name != "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// TestCentrifugoBatchedFrame reads a frame that holds a ping, the socket's
// own publication and the publish reply, one per line: the reader answers
// the ping, returns the push and the reply as messages of their own, and
// the push's data is the fan-out's marker.
func TestCentrifugoBatchedFrame(t *testing.T) {
	t.Parallel()
	f := startFakeCentrifugo(t, true)
	c := openFake(t, f, "a")
	m := msgReader{c: c, centrifugo: true, pong: true}
	if err := c.WriteMessage(websocket.TextMessage, appendPublish(nil, 3, centrifugoChannel("a"), []byte(`{"text":"m5t42"}`))); err != nil {
		t.Fatal(err)
	}
	push, err := m.next()
	if err != nil {
		t.Fatal(err)
	}
	if seq, sent, ok := parseMarker(push); !ok || seq != 5 || sent != 42 {
		t.Errorf("push %s: marker %d, %d, %v; want 5, 42", push, seq, sent, ok)
	}
	if _, ok := replyID(push); ok {
		t.Errorf("push %s taken for a reply", push)
	}
	reply, err := m.next()
	if err != nil {
		t.Fatal(err)
	}
	if id, ok := replyID(reply); !ok || id != 3 {
		t.Errorf("reply %s: id %d, %v; want 3", reply, id, ok)
	}
	// The fake handles a socket's commands in order: once the second
	// publish is answered, the pong sent before it has been counted. The
	// second ping came with that answer, and await answers it before it
	// returns, so its pong may or may not have been counted yet.
	if err := c.WriteMessage(websocket.TextMessage, appendPublish(nil, 4, centrifugoChannel("a"), []byte(`{}`))); err != nil {
		t.Fatal(err)
	}
	if err := m.await(4); err != nil {
		t.Fatal(err)
	}
	if pings, pongs := f.pings.Load(), f.pongs.Load(); pings != 2 || pongs < 1 || pongs > pings {
		t.Errorf("pings %d, pongs %d; want 2 pings and 1 or 2 pongs (the first ping answered)", pings, pongs)
	}
}

func TestCentrifugoErrorReply(t *testing.T) {
	t.Parallel()
	f := startFakeCentrifugo(t, false)
	c := openFake(t, f, "")
	m := msgReader{c: c, centrifugo: true, pong: true}
	if err := c.WriteMessage(websocket.TextMessage, appendPublish(nil, 3, centrifugoChannel("denied"), []byte(`{}`))); err != nil {
		t.Fatal(err)
	}
	if err := m.await(3); err == nil || !strings.Contains(err.Error(), `"code":103`) {
		t.Errorf("await of a refused publish: %v, want the error reply", err)
	}
}

// TestCentrifugoModes runs the socket modes against the fake, as they run
// against Centrifugo: the same load code, Centrifugo's protocol.
func TestCentrifugoModes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, subscribe := range []bool{false, true} {
		f := startFakeCentrifugo(t, true)
		r, err := WSRTT(ctx, f.target(), WSRTTConfig{Conns: 3, Warmup: -1, Duration: 200 * time.Millisecond, Subscribe: subscribe})
		if err != nil {
			t.Fatal(err)
		}
		if r.Errors != 0 || !(r.Metrics["rtt_per_s"] > 0) {
			t.Errorf("ws-rtt, subscribe %v: %d errors %v, rtt_per_s %v", subscribe, r.Errors, r.Notes, r.Metrics["rtt_per_s"])
		}
	}

	f := startFakeCentrifugo(t, false)
	r, err := WSFanout(ctx, f.target(), WSFanoutConfig{Conns: 5, Messages: 20, Duration: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if r.Errors != 0 {
		t.Errorf("ws-fanout: %d errors %v", r.Errors, r.Notes)
	}
	// Every message reached every socket, and the run ended on the count.
	if per := r.Metrics["deliveries_per_s"] / r.Metrics["messages_per_s"]; math.Abs(per-5) > 1e-9 {
		t.Errorf("ws-fanout: %v deliveries per message, want 5", per)
	}

	tg := f.target()
	tg.PID = os.Getpid() // the fake's RSS is this process's
	r, err = WSIdle(ctx, tg, WSIdleConfig{Conns: 20, Settle: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if r.Errors != 0 || r.Metrics["open"] != 20 {
		t.Errorf("ws-idle: %d errors %v, %v open", r.Errors, r.Notes, r.Metrics["open"])
	}
}

func TestCentrifugoCommand(t *testing.T) {
	t.Parallel()
	for _, redisURL := range []string{"", "redis://127.0.0.1:16399"} {
		dir := t.TempDir()
		c, err := CentrifugoCommand("/bin/centrifugo", dir, redisURL)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, "centrifugo.json")
		if redisURL != "" {
			path = filepath.Join(dir, "centrifugo-redis.json")
		}
		if c.Path != "/bin/centrifugo" || !slices.Equal(c.Args, []string{"--config", path}) || c.PortEnv != centrifugoPortEnv {
			t.Errorf("command = %+v", c)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var cfg struct {
			Engine struct {
				Type  string
				Redis struct{ Address []string }
			}
			Client  struct{ Insecure bool }
			Channel struct {
				Namespaces []struct {
					Name                  string
					HistorySize           int    `json:"history_size"`
					HistoryTTL            string `json:"history_ttl"`
					ForceRecovery         bool   `json:"force_recovery"`
					AllowPublishForClient bool   `json:"allow_publish_for_client"`
				}
			}
			UsageStats struct{ Disabled bool } `json:"usage_stats"`
		}
		if err := json.Unmarshal(data, &cfg); err != nil {
			t.Fatal(err)
		}
		ns := cfg.Channel.Namespaces
		if !cfg.Client.Insecure || !cfg.UsageStats.Disabled || len(ns) != 1 ||
			ns[0].Name != CentrifugoNamespace || ns[0].HistorySize != 1000 || ns[0].HistoryTTL != "300s" || !ns[0].ForceRecovery || !ns[0].AllowPublishForClient {
			t.Errorf("config:\n%s", data)
		}
		switch {
		case redisURL == "" && (cfg.Engine.Type != "memory" || cfg.Engine.Redis.Address != nil):
			t.Errorf("engine without a Redis URL:\n%s", data)
		case redisURL != "" && (cfg.Engine.Type != "redis" || !slices.Equal(cfg.Engine.Redis.Address, []string{redisURL})):
			t.Errorf("engine on %s:\n%s", redisURL, data)
		}
	}
}

func TestCheckCentrifugo(t *testing.T) {
	t.Parallel()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckCentrifugo(self); err == nil || !strings.Contains(err.Error(), "not Centrifugo") {
		t.Errorf("CheckCentrifugo(test binary) = %v, want not Centrifugo", err)
	}
}

func TestWithPeers(t *testing.T) {
	t.Parallel()
	got := withPeers([]string{"ws-rtt", "rpc", "ws-idle", "ws-idle/centrifugo"}, false)
	want := []string{"ws-rtt", "ws-rtt/centrifugo", "ws-rtt-sub/centrifugo", "rpc", "ws-idle", "ws-idle/centrifugo"}
	if !slices.Equal(got, want) {
		t.Errorf("withPeers = %v, want %v", got, want)
	}
	got = withPeers([]string{"ws-rtt", "ws-idle", "ws-fanout-whole"}, true)
	want = []string{"ws-rtt", "ws-rtt/centrifugo", "ws-rtt-sub/centrifugo", "ws-rtt/centrifugo+redis", "ws-rtt-sub/centrifugo+redis",
		"ws-idle", "ws-idle/centrifugo", "ws-fanout-whole", "ws-fanout-whole/centrifugo", "ws-fanout-whole/centrifugo+redis"}
	if !slices.Equal(got, want) {
		t.Errorf("withPeers with Redis = %v, want %v", got, want)
	}
}

// TestPeerModes checks which servers each comparison with Centrifugo runs
// and the targets it carries: both on memory, or both on Redis.
func TestPeerModes(t *testing.T) {
	t.Parallel()
	s := &Setup{}
	tests := []struct {
		name, a, b string
		checks     []Check
	}{
		{"ws-rtt/centrifugo", Gateway, Centrifugo, []Check{{Metric: "server_cpu_us_per_op", Ratio: true, AtMost: true, Limit: 2}}},
		{"ws-rtt-sub/centrifugo", Gateway, Centrifugo, []Check{{Metric: "server_cpu_us_per_op", Ratio: true, AtMost: true, Limit: 2.5}}},
		{"ws-fanout-whole/centrifugo", Gateway, Centrifugo, []Check{{Metric: "deliveries_per_s", Ratio: true, Limit: 1}, {Metric: "p99_ms", Ratio: true, AtMost: true, Limit: 1}}},
		{"ws-fanout/centrifugo", Gateway, Centrifugo, []Check{{Metric: "deliveries_per_s", Ratio: true, Limit: 0.9}, {Metric: "p99_ms", Ratio: true, AtMost: true, Limit: 1.1}}},
		{"ws-rtt/centrifugo+redis", GatewayRedis, CentrifugoRedis, []Check{{Metric: "server_cpu_us_per_op", Ratio: true, AtMost: true, Limit: 3}}},
		{"ws-rtt-sub/centrifugo+redis", GatewayRedis, CentrifugoRedis, nil},
		{"ws-fanout-whole/centrifugo+redis", GatewayRedis, CentrifugoRedis, []Check{{Metric: "deliveries_per_s", Ratio: true, Limit: 0.8}, {Metric: "p99_ms", Ratio: true, AtMost: true, Limit: 1.25}}},
		{"ws-fanout-whole-batch/centrifugo", Gateway, Centrifugo, []Check{{Metric: "deliveries_per_s", Ratio: true, Limit: 1}, {Metric: "p99_ms", Ratio: true, AtMost: true, Limit: 1}}},
		{"ws-fanout-whole-batch/centrifugo+redis", GatewayRedis, CentrifugoRedis, []Check{{Metric: "deliveries_per_s", Ratio: true, Limit: 0.8}, {Metric: "p99_ms", Ratio: true, AtMost: true, Limit: 1.25}}},
		{"ws-fanout/centrifugo+redis", GatewayRedis, CentrifugoRedis, nil},
	}
	for _, tt := range tests {
		modes, err := s.Modes(Plan{}, []string{tt.name})
		if err != nil {
			t.Fatal(err)
		}
		m := modes[0]
		if m.Name != tt.name || m.A != tt.a || m.B != tt.b || !slices.Equal(m.Checks, tt.checks) {
			t.Errorf("%s: %s against %s, checks %v; want %s against %s, checks %v", tt.name, m.A, m.B, m.Checks, tt.a, tt.b, tt.checks)
		}
	}
	// -on-redis puts both sides of every comparison on Redis.
	modes, err := s.Modes(Plan{OnRedis: true}, []string{"ws-rtt/centrifugo", "ws-rtt"})
	if err != nil {
		t.Fatal(err)
	}
	if modes[0].A != GatewayRedis || modes[0].B != CentrifugoRedis || modes[1].A != GatewayRedis || modes[1].B != Bare {
		t.Errorf("on Redis: %s against %s, %s against %s", modes[0].A, modes[0].B, modes[1].A, modes[1].B)
	}
	for _, bad := range []string{"ws-idle/centrifugo+redis", "ws-rtt/nats", "rpc/centrifugo"} {
		if _, err := s.Modes(Plan{}, []string{bad}); err == nil {
			t.Errorf("mode %q was accepted", bad)
		}
	}
}
