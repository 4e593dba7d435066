// Package health answers the platform's probes: plain HTTP for Railway,
// Kubernetes and load balancers, and the gRPC health protocol for gRPC
// probers. Both report the same readiness: serving while the server accepts
// work, not serving while it drains or its engine is unreachable.
package health

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"
)

// Config configures a State.
type Config struct {
	// Ping reports whether the engine answers. Nil means always.
	Ping func(context.Context) error
	// Reason words a Ping failure for the probes' answer, such as "redis
	// unreachable" or "starting: redis unreachable". It must not reveal
	// more than that (no address, no credential): the cause goes to the
	// log. Default: "engine unavailable" for any failure.
	Reason func(error) string
	// Services are the gRPC service names reported besides "" (the server).
	Services []string
	// Components are states /health's body reports by name, under
	// "components", such as the key set of the JWT verifier: "ok", or what
	// is wrong. They do not change readiness: each is something the server
	// works on without (with less), which a person should see.
	Components map[string]func() string
	// Details are more states /health's body reports, each under its own
	// key beside status (such as "mcp_servers": a list of objects), for
	// what a string cannot say. Like Components, they do not change
	// readiness. Their keys must not be status, reason or components.
	Details map[string]func() any
	// PingTimeout bounds one Ping. Default 1s.
	PingTimeout time.Duration
	// CacheFor is how long a Ping result is reused, so that frequent probes
	// do not each reach the engine. Default 500ms.
	CacheFor time.Duration
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Logger is told when the engine becomes unreachable (with the cause,
	// which probes are not shown) and when it is back. Default slog.Default().
	Logger *slog.Logger
}

// State is the server's readiness. It is safe for concurrent use.
type State struct {
	cfg      Config
	services map[string]bool
	draining chan struct{}
	drain    sync.Once
	unready  atomic.Bool

	mu      sync.Mutex
	checked time.Time
	lastErr error
}

// New returns a State that is ready until Drain is called.
func New(cfg Config) *State {
	if cfg.PingTimeout <= 0 {
		cfg.PingTimeout = time.Second
	}
	if cfg.CacheFor <= 0 {
		cfg.CacheFor = 500 * time.Millisecond
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Reason == nil {
		cfg.Reason = func(error) string { return "engine unavailable" }
	}
	services := map[string]bool{"": true}
	for _, s := range cfg.Services {
		services[s] = true
	}
	return &State{cfg: cfg, services: services, draining: make(chan struct{})}
}

// Unready makes readiness fail from now on, while the server still serves:
// the first step of a shutdown, so that load balancers move traffic away.
func (s *State) Unready() { s.unready.Store(true) }

// Drain marks the server as shutting down: readiness fails and Draining is
// closed, which ends open streams. It is idempotent.
func (s *State) Drain() {
	s.unready.Store(true)
	s.drain.Do(func() { close(s.draining) })
}

// Draining is closed once Drain was called.
func (s *State) Draining() <-chan struct{} { return s.draining }

// Ready reports whether the server accepts work, and if not, why: "draining"
// or Config.Reason's words for the engine's failure.
func (s *State) Ready(ctx context.Context) (reason string, ok bool) {
	if s.unready.Load() {
		return "draining", false
	}
	if s.cfg.Ping == nil {
		return "", true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if now := s.cfg.Now(); now.Sub(s.checked) >= s.cfg.CacheFor {
		// Not the prober's context: one prober giving up must not make the
		// cached answer fail for the others.
		pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.PingTimeout)
		err := s.cfg.Ping(pctx)
		cancel()
		switch {
		case err != nil && s.lastErr == nil:
			s.cfg.Logger.Warn("engine unreachable: readiness fails", "err", err)
		case err == nil && s.lastErr != nil:
			s.cfg.Logger.Info("engine reachable again: ready")
		}
		s.lastErr, s.checked = err, s.cfg.Now()
	}
	if s.lastErr != nil {
		// The cause may name internal addresses: it goes to the logs only.
		return s.cfg.Reason(s.lastErr), false
	}
	return "", true
}

type status struct {
	Status     string            `json:"status"`
	Reason     string            `json:"reason,omitempty"`
	Components map[string]string `json:"components,omitempty"`
	// details are written after the fields, each under its key, sorted.
	details map[string]any
}

// MarshalJSON writes the fields, then the details.
func (st status) MarshalJSON() ([]byte, error) {
	type fields status // without this method
	b, err := json.Marshal(fields(st))
	if err != nil || len(st.details) == 0 {
		return b, err
	}
	more, err := json.Marshal(st.details) // keys sorted
	if err != nil {
		return nil, err
	}
	// {"status":…} and {"k":…} make {"status":…,"k":…}.
	return append(append(b[:len(b)-1], ','), more[1:]...), nil
}

// details reads the states of Config.Details.
func (s *State) details() map[string]any {
	if len(s.cfg.Details) == 0 {
		return nil
	}
	out := make(map[string]any, len(s.cfg.Details))
	for name, f := range s.cfg.Details {
		out[name] = f()
	}
	return out
}

// components reads the states of Config.Components.
func (s *State) components() map[string]string {
	if len(s.cfg.Components) == 0 {
		return nil
	}
	out := make(map[string]string, len(s.cfg.Components))
	for name, f := range s.cfg.Components {
		out[name] = f()
	}
	return out
}

// Root answers GET and HEAD / with 200 OK: the default probe path of many
// platforms, which only needs to know the process answers HTTP.
func (s *State) Root(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte("OK"))
}

// Readiness answers /health: 200 while ready, 503 with the reason otherwise,
// with the components' states and the details either way.
func (s *State) Readiness(w http.ResponseWriter, r *http.Request) {
	reason, ok := s.Ready(r.Context())
	if ok {
		writeJSON(w, http.StatusOK, status{Status: "ok", Components: s.components(), details: s.details()})
		return
	}
	writeJSON(w, http.StatusServiceUnavailable, status{Status: "unavailable", Reason: reason, Components: s.components(), details: s.details()})
}

// Liveness answers /health/live: 200 while the process runs, draining or not,
// so that an orchestrator does not restart a replica that is only draining or
// waiting for its engine.
func (s *State) Liveness(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, status{Status: "ok"})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

var _ grpchealth.Checker = (*State)(nil)

// Check implements grpchealth.Checker: the same readiness for the whole
// server ("") and for every registered service.
func (s *State) Check(ctx context.Context, req *grpchealth.CheckRequest) (*grpchealth.CheckResponse, error) {
	if !s.services[req.Service] {
		return nil, connect.NewError(connect.CodeNotFound, nil)
	}
	if _, ok := s.Ready(ctx); !ok {
		return &grpchealth.CheckResponse{Status: grpchealth.StatusNotServing}, nil
	}
	return &grpchealth.CheckResponse{Status: grpchealth.StatusServing}, nil
}
