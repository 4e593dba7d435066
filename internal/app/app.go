// Package app wires the gateway from a validated config.Config: engine,
// agent service, Connect handler, health, and the HTTP server. main runs it
// as a process; tests run the very same wiring on a loopback port.
package app

import (
	"context"
	"fmt"
	"log/slog"
	"net"

	"github.com/agentgate/agentgate/gen/agent/v1/agentv1connect"
	"github.com/agentgate/agentgate/internal/agent"
	"github.com/agentgate/agentgate/internal/api"
	"github.com/agentgate/agentgate/internal/config"
	"github.com/agentgate/agentgate/internal/engine"
	"github.com/agentgate/agentgate/internal/health"
	"github.com/agentgate/agentgate/internal/server"
)

// Options are what a caller may inject besides the configuration.
type Options struct {
	// Logger receives all logs. Default slog.Default().
	Logger *slog.Logger
	// Responder writes the agents' replies. Default agent.Echo with
	// config.EchoDelay.
	Responder agent.Responder
	// Version is reported in the start log line.
	Version string
}

// App is a wired gateway, ready to serve.
type App struct {
	cfg     config.Config
	log     *slog.Logger
	engine  engine.Engine
	name    string // the engine's name, for logs
	service *agent.Service
	health  *health.State
	server  *server.Server
	version string
}

// New wires an App. The caller must Close it after Serve returns.
func New(ctx context.Context, cfg config.Config, opts Options) (*App, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Responder == nil {
		opts.Responder = agent.Echo{Delay: cfg.EchoDelay}
	}
	a := &App{cfg: cfg, log: opts.Logger, version: opts.Version}
	ecfg := engine.Config{HistoryLimit: cfg.HistoryLimit}
	if cfg.RedisURL == "" {
		a.engine, a.name = engine.NewMemory(ecfg), "memory"
	} else {
		return nil, fmt.Errorf("REDIS_URL: the redis engine is not available in this build")
	}
	a.service = agent.New(agent.Config{
		Engine:       a.engine,
		Responder:    opts.Responder,
		Logger:       a.log,
		LeaseTTL:     cfg.LeaseTTL,
		ReplyTimeout: cfg.ReplyTimeout,
	})
	a.health = health.New(health.Config{
		Ping:     a.service.Ready,
		Services: []string{agentv1connect.AgentServiceName},
	})
	handler := api.New(api.Config{
		Service:   a.service,
		Heartbeat: cfg.Heartbeat,
		Draining:  a.health.Draining(),
	})
	a.server = server.New(server.Config{
		API:             handler,
		Health:          a.health,
		Logger:          a.log,
		ShutdownTimeout: cfg.ShutdownTimeout,
		DrainDelay:      cfg.DrainDelay,
	})
	return a, nil
}

// Serve serves on ln until ctx is done, then drains (see server.Serve).
func (a *App) Serve(ctx context.Context, ln net.Listener) error {
	a.log.Info("serving",
		"addr", ln.Addr().String(),
		"engine", a.name,
		"version", a.version,
		"history_limit", a.cfg.HistoryLimit,
	)
	return a.server.Serve(ctx, ln)
}

// Close stops the reply workers and the engine.
func (a *App) Close() error {
	a.service.Close()
	return a.engine.Close()
}
