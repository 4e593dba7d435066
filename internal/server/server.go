// Package server puts every endpoint of the gateway on one http.Server and
// one port, HTTP/1.1 and h2c together: the typed agent API, gRPC health,
// reflection, the plain health probes and, mounted by the caller, the
// WebSocket bridge and metrics. It also owns the order of a graceful
// shutdown.
package server

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"
	"connectrpc.com/grpcreflect"
	"github.com/agentgate/agentgate/gen/agent/v1/agentv1connect"
	"github.com/agentgate/agentgate/internal/config"
	"github.com/agentgate/agentgate/internal/health"
	"github.com/agentgate/agentgate/internal/logattr"
)

// Config configures a Server.
type Config struct {
	// AgentPath and Agent serve agent.v1.AgentService: the Connect handler
	// built once by the caller, behind its edge. Required.
	AgentPath string
	Agent     http.Handler
	// Health is the readiness state. Required.
	Health *health.State
	// Logger receives the server's logs. Default slog.Default().
	Logger *slog.Logger
	// ShutdownTimeout bounds the drain. Default
	// config.DefaultShutdownTimeout.
	ShutdownTimeout time.Duration
	// DrainDelay is how long, after the shutdown signal, readiness already
	// fails while the server still accepts and serves everything, so that
	// load balancers (a Kubernetes Service, say) stop routing to it before
	// its listener closes. It is part of ShutdownTimeout. Default 0.
	DrainDelay time.Duration
	// ReadHeaderTimeout cuts off clients that send headers too slowly
	// (slowloris). Default config.DefaultReadHeaderTimeout.
	ReadHeaderTimeout time.Duration
	// MaxHeaderBytes bounds request headers. Default
	// config.DefaultMaxHeaderBytes.
	MaxHeaderBytes int
	// MaxConcurrentStreams bounds HTTP/2 streams per connection. Default
	// config.DefaultMaxConcurrentStreams.
	MaxConcurrentStreams int
	// Protect wraps the reflection handlers (authentication, CORS), as the
	// caller wrapped Agent. Nil means no wrapping.
	Protect func(http.Handler) http.Handler
	// Outer wraps the whole mux (request ids). Nil means no wrapping.
	Outer func(http.Handler) http.Handler
	// Routes are further handlers by ServeMux pattern, such as the WebSocket
	// bridge and /metrics.
	Routes map[string]http.Handler
	// OnShutdown functions run when draining starts, concurrently with the
	// HTTP shutdown and under its deadline. The WebSocket bridge closes its
	// sockets here: http.Server.Shutdown does not touch hijacked
	// connections. They must return by the time ctx is done.
	OnShutdown []func(ctx context.Context)
}

// Server is the gateway's HTTP server.
type Server struct {
	cfg  Config
	log  *slog.Logger
	http *http.Server

	// The drain happens once, whether Serve or Drain starts it: the caller
	// that sets draining runs it, and gone is closed when its OnShutdown
	// functions have returned.
	draining atomic.Bool
	gone     chan struct{}
}

// New builds the server and its mux.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = config.DefaultShutdownTimeout
	}
	if cfg.ReadHeaderTimeout <= 0 {
		cfg.ReadHeaderTimeout = config.DefaultReadHeaderTimeout
	}
	if cfg.MaxHeaderBytes <= 0 {
		cfg.MaxHeaderBytes = config.DefaultMaxHeaderBytes
	}
	if cfg.MaxConcurrentStreams <= 0 {
		cfg.MaxConcurrentStreams = config.DefaultMaxConcurrentStreams
	}
	s := &Server{cfg: cfg, log: cfg.Logger, gone: make(chan struct{})}

	protect := cfg.Protect
	if protect == nil {
		protect = func(h http.Handler) http.Handler { return h }
	}
	mux := http.NewServeMux()
	mux.Handle(cfg.AgentPath, cfg.Agent)
	// Health stays open: probes carry no token. Its requests, and those of
	// reflection, are a service name or a symbol: a few hundred bytes. The
	// cap keeps an open endpoint from buffering a huge body.
	small := connect.WithReadMaxBytes(smallRequestBytes)
	path, h := grpchealth.NewHandler(cfg.Health, small)
	mux.Handle(path, boundBody(cfg.ReadHeaderTimeout, h))
	reflector := grpcreflect.NewStaticReflector(agentv1connect.AgentServiceName, grpchealth.HealthV1ServiceName)
	path, h = grpcreflect.NewHandlerV1(reflector, small)
	mux.Handle(path, protect(h))
	path, h = grpcreflect.NewHandlerV1Alpha(reflector, small)
	mux.Handle(path, protect(h))
	mux.HandleFunc("GET /{$}", cfg.Health.Root) // GET also answers HEAD
	mux.HandleFunc("GET /health", cfg.Health.Readiness)
	mux.HandleFunc("GET /health/live", cfg.Health.Liveness)
	for pattern, h := range cfg.Routes {
		mux.Handle(pattern, h)
	}

	var root http.Handler = mux
	if cfg.Outer != nil {
		root = cfg.Outer(mux)
	}

	var protocols http.Protocols
	protocols.SetHTTP1(true)
	// h2c with prior knowledge, as gRPC clients, grpcurl -plaintext and
	// platforms that end TLS at their edge speak it.
	protocols.SetUnencryptedHTTP2(true)
	s.http = &http.Server{
		Handler:           root,
		Protocols:         &protocols,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		MaxHeaderBytes:    cfg.MaxHeaderBytes,
		// No ReadTimeout or WriteTimeout: they would cut long streams and
		// WebSockets. Idle keep-alive connections are closed, though.
		IdleTimeout: 2 * time.Minute,
		HTTP2: &http.HTTP2Config{
			MaxConcurrentStreams: cfg.MaxConcurrentStreams,
			// Ping connections that go quiet, so that dead peers are noticed.
			SendPingTimeout: 30 * time.Second,
			PingTimeout:     15 * time.Second,
		},
		ErrorLog: slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelDebug),
	}
	return s
}

