package agentgate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/agentgate/agentgate/internal/app"
	"github.com/agentgate/agentgate/internal/config"
	"github.com/agentgate/agentgate/internal/gctune"
	"github.com/agentgate/agentgate/internal/redact"
	"github.com/agentgate/agentgate/responder"
	"github.com/agentgate/agentgate/tool"
	"github.com/redis/go-redis/v9"
)

// Options are what Run and Main take besides the environment.
type Options struct {
	// Responder answers every agent. Default: the one RESPONDER chooses
	// (echo, openai or agui, with their variables). With a Responder of
	// your own, RESPONDER and the built-in responders' variables are not
	// read, so none of them is required (setting RESPONDER is logged as a
	// warning, since it has no effect).
	Responder responder.Responder
	// Lookup reads the configuration. Default os.LookupEnv.
	Lookup func(string) (string, bool)
	// Logger receives every log line, with the configuration's secrets
	// (AUTH_TOKENS, OPENAI_API_KEY, AGUI_TOKEN, the URLs' passwords and
	// query values) taken out. Default: LOG_LEVEL and LOG_FORMAT on standard
	// error.
	Logger *slog.Logger
	// Listener, if set, is served instead of listening on HOST:PORT, e.g. a
	// test's listener on 127.0.0.1:0.
	Listener net.Listener
	// Version is reported in the start log line.
	Version string
	// Tools are server tools written in Go, or any tool.Source of the
	// program's, as Config.Tools. Default none.
	Tools []tool.Source
}

// Run serves the gateway until ctx is done, then drains it (readiness 503,
// open streams and sockets closed so that clients resume elsewhere) within
// SHUTDOWN_TIMEOUT, and returns nil after a clean drain. A bad
// configuration is a *ConfigError, returned before anything listens.
func Run(ctx context.Context, opts Options) error {
	if opts.Lookup == nil {
		opts.Lookup = os.LookupEnv
	}
	cfg, err := load(opts)
	if err != nil {
		return err
	}
	if opts.Logger == nil {
		opts.Logger = newLogger(cfg, os.Stderr)
	}
	opts.Logger = redact.Logger(opts.Logger, redact.New(cfg.Secrets()...))
	return serve(ctx, cfg, opts)
}

// load reads the configuration, leaving out the built-in responders' when
// the caller brings its own.
func load(opts Options) (config.Config, error) {
	return config.LoadWith(opts.Lookup, config.Options{OwnResponder: opts.Responder != nil})
}

// serve runs the gateway of a loaded configuration; see Run.
func serve(ctx context.Context, cfg config.Config, opts Options) error {
	gw, err := newGateway(ctx, cfg, app.Options{Logger: opts.Logger, Responder: opts.Responder, Version: opts.Version, Tools: opts.Tools})
	if err != nil {
		return err
	}
	defer gw.Close()
	ln := opts.Listener
	if ln == nil {
		if ln, err = net.Listen("tcp", cfg.Addr()); err != nil {
			_ = gw.close(false) // nothing was served: nothing to drain
			return fmt.Errorf("listen on %s: %w", cfg.Addr(), err)
		}
	}
	return gw.Serve(ctx, ln)
}

// Main runs the gateway as the process's main function, and returns its
// exit status: 0 after a clean drain on SIGTERM or SIGINT, 1 on a failure,
// 2 on bad configuration (one line on standard error naming the variable).
// Use it as os.Exit(agentgate.Main(agentgate.Options{Responder: r})).
//
// Main owns the process, so it also makes the gateway's logger the
// process's default (slog.SetDefault): a responder that logs to
// slog.Default(), as the built-in ones do unless given a Logger, writes
// the same structured lines as the gateway.
func Main(opts Options) int {
	return mainWith(opts, os.Stderr)
}

func mainWith(opts Options, stderr io.Writer) int {
	if opts.Lookup == nil {
		opts.Lookup = os.LookupEnv
	}
	cfg, err := load(opts)
	if err != nil {
		fmt.Fprintf(stderr, "agentgate: %v\n", err)
		return 2
	}
	red := redact.New(cfg.Secrets()...)
	if opts.Logger == nil {
		opts.Logger = newLogger(cfg, stderr)
	}
	opts.Logger = redact.Logger(opts.Logger, red)
	log := opts.Logger
	slog.SetDefault(log)
	// go-redis logs connection trouble through a process-wide logger; route
	// it into ours so that every line on stderr is structured.
	redis.SetLogger(redisLogger{log})
	if gc := gctune.Apply(opts.Lookup, "/sys/fs/cgroup"); gc != (gctune.Settings{}) {
		log.Info("garbage collector defaults", "gogc", gc.GCPercent, "gomemlimit", gc.MemoryLimit)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	err = serve(ctx, cfg, opts)
	var cerr *ConfigError
	switch {
	case errors.As(err, &cerr):
		fmt.Fprintf(stderr, "agentgate: %s\n", red.String(err.Error()))
		return 2
	case err != nil:
		log.Error("serve failed", "err", err)
		return 1
	}
	return 0
}

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(_ context.Context, format string, v ...any) {
	l.log.Debug("redis client", "msg", fmt.Sprintf(format, v...))
}
