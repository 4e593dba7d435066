package metrics

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/agentgate/agentgate/tool/mcp"
)

// scrape returns m's metrics as /metrics serves them.
func scrape(m *Metrics) string {
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	return rec.Body.String()
}

func TestMCPObserver(t *testing.T) {
	t.Parallel()
	m := New("test", "memory")
	o := m.Tools.MCP()
	o.Called(mcp.Call{Server: "files", Tool: "read", Outcome: mcp.OK, Duration: 30 * time.Millisecond})
	o.Called(mcp.Call{Server: "files", Tool: "read", Outcome: mcp.Timeout, Duration: time.Second})
	o.Called(mcp.Call{Server: "files", Tool: "read", Outcome: mcp.OK, Duration: 10 * time.Millisecond})
	o.Changed(mcp.Status{Name: "files", State: mcp.Ready, Tools: 7})
	o.Changed(mcp.Status{Name: "notes", State: mcp.Ready, Tools: 2})
	o.Changed(mcp.Status{Name: "notes", State: mcp.Down, Reason: "unreachable"})
	got := scrape(m)
	for _, want := range []string{
		`agentgate_tool_calls_total{outcome="ok",server="files",tool="read"} 2`,
		`agentgate_tool_calls_total{outcome="timeout",server="files",tool="read"} 1`,
		`agentgate_tool_call_duration_seconds_count{server="files",tool="read"} 3`,
		`agentgate_tool_call_duration_seconds_sum{server="files",tool="read"} 1.04`,
		`agentgate_tool_call_duration_seconds_bucket{server="files",tool="read",le="0.01"} 1`,
		`agentgate_mcp_server_ready{server="files"} 1`,
		`agentgate_mcp_server_tools{server="files"} 7`,
		`agentgate_mcp_server_ready{server="notes"} 0`,
		`agentgate_mcp_server_tools{server="notes"} 0`,
	} {
		if !strings.Contains(got, want+"\n") {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
