package engine_test

import (
	"testing"
	"time"

	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/agentgate/agentgate/internal/engine"
	"github.com/agentgate/agentgate/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// TestRedisRunProgressSize checks what a run's progress costs Redis: a
// reply streamed in 200,000 one-byte deltas, published as fast as the
// engine takes them, keeps the progress list within a few bytes per delta,
// where it took an encoded event (about 60 bytes) per delta before: each
// delta is a compact record, and the records that leave in one pipeline
// are merged (publishing outpaces the round trips here, so pipelines hold
// many). Run still folds it all into the whole text.
func TestRedisRunProgressSize(t *testing.T) {
	srv := redistest.Start(t)
	prefix := uniquePrefix()
	e := newRedis(t, srv, prefix, "solo", engine.Config{})
	ctx := t.Context()
	if _, err := e.AppendUser(ctx, "big", userEvent("go on"), engine.AppendOptions{}); err != nil {
		t.Fatal(err)
	}
	lease, ok, err := e.AcquireLease(ctx, "big", time.Minute)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	publish := func(ev *agentv1.AgentEvent) {
		t.Helper()
		if err := e.PublishRun(ctx, lease, ev); err != nil {
			t.Fatal(err)
		}
	}
	publish(&agentv1.AgentEvent{AgentId: "big", RunSeq: 1, Kind: &agentv1.AgentEvent_RunStarted{RunStarted: &agentv1.RunStarted{RunId: "r1", MessageId: "m1", ReplyToSeq: 1}}})
	const n = 200_000
	for i := range n {
		publish(&agentv1.AgentEvent{AgentId: "big", RunSeq: uint64(i + 2), Kind: &agentv1.AgentEvent_TextDelta{TextDelta: &agentv1.TextDelta{RunId: "r1", MessageId: "m1", Delta: "x"}}})
		if i%4096 == 4095 {
			if _, err := e.Read(ctx, "big", 0, 0); err != nil { // let the pipe catch up
				t.Fatal(err)
			}
		}
	}
	if _, err := e.Read(ctx, "big", 0, 0); err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer rdb.Close()
	key := prefix + "{agent:big}:run"
	usage, err := rdb.MemoryUsage(ctx, key).Result()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("progress of %d one-byte deltas: %d bytes in Redis", n, usage)
	if usage > 4*n {
		t.Fatalf("progress of %d one-byte deltas takes %d bytes in Redis; want at most %d", n, usage, 4*n)
	}
	evs, err := e.Run(ctx, "big")
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 || len(evs[1].GetTextDelta().GetDelta()) != n || evs[1].GetRunSeq() != n+1 {
		t.Fatalf("Run: %d events, text %d bytes, run_seq %d; want 2, %d, %d", len(evs), len(evs[1].GetTextDelta().GetDelta()), evs[1].GetRunSeq(), n, n+1)
	}
}
