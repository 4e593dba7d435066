package app_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/agentgate/agentgate/internal/apptest"
	"github.com/agentgate/agentgate/internal/redistest"
)

// engines are the engines a benchmark compares, measured in the same run so
// that their ratio means something on a noisy machine.
func engines(b *testing.B) map[string]map[string]string {
	return map[string]map[string]string{
		"engine=memory": nil,
		"engine=redis":  {"REDIS_URL": redistest.Start(b).URL()},
	}
}

// BenchmarkSendMessage measures SendMessage round trips (message appended,
// reply written, response received) over h2c with 64 concurrent callers,
// each on its own agent.
func BenchmarkSendMessage(b *testing.B) {
	for name, env := range engines(b) {
		b.Run(name, func(b *testing.B) {
			srv := apptest.Start(b, env, apptest.Quiet())
			c := newClient(b, srv.URL, h2cConnect)
			var n atomic.Int64
			b.SetParallelism(32) // 64 callers on 2 cores
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				agentID := fmt.Sprint("bench-", n.Add(1))
				for pb.Next() {
					_, err := c.SendMessage(context.Background(), connect.NewRequest(&agentv1.SendMessageRequest{AgentId: agentID, Text: "hi"}))
					if err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkSendToEvent measures the latency from a SendMessage call to its
// user-message event reaching a Subscribe stream on the same agent.
func BenchmarkSendToEvent(b *testing.B) {
	for name, env := range engines(b) {
		b.Run(name, func(b *testing.B) {
			srv := apptest.Start(b, env, apptest.Quiet())
			c := newClient(b, srv.URL, h2cConnect)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			stream, err := c.Subscribe(ctx, connect.NewRequest(&agentv1.SubscribeRequest{AgentId: "lat"}))
			if err != nil {
				b.Fatal(err)
			}
			defer stream.Close()
			stream.ResponseHeader()
			var total time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				start := time.Now()
				go func() {
					_, _ = c.SendMessage(ctx, connect.NewRequest(&agentv1.SendMessageRequest{AgentId: "lat", Text: "x"}))
				}()
				for stream.Receive() {
					if ev := stream.Msg().GetEvent(); ev.GetMessage().GetRole() == agentv1.Role_ROLE_USER {
						break
					}
				}
				total += time.Since(start)
				// Let the reply pass before the next message.
				for stream.Receive() {
					if stream.Msg().GetEvent().GetMessage().GetRole() == agentv1.Role_ROLE_ASSISTANT {
						break
					}
				}
			}
			b.ReportMetric(float64(total.Microseconds())/float64(b.N), "µs/event")
		})
	}
}
