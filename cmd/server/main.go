// Command server runs the agent gateway: the typed agent API (Connect, gRPC,
// gRPC-Web), the WebSocket bridge and the health probes on one port.
//
// It is configured by environment variables only (see README.md); a bad value
// is reported in one line naming the variable, with exit status 2.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/agentgate/agentgate/internal/app"
	"github.com/agentgate/agentgate/internal/config"
	"github.com/agentgate/agentgate/internal/gctune"
	"github.com/redis/go-redis/v9"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = ""

func main() {
	os.Exit(run(os.LookupEnv, os.Stderr))
}

// run returns the process exit status: 0 after a clean drain, 1 on a runtime
// failure, 2 on bad configuration.
func run(lookup func(string) (string, bool), stderr io.Writer) int {
	cfg, err := config.Load(lookup)
	if err != nil {
		fmt.Fprintf(stderr, "agentgate: %v\n", err)
		return 2
	}
	log := newLogger(cfg, stderr)
	// go-redis logs connection trouble through a process-wide logger; route
	// it into ours so that every line on stderr is structured.
	redis.SetLogger(redisLogger{log})
	if gc := gctune.Apply(lookup, "/sys/fs/cgroup"); gc != (gctune.Settings{}) {
		log.Info("garbage collector defaults", "gogc", gc.GCPercent, "gomemlimit", gc.MemoryLimit)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	a, err := app.New(ctx, cfg, app.Options{Logger: log, Version: buildVersion()})
	if err != nil {
		var cerr *config.Error
		if errors.As(err, &cerr) {
			fmt.Fprintf(stderr, "agentgate: %v\n", err)
			return 2
		}
		log.Error("start failed", "err", err)
		return 1
	}
	defer a.Close()

	ln, err := net.Listen("tcp", cfg.Addr())
	if err != nil {
		log.Error("listen failed", "addr", cfg.Addr(), "err", err)
		return 1
	}
	if err := a.Serve(ctx, ln); err != nil {
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

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.Debug("redis client", "msg", fmt.Sprintf(format, v...))
}

// buildVersion is the -ldflags version, or the module version and VCS
// revision recorded by the Go toolchain.
func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				return s.Value
			}
		}
		if bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			return bi.Main.Version
		}
	}
	return "dev"
}
