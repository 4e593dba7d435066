package agui

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agentgate/agentgate/internal/nodetest"
	"github.com/agentgate/agentgate/responder"
)

// upstreamDir holds the Node AG-UI agent the wire tests talk to.
var upstreamDir = filepath.Join("testdata", "upstream")

// upstream is a running testdata/upstream/server.mjs.
type upstream struct {
	base   string
	client *http.Client
}

// startUpstream starts the Node agent on a free loopback port and stops it
// when the test ends. Without Node or the agent's packages the test is
// skipped, except in CI, where a skipped wire test would hide a broken
// setup.
func startUpstream(t *testing.T) *upstream {
	t.Helper()
	line := nodetest.Start(t, upstreamDir, "@ag-ui/encoder", "server.mjs")
	port, ok := strings.CutPrefix(line, "listening ")
	if !ok {
		t.Fatalf("the upstream did not start: first line %q", line)
	}
	transport := &http.Transport{}
	t.Cleanup(transport.CloseIdleConnections)
	return &upstream{base: "http://127.0.0.1:" + port, client: &http.Client{Transport: transport}}
}

// responder returns a Responder for scenario, with cfg's other fields.
func (u *upstream) responder(t *testing.T, scenario string, cfg Config) *Responder {
	t.Helper()
	cfg.URL = u.base + "/" + scenario
	cfg.HTTPClient = u.client
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t)
	}
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// recorded is what the upstream received for one run.
type recorded struct {
	Headers struct {
		Accept        *string `json:"accept"`
		Authorization *string `json:"authorization"`
		ContentType   *string `json:"contentType"`
	} `json:"headers"`
	Body   json.RawMessage `json:"body"`
	Valid  bool            `json:"valid"`
	Issues json.RawMessage `json:"issues"`
}

// recorded returns what the upstream received for runID.
func (u *upstream) recorded(t *testing.T, runID string) recorded {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, u.base+"/recorded/"+runID, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := u.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var rec recorded
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /recorded/%s: %s", runID, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&rec); err != nil {
		t.Fatal(err)
	}
	return rec
}

// request is a one-message request with a run id unique to the test, so
// that parallel tests can read their own recorded input.
func request(t *testing.T) responder.Request {
	return responder.Request{
		AgentID: "agent-1",
		RunID:   strings.NewReplacer("/", "-", " ", "_").Replace(t.Name()),
		Seq:     1,
		Message: responder.Message{ID: "u1", Role: responder.RoleUser, Text: "hi"},
	}
}

func respond(t *testing.T, r *Responder, req responder.Request, out responder.Stream) (responder.Result, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	return r.Respond(ctx, req, out)
}
