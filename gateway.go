package agentgate

import (
	"context"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/agentgate/agentgate/internal/app"
	"github.com/agentgate/agentgate/internal/config"
)

// Gateway is the whole gateway, ready to serve: every endpoint of the
// server binary behind one http.Handler. Its methods are safe for
// concurrent use.
type Gateway struct {
	app             *app.App
	shutdownTimeout time.Duration

	closeOnce sync.Once
	closeErr  error
}

// New builds a gateway from cfg, whose zero value is a working one (see
// Config). It listens on nothing: mount Handler in your own mux and
// server, or call Serve. With Redis it returns at once, still connecting:
// meanwhile /health answers 503 "starting" and calls fail with
// unavailable, so that a gateway starts before its database does. A bad
// value is a *ConfigError naming the field. The caller must Close the
// gateway.
func New(cfg Config) (*Gateway, error) {
	c, err := cfg.load()
	if err != nil {
		return nil, err
	}
	return newGateway(context.Background(), c, app.Options{
		Logger:    cfg.Logger,
		Responder: cfg.Responder,
		Version:   cfg.Version,
		Redis:     cfg.Redis,
		Tools:     cfg.Tools,
	})
}

// newGateway wires a gateway of a loaded configuration: New's and Run's.
// Connecting to Redis stops when ctx is done or at Close.
func newGateway(ctx context.Context, cfg config.Config, opts app.Options) (*Gateway, error) {
	a, err := app.New(ctx, cfg, opts)
	if err != nil {
		return nil, err
	}
	return &Gateway{app: a, shutdownTimeout: cfg.ShutdownTimeout}, nil
}

// Handler serves every endpoint, at these paths below where it is mounted:
// the agent API (/agent.v1.AgentService/, Connect, gRPC and gRPC-Web), the
// WebSocket at /ws/agent/{agent_id}, the AG-UI and AI SDK doors (/agui/,
// /ai/chat), gRPC health and reflection, /health, /health/live, / (OK),
// /metrics and the console (/console). Mount it at the root of your mux
// (mux.Handle("/", gw.Handler())), where your own, more specific patterns
// still win, or under a prefix with http.StripPrefix; the console page
// needs the root.
//
// gRPC needs HTTP/2: over cleartext, give your http.Server Protocols with
// SetUnencryptedHTTP2(true), as Serve does. Connect and gRPC-Web work over
// HTTP/1.1 too.
//
// On your own http.Server, drain with Shutdown before its Shutdown; see
// Shutdown.
func (g *Gateway) Handler() http.Handler { return g.app.Handler() }

// Serve serves Handler alone on ln, HTTP/1.1 and h2c, with Config's server
// settings (ReadHeaderTimeout, MaxHeaderBytes, MaxConcurrentStreams), until
// ctx is done. Then it drains within ShutdownTimeout: readiness turns 503
// at once, DrainDelay passes, the listener closes, Subscribe and Converse
// streams end with unavailable, WebSockets are closed with 1001 (going
// away) so that clients resume elsewhere, and in-flight calls finish;
// what is left at the deadline is cut. It returns nil after a clean drain.
// Close the gateway after it.
func (g *Gateway) Serve(ctx context.Context, ln net.Listener) error {
	return g.app.Serve(ctx, ln)
}

// Shutdown drains the gateway for a program that serves Handler on its own
// http.Server, which cannot do it alone: http.Server.Shutdown does not
// know the readiness probe, does not end long streams, and leaves
// WebSockets open, since they are hijacked connections. Shutdown turns
// readiness to 503 at once (/health, gRPC health), lets DrainDelay pass,
// ends Subscribe and Converse streams with unavailable, and closes every
// WebSocket with 1001 (going away), so that clients reconnect elsewhere and
// resume with after_seq. It returns when the sockets are closed, or with
// ctx's error when ctx ends first (what is left is cut). Then shut your
// server down with the same deadline, so that in-flight calls finish:
//
//	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
//	defer cancel()
//	_ = gw.Shutdown(ctx) // 503, streams end, sockets get 1001
//	_ = srv.Shutdown(ctx) // the listener closes, in-flight calls finish
//	_ = gw.Close()
//
// The drain happens once; a later Shutdown, or one after Serve's drain,
// waits for it.
func (g *Gateway) Shutdown(ctx context.Context) error { return g.app.Drain(ctx) }

// Close drains the gateway, if Shutdown or Serve has not, within
// ShutdownTimeout, then stops its repliers, its MCP servers (MCPServers:
// their connections close and their commands stop, by ShutdownTimeout
// after the drain began) and its engine: a reply in progress is
// abandoned, and with Redis the next replica to take the agent answers its
// message. A Redis client given in Config stays open. Calls
// after Close fail with unavailable. Close is idempotent.
func (g *Gateway) Close() error { return g.close(true) }

// close is Close, without the drain for a gateway that never served.
func (g *Gateway) close(drain bool) error {
	g.closeOnce.Do(func() {
		if drain {
			ctx, cancel := context.WithTimeout(context.Background(), g.shutdownTimeout)
			defer cancel()
			_ = g.app.Drain(ctx) // what is left at the deadline is cut
		}
		g.closeErr = g.app.Close()
	})
	return g.closeErr
}
