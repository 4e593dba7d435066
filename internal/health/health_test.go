package health

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestReadinessBody: the body has the status, the components and each
// detail under its own key, ready or draining; without them, the status
// alone.
func TestReadinessBody(t *testing.T) {
	t.Parallel()
	type server struct {
		Name  string `json:"name"`
		State string `json:"state"`
	}
	s := New(Config{
		Components: map[string]func() string{"jwks": func() string { return "ok" }},
		Details: map[string]func() any{
			"mcp_servers": func() any { return []server{{"files", "ready"}, {"search", "down"}} },
		},
	})
	for _, tc := range []struct {
		drain bool
		code  int
		body  string
	}{
		{false, 200, `{"status":"ok","components":{"jwks":"ok"},"mcp_servers":[{"name":"files","state":"ready"},{"name":"search","state":"down"}]}`},
		{true, 503, `{"status":"unavailable","reason":"draining","components":{"jwks":"ok"},"mcp_servers":[{"name":"files","state":"ready"},{"name":"search","state":"down"}]}`},
	} {
		if tc.drain {
			s.Drain()
		}
		w := httptest.NewRecorder()
		s.Readiness(w, httptest.NewRequest(http.MethodGet, "/health", nil))
		if w.Code != tc.code || strings.TrimSpace(w.Body.String()) != tc.body {
			t.Errorf("draining %v: %d %s\nwant %d %s", tc.drain, w.Code, w.Body, tc.code, tc.body)
		}
	}
	w := httptest.NewRecorder()
	New(Config{}).Readiness(w, httptest.NewRequest(http.MethodGet, "/health", nil))
	if got := strings.TrimSpace(w.Body.String()); got != `{"status":"ok"}` {
		t.Errorf("without components or details: %s", got)
	}
}
