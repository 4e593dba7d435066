package app_test

import (
	"bufio"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/agentgate/agentgate/gen/agent/v1/agentv1connect"
	"github.com/agentgate/agentgate/internal/app"
	"github.com/agentgate/agentgate/internal/apptest"
)

// TestLogDurationsHaveOneUnit runs a gateway through a Connect call, a
// WebSocket session, a door request, a refused request and a drain, and
// checks every line it logged: each duration is a number of milliseconds
// under a key ending in _ms, never slog's integer nanoseconds or a Go
// duration string.
func TestLogDurationsHaveOneUnit(t *testing.T) {
	t.Parallel()
	var logs apptest.LogBuffer
	srv := apptest.Start(t, map[string]string{"SHUTDOWN_TIMEOUT": "5s"}, func(o *app.Options) {
		o.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	ctx := testCtx(t)
	c := agentv1connect.NewAgentServiceClient(httpClient(t, false), srv.URL)
	send(ctx, t, c, "units", "hello")
	if _, err := c.GetAgent(ctx, connect.NewRequest(&agentv1.GetAgentRequest{AgentId: "no such agent"})); err == nil {
		t.Fatal("GetAgent of an invalid id succeeded")
	}
	ws, _ := dial(t, wsURL(srv, "units", ""), nil)
	roundTrip(t, ws, "c1", "over the socket")
	ws.Close()
	res, err := httpClient(t, false).Post(srv.URL+"/agui/units", "application/json",
		strings.NewReader(`{"threadId":"units","runId":"r1","messages":[{"id":"m1","role":"user","content":"door"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("AG-UI door: %d", res.StatusCode)
	}
	// The socket's own line is written when the server sees it close.
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(logs.String(), `"msg":"websocket"`) {
		if time.Now().After(deadline) {
			t.Fatal("no websocket line within 10 s of the close")
		}
		time.Sleep(10 * time.Millisecond) // a bounded poll of the log
	}
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}

	seen := map[string]bool{}
	lines := bufio.NewScanner(strings.NewReader(logs.String()))
	for lines.Scan() {
		var rec map[string]any
		if err := json.Unmarshal(lines.Bytes(), &rec); err != nil {
			t.Fatalf("a log line is not JSON: %q", lines.Text())
		}
		checkDurations(t, rec, lines.Text(), seen)
	}
	for _, key := range []string{"duration_ms", "timeout_ms"} {
		if !seen[key] {
			t.Errorf("no line had %s; keys with _ms seen: %v", key, seen)
		}
	}
}

// checkDurations fails for any value of rec, groups included, that looks
// like a duration in another shape than a number under a key ending _ms.
func checkDurations(t *testing.T, rec map[string]any, line string, seen map[string]bool) {
	t.Helper()
	for k, v := range rec {
		switch v := v.(type) {
		case map[string]any:
			checkDurations(t, v, line, seen)
		case string:
			if d, err := time.ParseDuration(v); err == nil && d != 0 && k != "time" {
				t.Errorf("%s=%q is a duration string: %s", k, v, line)
			}
		case float64:
			if strings.HasSuffix(k, "_ms") {
				seen[k] = true
			} else if looksLikeDuration(k) {
				t.Errorf("%s=%v: a duration must be in milliseconds under a key ending _ms: %s", k, v, line)
			}
		}
		if strings.HasSuffix(k, "_ms") {
			if _, ok := v.(float64); !ok {
				t.Errorf("%s=%v is not a number: %s", k, v, line)
			}
		}
	}
}

func looksLikeDuration(key string) bool {
	for _, w := range []string{"duration", "wait", "timeout", "delay", "elapsed", "latency", "took"} {
		if strings.Contains(key, w) {
			return true
		}
	}
	return false
}
