package engine_test

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/agentgate/agentgate/internal/engine"
	"github.com/agentgate/agentgate/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// TestNewRedisClient runs the engine over a client its caller made and
// keeps: the log works through it, and Close leaves it open for the
// caller's own commands.
func TestNewRedisClient(t *testing.T) {
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr(), MaxRetries: -1})
	defer rdb.Close()
	e, err := engine.NewRedisClient(t.Context(), rdb, engine.RedisConfig{
		KeyPrefix: uniquePrefix(), OperationTimeout: time.Second, HeartbeatInterval: time.Second,
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatalf("NewRedisClient: %v", err)
	}
	if _, err := e.AppendUser(t.Context(), "a", userEvent("hello"), engine.AppendOptions{}); err != nil {
		t.Fatalf("AppendUser: %v", err)
	}
	page, err := e.Read(t.Context(), "a", 0, 10)
	if err != nil || len(page.Events) != 1 || page.Events[0].GetMessage().GetText() != "hello" {
		t.Fatalf("Read: %v, %v; want the one message", page.Events, err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.Ping(t.Context()).Err(); err != nil {
		t.Fatalf("the caller's client after the engine's Close: %v; want it open", err)
	}
}

// TestNewRedisClientRefusesRetries refuses a client that retries commands
// (go-redis does 3 times by default), naming the setting to change: a
// retried append could be stored twice.
func TestNewRedisClientRefusesRetries(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer rdb.Close()
	_, err := engine.NewRedisClient(t.Context(), rdb, engine.RedisConfig{})
	if err == nil || !strings.Contains(err.Error(), "MaxRetries") {
		t.Fatalf("NewRedisClient with a retrying client: %v; want an error naming MaxRetries", err)
	}
	if _, err := engine.NewRedisClient(t.Context(), nil, engine.RedisConfig{}); err == nil {
		t.Fatal("NewRedisClient accepted a nil client")
	}
}
