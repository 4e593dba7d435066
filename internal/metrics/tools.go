package metrics

import (
	"time"

	"github.com/agentgate/agentgate/tool/mcp"
	"github.com/prometheus/client_golang/prometheus"
)

// ToolMetrics are the metrics of the server tools the gateway runs: calls
// by server, tool and outcome, their durations, and each MCP server's
// state. Their labels are bounded by the configuration: a name the model
// made up is counted with an empty tool.
type ToolMetrics struct {
	Calls       *prometheus.CounterVec   // by server, tool, outcome
	Duration    *prometheus.HistogramVec // by server, tool
	ServerReady *prometheus.GaugeVec     // by server: 1 ready, 0 not
	ServerTools *prometheus.GaugeVec     // by server: tools offered
}

func newToolMetrics(reg *prometheus.Registry) *ToolMetrics {
	t := &ToolMetrics{
		Calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "agentgate_tool_calls_total",
			Help: "Calls of server tools, by server, tool and outcome (ok, tool_error, unknown_tool, bad_arguments, unavailable, timeout, cancelled, rejected, failed).",
		}, []string{"server", "tool", "outcome"}),
		Duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "agentgate_tool_call_duration_seconds",
			Help:    "How long calls of server tools take, by server and tool, whatever their outcome.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120},
		}, []string{"server", "tool"}),
		ServerReady: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "agentgate_mcp_server_ready",
			Help: "1 while an MCP server is connected and its tools are offered, 0 otherwise, by server.",
		}, []string{"server"}),
		ServerTools: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "agentgate_mcp_server_tools",
			Help: "Tools an MCP server offers now, by server.",
		}, []string{"server"}),
	}
	reg.MustRegister(t.Calls, t.Duration, t.ServerReady, t.ServerTools)
	return t
}

// ToolCalled counts a call of a server tool.
func (t *ToolMetrics) ToolCalled(server, tool, outcome string, d time.Duration) {
	t.Calls.WithLabelValues(server, tool, outcome).Inc()
	t.Duration.WithLabelValues(server, tool).Observe(d.Seconds())
}

// MCP is the mcp.Observer that keeps these metrics, for mcp.Config.
func (t *ToolMetrics) MCP() mcp.Observer { return mcpObserver{t} }

type mcpObserver struct{ t *ToolMetrics }

func (o mcpObserver) Called(c mcp.Call) {
	o.t.ToolCalled(c.Server, c.Tool, string(c.Outcome), c.Duration)
}

func (o mcpObserver) Changed(s mcp.Status) {
	ready := 0.0
	if s.State == mcp.Ready {
		ready = 1
	}
	o.t.ServerReady.WithLabelValues(s.Name).Set(ready)
	o.t.ServerTools.WithLabelValues(s.Name).Set(float64(s.Tools))
}
