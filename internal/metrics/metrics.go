// Package metrics exposes the gateway's Prometheus metrics. Each server has
// its own registry (no global state), so tests can run several servers in
// one process and read each one's numbers.
//
// The metrics are counted where the work passes. The edge (package edge),
// which every way in goes through, counts and times every call by
// procedure and door (Metrics.ObserveRPC), the sockets, their frames and
// the doors' requests, and its refusals by reason and door
// (Metrics.Refused); an engine wrapper (Metrics.Engine) counts the events
// written and the store operations that failed; server tools' calls and MCP
// servers' states come through an mcp.Observer (ToolMetrics.MCP). Handler
// serves them all on
// /metrics.
package metrics

import (
	"context"
	"errors"
	"net/http"
	"runtime"
	"strconv"
	"time"

	"connectrpc.com/connect"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics holds the collectors. Its methods are safe for concurrent use.
type Metrics struct {
	reg *prometheus.Registry

	WSOpen      prometheus.Gauge
	WSOpened    prometheus.Counter
	WSClosed    *prometheus.CounterVec // by close code
	WSFrames    *prometheus.CounterVec // by direction: in, out
	WSOverflows prometheus.Counter

	RPCs        *prometheus.CounterVec   // by procedure, code, door
	RPCDuration *prometheus.HistogramVec // by procedure, door
	RPCInFlight prometheus.Gauge

	DoorRequests *prometheus.CounterVec   // by door (agui, aisdk), outcome
	DoorDuration *prometheus.HistogramVec // by door
	DoorStreams  *prometheus.GaugeVec     // by door

	Events       *prometheus.CounterVec // by kind: user, reply, ephemeral
	EngineErrors *prometheus.CounterVec // by op
	Refusals     *prometheus.CounterVec // by reason, door

	Tools *ToolMetrics
}

// New registers the collectors, the Go runtime and process collectors, and
// agentgate_build_info.
func New(version, engine string) *Metrics {
	reg := prometheus.NewRegistry()
	f := func(c prometheus.Collector) { reg.MustRegister(c) }
	m := &Metrics{reg: reg}

	m.WSOpen = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "agentgate_websockets_open", Help: "WebSocket connections open now."})
	m.WSOpened = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "agentgate_websockets_opened_total", Help: "WebSocket connections accepted."})
	m.WSClosed = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "agentgate_websockets_closed_total", Help: "WebSocket connections closed, by close code."}, []string{"code"})
	m.WSFrames = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "agentgate_websocket_frames_total", Help: "WebSocket frames, by direction (in, out)."}, []string{"direction"})
	m.WSOverflows = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "agentgate_websocket_queue_overflows_total", Help: "WebSockets closed with 1013 because their send queue overflowed."})
	m.RPCs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "agentgate_rpcs_total", Help: "RPCs finished, by procedure, Connect code and door (connect, grpc, grpcweb, websocket)."}, []string{"procedure", "code", "door"})
	m.RPCDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "agentgate_rpc_duration_seconds",
		Help:    "RPC latency, by procedure and door; streams count until they end.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
	}, []string{"procedure", "door"})
	m.RPCInFlight = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "agentgate_rpcs_in_flight", Help: "RPCs and streams running now."})
	m.DoorRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "agentgate_door_requests_total", Help: "Requests of the frontend doors, by door (agui, aisdk) and outcome."}, []string{"door", "outcome"})
	m.DoorDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "agentgate_door_request_duration_seconds",
		Help:    "How long frontend door requests take, by door; a stream counts until it ends.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120},
	}, []string{"door"})
	m.DoorStreams = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "agentgate_door_streams_open", Help: "Frontend door streams open now, by door."}, []string{"door"})
	m.Events = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "agentgate_events_total", Help: "Agent events written by this replica, by kind (user, reply, tool, ephemeral)."}, []string{"kind"})
	m.EngineErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "agentgate_engine_errors_total", Help: "Failed engine operations, by operation."}, []string{"op"})
	m.Refusals = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "agentgate_refusals_total", Help: "Requests, calls and frames refused at the edge, by reason and door."}, []string{"reason", "door"})
	build := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "agentgate_build_info",
		Help:        "Always 1; the labels describe the build.",
		ConstLabels: prometheus.Labels{"version": version, "goversion": runtime.Version(), "engine": engine},
	})
	build.Set(1)

	for _, c := range []prometheus.Collector{
		m.WSOpen, m.WSOpened, m.WSClosed, m.WSFrames, m.WSOverflows,
		m.RPCs, m.RPCDuration, m.RPCInFlight, m.DoorRequests, m.DoorDuration, m.DoorStreams, m.Events, m.EngineErrors, m.Refusals, build,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	} {
		f(c)
	}
	m.Tools = newToolMetrics(reg)
	return m
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Registry is the registry, for tests that read values.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Refused counts a refusal at door; reason is a short stable word such as
// "unauthenticated" or "origin". The per-user limits count theirs under
// the reason of their *userlimit.Exceeded: "user_message_rate" and
// "user_max_connections".
func (m *Metrics) Refused(reason, door string) {
	if m != nil {
		m.Refusals.WithLabelValues(reason, door).Inc()
	}
}

// ObserveRPC counts a finished call of procedure at door, with the code it
// ended with (CodeName), and times it.
func (m *Metrics) ObserveRPC(procedure, door, code string, d time.Duration) {
	if m != nil {
		m.RPCs.WithLabelValues(procedure, code, door).Inc()
		m.RPCDuration.WithLabelValues(procedure, door).Observe(d.Seconds())
	}
}

// CodeName is the Connect code of err in snake_case, "ok" for nil.
func CodeName(err error) string {
	if err == nil {
		return "ok"
	}
	var ce *connect.Error
	if errors.As(err, &ce) {
		return ce.Code().String()
	}
	if errors.Is(err, context.Canceled) {
		return connect.CodeCanceled.String()
	}
	return connect.CodeUnknown.String()
}

// WSClose counts a closed socket by its close code.
func (m *Metrics) WSClose(code int) {
	if m != nil {
		m.WSOpen.Dec()
		m.WSClosed.WithLabelValues(strconv.Itoa(code)).Inc()
	}
}
