package engine_test

import (
	"log/slog"
	"testing"
	"time"

	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/agentgate/agentgate/internal/engine"
	"github.com/agentgate/agentgate/internal/redistest"
)

// BenchmarkPublishRunDelta measures the hot path of a streamed reply: one
// text delta published as run progress, with one subscriber taking it.
// The run is begun anew every 4096 deltas, as a reply of that many
// deltas would be, so that what the progress holds stays that of one reply.
func BenchmarkPublishRunDelta(b *testing.B) {
	b.Run("memory", func(b *testing.B) {
		e := engine.NewMemory(engine.Config{})
		b.Cleanup(func() { _ = e.Close() })
		benchPublishRun(b, e)
	})
	b.Run("redis", func(b *testing.B) {
		srv := redistest.Start(b)
		e, err := engine.NewRedis(b.Context(), engine.RedisConfig{URL: srv.URL(), KeyPrefix: uniquePrefix(),
			OperationTimeout: time.Second, HeartbeatInterval: time.Second, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = e.Close() })
		benchPublishRun(b, e)
	})
}

func benchPublishRun(b *testing.B, e engine.Engine) {
	ctx := b.Context()
	if _, err := e.AppendUser(ctx, "bench", &agentv1.AgentEvent{Kind: &agentv1.AgentEvent_Message{Message: &agentv1.Message{Text: "hi"}}}, engine.AppendOptions{}); err != nil {
		b.Fatal(err)
	}
	lease, ok, err := e.AcquireLease(ctx, "bench", time.Minute)
	if err != nil || !ok {
		b.Fatal(ok, err)
	}
	sub, err := e.Subscribe(ctx, "bench", engine.SubscribeOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Close()
	const perRun = 4096
	start := func(runSeq uint64) {
		ev := &agentv1.AgentEvent{AgentId: "bench", RunSeq: runSeq, Kind: &agentv1.AgentEvent_RunStarted{RunStarted: &agentv1.RunStarted{RunId: "r", MessageId: "m", ReplyToSeq: 1}}}
		if err := e.PublishRun(ctx, lease, ev); err != nil {
			b.Fatal(err)
		}
	}
	start(1)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if i%perRun == perRun-1 {
			start(uint64(i) + 2)
		}
		ev := &agentv1.AgentEvent{AgentId: "bench", RunSeq: uint64(i) + 2, Kind: &agentv1.AgentEvent_TextDelta{TextDelta: &agentv1.TextDelta{RunId: "r", MessageId: "m", Delta: "tok "}}}
		if err := e.PublishRun(ctx, lease, ev); err != nil {
			b.Fatal(err)
		}
		// Every so often wait for the store to take what was published
		// (the Redis engine does not wait on a publish), and keep the
		// subscriber's queue short, as a consumer does.
		if i%256 == 255 {
			if _, err := e.Read(ctx, "bench", 0, 0); err != nil {
				b.Fatal(err)
			}
		}
		for {
			if _, ok := sub.Next(); !ok {
				break
			}
		}
	}
}
