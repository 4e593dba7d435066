package userlimit

import (
	"testing"
	"time"

	"github.com/agentgate/agentgate/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// TestEnterIsIdempotent repeats an Enter whose reply was lost: the same
// connection id enters again, even at the cap, and counts once.
func TestEnterIsIdempotent(t *testing.T) {
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr(), MaxRetries: -1})
	t.Cleanup(func() { _ = rdb.Close() })
	ctx := t.Context()
	now := time.Now().UnixMicro()
	enter := func(id string) bool {
		t.Helper()
		ok, err := decodeEnter(scriptEnter.Run(ctx, rdb, []string{"conns"}, now, 30_000, 2, id))
		if err != nil {
			t.Fatalf("enter.lua: %v", err)
		}
		return ok
	}
	if !enter("a") || !enter("a") || !enter("b") || !enter("a") {
		t.Fatal("an id that is open already was refused")
	}
	if enter("c") {
		t.Fatal("a third id entered with max 2: a repeated id counted twice?")
	}
	if n := rdb.ZCard(ctx, "conns").Val(); n != 2 {
		t.Fatalf("%d connections, want 2", n)
	}
}
