package bridge

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/agentgate/agentgate/internal/agent"
	"github.com/agentgate/agentgate/internal/api"
	"github.com/agentgate/agentgate/internal/edge"
	"github.com/agentgate/agentgate/internal/engine"
	"github.com/agentgate/agentgate/internal/identity"
	"github.com/agentgate/agentgate/internal/metrics"
)

// refusals is agentgate_refusals_total of reason at door websocket.
func refusals(t *testing.T, m *metrics.Metrics, reason string) float64 {
	t.Helper()
	families, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	n := 0.0
	for _, mf := range families {
		for _, mt := range mf.GetMetric() {
			labels := map[string]string{}
			for _, lp := range mt.GetLabel() {
				labels[lp.GetName()] = lp.GetValue()
			}
			if mf.GetName() == "agentgate_refusals_total" && labels["reason"] == reason && labels["door"] == "websocket" {
				n += mt.GetCounter().GetValue()
			}
		}
	}
	return n
}

// aliceOnly knows one token, alice's.
type aliceOnly struct{}

func (aliceOnly) Verify(_ context.Context, token string) (identity.Identity, error) {
	if token == "alice-token" {
		return identity.Identity{Kind: identity.KindUser, Subject: "alice", Agents: []string{"alice:*"}, Perms: identity.Read | identity.Write}, nil
	}
	return identity.Identity{}, identity.ErrInvalid
}

// TestUpgradeRefusalsGoThroughTheEdge: what the bridge refuses before the
// upgrade for reasons of its own (an agent id or a query that is not
// valid, a request that is no upgrade, a handshake gorilla/websocket
// refuses, a server that drains) is answered as ever, and observed by the
// edge like its own refusals: counted by reason at door websocket, and
// logged with the caller, the reason, the status and what was wrong.
func TestUpgradeRefusalsGoThroughTheEdge(t *testing.T) {
	t.Parallel()
	logs := &bytes.Buffer{} // every refusal below is served by this goroutine
	m := metrics.New("test", "memory")
	p := edge.New(edge.Config{Verifiers: []edge.Verifier{aliceOnly{}}, Metrics: m, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	eng := engine.NewMemory(engine.Config{})
	svc := agent.New(agent.Config{Engine: eng, Logger: slog.New(slog.DiscardHandler)})
	t.Cleanup(func() {
		svc.Close()
		_ = eng.Close()
	})
	b, err := New(Config{Service: agentService(), Methods: api.New(api.Config{Service: svc}).Methods(), Edge: p, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /ws/agent/{agent_id}", b)
	upgrade := http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"}, "Sec-Websocket-Version": {"13"}}
	serve := func(path string, h http.Header) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		for k, v := range h {
			req.Header[k] = v
		}
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		return rec
	}
	type answer struct{ Code, Message string }
	for _, tc := range []struct {
		reason, path string
		h            http.Header
		status       int
		code, says   string
	}{
		{"bad_agent_id", "/ws/agent/a%20b?access_token=alice-token", upgrade, 400, "invalid_argument", "has a character outside"},
		{"bad_query", "/ws/agent/alice:1?access_token=alice-token&after_seq=x", upgrade, 400, "invalid_argument", "after_seq"},
		{"not_websocket", "/ws/agent/alice:1?access_token=alice-token", nil, 426, "invalid_argument", "this endpoint is a WebSocket"},
		{"bad_handshake", "/ws/agent/alice:1?access_token=alice-token&subscribe=false", upgrade, 400, "invalid_argument", "Sec-WebSocket-Key"},
	} {
		rec := serve(tc.path, tc.h)
		var a answer
		_ = json.Unmarshal(rec.Body.Bytes(), &a)
		if rec.Code != tc.status || a.Code != tc.code || !strings.Contains(a.Message, tc.says) {
			t.Errorf("%s: %d %s, want %d %s saying %q", tc.reason, rec.Code, rec.Body, tc.status, tc.code, tc.says)
		}
		if n := refusals(t, m, tc.reason); n != 1 {
			t.Errorf("%s: counted %v times, want once", tc.reason, n)
		}
		if !strings.Contains(logs.String(), `msg="websocket refused" reason=`+tc.reason+" subject=alice path=") {
			t.Errorf("%s: not logged with the subject:\n%s", tc.reason, logs)
		}
	}
	if got := serve("/ws/agent/alice:1?access_token=alice-token", nil).Header().Get("Upgrade"); got != "websocket" {
		t.Errorf("426 without Upgrade: websocket (%q)", got)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b.Drain(ctx) // no socket: at once
	upgrade.Set("Sec-Websocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	rec := serve("/ws/agent/alice:1?access_token=alice-token", upgrade)
	var a answer
	_ = json.Unmarshal(rec.Body.Bytes(), &a)
	if rec.Code != 503 || a.Code != "unavailable" || a.Message != "the server is shutting down; reconnect" {
		t.Errorf("while draining: %d %s, want 503 unavailable", rec.Code, rec.Body)
	}
	if n := refusals(t, m, "draining"); n != 1 {
		t.Errorf("draining: counted %v times, want once", n)
	}
	for _, want := range []string{"reason=bad_agent_id subject=alice", "status=400 detail=\"agent_id \\\"a b\\\" has a character outside", "reason=draining subject=alice", "status=503"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("the logs lack %q:\n%s", want, logs)
		}
	}
}
