package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/agentgate/agentgate/internal/redistest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// get returns the status and body of a GET on the process.
func (p *process) get(t *testing.T, c *http.Client, path string) (int, string) {
	t.Helper()
	res, err := c.Get(p.url() + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(body)
}

// A gateway whose Redis is down at start listens at once: liveness is 200,
// readiness 503 with the reason, calls are unavailable; it turns ready by
// itself when Redis comes up.
func TestRedisDownAtStart(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t)
	rs.Stop()
	began := time.Now()
	p := startListening(t, "REDIS_URL="+rs.URL())
	if d := time.Since(began); d > 5*time.Second {
		t.Fatalf("the server took %s to listen with Redis down", d)
	}
	c := h1Client(t)
	if code, body := p.get(t, c, "/health/live"); code != http.StatusOK {
		t.Fatalf("/health/live with Redis down: %d %s, want 200", code, body)
	}
	code, body := p.get(t, c, "/health")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, `"reason":"starting: redis unreachable"`) {
		t.Fatalf("/health with Redis down: %d %s, want 503 with the reason", code, body)
	}
	conn, err := grpc.NewClient("127.0.0.1:"+p.port, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil || res.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("gRPC health with Redis down: %v %v, want NOT_SERVING", res, err)
	}
	api := p.client(t)
	_, err = api.SendMessage(ctx, connect.NewRequest(&agentv1.SendMessageRequest{AgentId: "early", Text: "hi"}))
	if connect.CodeOf(err) != connect.CodeUnavailable {
		t.Fatalf("SendMessage with Redis down: %v, want unavailable", err)
	}

	rs.Restart()
	deadline := time.Now().Add(20 * time.Second) // the connect backoff is capped at 5 s
	for {
		code, body := p.get(t, c, "/health")
		if code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/health still %d %s 20 s after Redis came up", code, body)
		}
		time.Sleep(50 * time.Millisecond) // a bounded poll of a probe
	}
	if _, err := api.SendMessage(ctx, connect.NewRequest(&agentv1.SendMessageRequest{AgentId: "early", Text: "hi"})); err != nil {
		t.Fatalf("SendMessage once Redis is up: %v", err)
	}
}

// The start line names what answers the agents, where it is, and the
// doors, and never a credential.
func TestStartLineSaysWhatRuns(t *testing.T) {
	t.Parallel()
	p := start(t, "RESPONDER=openai", "OPENAI_MODEL=gpt-4o-mini", "OPENAI_API_KEY=sk-do-not-print",
		"OPENAI_BASE_URL=http://user:pw-do-not-print@127.0.0.1:9/v1?api-key=do-not-print")
	want := map[string]any{"responder": "openai", "model": "gpt-4o-mini", "upstream": "127.0.0.1:9",
		"engine": "memory", "doors": "connect,websocket,agui,aisdk,console"}
	for k, v := range want {
		if p.startLine[k] != v {
			t.Errorf("start line %s = %v, want %v (line %v)", k, p.startLine[k], v, p.startLine)
		}
	}
	line, _ := json.Marshal(p.startLine)
	if strings.Contains(string(line), "do-not-print") {
		t.Fatalf("the start line shows a secret: %s", line)
	}

	p = start(t, "OPENAI_MODEL=gpt-4o-mini", "OPENAI_API_KEY=sk-do-not-print", "CONSOLE_ENABLED=false")
	if p.startLine["responder"] != "echo" || p.startLine["doors"] != "connect,websocket,agui,aisdk" {
		t.Fatalf("start line %v, want responder echo and no console", p.startLine)
	}
	warned := false
	for _, l := range p.early {
		var rec map[string]any
		if json.Unmarshal([]byte(l), &rec) == nil && rec["level"] == "WARN" && strings.Contains(rec["msg"].(string), "RESPONDER=openai") {
			warned = true
		}
		if strings.Contains(l, "do-not-print") {
			t.Fatalf("a start-up line shows the key: %s", l)
		}
	}
	if !warned {
		t.Fatalf("no warning naming RESPONDER=openai among %q", p.early)
	}
}