// smallRequestBytes caps the requests of health checks and reflection.
const smallRequestBytes = 16 << 10

// boundBody gives the body of a short unary request d to arrive, as
// ReadHeaderTimeout does for its headers: the server has no whole-request
// ReadTimeout (it would cut streams), so without it a client that sends
// a Content-Length and then trickles the body holds a handler and a
// connection for as long as it likes. The deadline is lifted once the body
// is read, so that it cannot cut the response or the next request.
func boundBody(d time.Duration, h http.Handler) http.Handler {
	if d <= 0 {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength == 0 || r.Body == nil || r.Body == http.NoBody {
			h.ServeHTTP(w, r)
			return
		}
		rc := http.NewResponseController(w)
		if rc.SetReadDeadline(time.Now().Add(d)) != nil {
			h.ServeHTTP(w, r)
			return
		}
		b := &deadlineBody{ReadCloser: r.Body, lift: func() { _ = rc.SetReadDeadline(time.Time{}) }}
		if r.ProtoMajor == 1 {
			// A body cut off by the deadline cannot be read to its end
			// either: the connection closes after the answer.
			b.cut = func() { w.Header().Set("Connection", "close") }
		}
		defer b.done()
		r.Body = b
		h.ServeHTTP(w, r)
	})
}

// deadlineBody lifts the read deadline when the body ends.
type deadlineBody struct {
	io.ReadCloser
	lift   func()
	cut    func()
	lifted bool
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	switch {
	case err == nil:
	case errors.Is(err, io.EOF):
		b.done()
	default:
		if b.cut != nil {
			b.cut()
		}
		b.lifted = true // the next request gets fresh deadlines
	}
	return n, err
}

func (b *deadlineBody) done() {
	if !b.lifted {
		b.lifted = true
		b.lift()
	}
}

// Handler returns the server's root handler: every endpoint, for a program
// that serves them on its own http.Server (see Drain).
func (s *Server) Handler() http.Handler { return s.http.Handler }

// Serve accepts connections on ln until ctx is done, then drains: readiness
// fails at once, the listener closes, streams end with Unavailable, the
// OnShutdown functions run, and in-flight calls may finish within
// ShutdownTimeout; after it, remaining connections are cut. Serve returns nil
// after a clean drain.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	errc := make(chan error, 1)
	go func() { errc <- s.http.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	start := time.Now()
	s.log.Info("draining", logattr.Millis("timeout_ms", s.cfg.ShutdownTimeout), logattr.Millis("delay_ms", s.cfg.DrainDelay))
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	if s.draining.CompareAndSwap(false, true) {
		if err := s.drain(sctx, errc); err != nil {
			return err
		}
	}
	err := s.http.Shutdown(sctx)
	if err != nil {
		s.log.Warn("drain timed out; closing remaining connections", "err", err)
		_ = s.http.Close()
	}
	<-s.gone // the OnShutdown functions return by the drain's deadline
	if serveErr := <-errc; serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return serveErr
	}
	s.log.Info("drained", logattr.Millis("duration_ms", time.Since(start)))
	return nil
}

// Drain is Serve's drain for a Handler that another http.Server serves:
// readiness fails at once; after DrainDelay (cut short if ctx ends) streams
// end with Unavailable and the OnShutdown functions run (the WebSocket
// bridge closes its sockets with 1001). It returns when they have, or when
// ctx is done. That server's own Shutdown, which closes the listener and
// waits for in-flight calls, is the caller's to run, after or alongside.
//
// The drain happens once: a later Drain, or one during or after Serve's,
// waits for the first to end. Drain returns ctx's error if ctx ended
// before the drain did.
func (s *Server) Drain(ctx context.Context) error {
	start := time.Now()
	first := s.draining.CompareAndSwap(false, true)
	if first {
		s.log.Info("draining", logattr.Millis("delay_ms", s.cfg.DrainDelay))
		_ = s.drain(ctx, nil)
	}
	select {
	case <-s.gone:
	case <-ctx.Done():
		return ctx.Err()
	}
	if first {
		s.log.Info("drained", logattr.Millis("duration_ms", time.Since(start)))
	}
	return nil
}

// drain makes readiness fail, lets DrainDelay pass while the server still
// serves (so that load balancers stop routing to it), then ends open
// streams (health.State.Drain) and starts the OnShutdown functions, which
// close gone when they have all returned. The delay ends early when ctx
// does, and with the error of a Serve that fails meanwhile, which drain
// returns, closing gone: nothing is left to wait for. Only the caller that
// set draining runs it.
func (s *Server) drain(ctx context.Context, serveErr <-chan error) error {
	s.cfg.Health.Unready()
	if err := s.delay(ctx, serveErr); err != nil {
		close(s.gone)
		return err
	}
	s.goAway(ctx)
	return nil
}

// delay waits DrainDelay, or until ctx ends or serveErr has an error.
func (s *Server) delay(ctx context.Context, serveErr <-chan error) error {
	if s.cfg.DrainDelay <= 0 {
		return nil
	}
	t := time.NewTimer(s.cfg.DrainDelay)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	case err := <-serveErr:
		return err
	}
	return nil
}

// goAway ends open streams and runs the OnShutdown functions concurrently,
// closing gone when they have all returned.
func (s *Server) goAway(ctx context.Context) {
	s.cfg.Health.Drain()
	var wg sync.WaitGroup
	for _, fn := range s.cfg.OnShutdown {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(ctx)
		}()
	}
	go func() {
		wg.Wait()
		close(s.gone)
	}()
}
