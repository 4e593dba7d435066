// Command gateway is a test program: the whole gateway, configured by the
// environment as the server binary is, with doortest.Scripted as its
// responder (ECHO_DELAY paces its slow replies). The doors' Node tests start
// it, since they need tool calls and run errors, which the echo responder
// does not make.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/agentgate/agentgate/internal/app"
	"github.com/agentgate/agentgate/internal/config"
	"github.com/agentgate/agentgate/internal/door/doortest"
)

func main() {
	cfg, err := config.Load(os.LookupEnv)
	if err != nil {
		fmt.Fprintf(os.Stderr, "gateway: %v\n", err)
		os.Exit(2)
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	a, err := app.New(ctx, cfg, app.Options{Logger: log, Version: "doortest", Responder: doortest.Scripted{Delay: cfg.EchoDelay}})
	if err != nil {
		log.Error("start failed", "err", err)
		os.Exit(1)
	}
	ln, err := net.Listen("tcp", cfg.Addr())
	if err != nil {
		log.Error("listen failed", "err", err)
		os.Exit(1)
	}
	err = a.Serve(ctx, ln)
	a.Close()
	if err != nil {
		log.Error("serve failed", "err", err)
		os.Exit(1)
	}
}
