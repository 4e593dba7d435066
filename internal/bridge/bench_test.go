//go:build unix

package bridge

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/agentgate/agentgate/internal/pbjson"
)

// benchFrame measures one frame from the reader's hand-off to its answer,
// through the edge and the real agent service, without a socket.
func benchFrame(b *testing.B, frame string) {
	r := newTestRPC(b)
	done := make(chan struct{}, 1)
	s := &session{rpc: r, agentID: "bench", ctx: context.Background(), maxCalls: 4, sink: funcSink(func(buf *[]byte) bool {
		putBuf(buf)
		done <- struct{}{}
		return true
	})}
	data := []byte(frame)
	b.ReportAllocs()
	start := cpuTime(b)
	for b.Loop() {
		s.handle(data)
		<-done
	}
	// The process's CPU, not the wall time: the agent's reply is written by
	// another goroutine.
	b.ReportMetric(float64((cpuTime(b)-start).Microseconds())/float64(b.N), "cpu-µs/op")
}

// cpuTime is the CPU time the process has used.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func BenchmarkSendMessageFrame(b *testing.B) {
	benchFrame(b, `{"id":"c1","method":"SendMessage","request":{"text":"hello there"}}`)
}

func BenchmarkGetHistoryFrame(b *testing.B) {
	benchFrame(b, `{"id":"c1","method":"GetHistory","request":{"limit":1}}`)
}

// BenchmarkEventFrame is the writer's share of a fan-out: the encoded frame
// of an event that another socket already pushed.
func BenchmarkEventFrame(b *testing.B) {
	c := newEventFrames(&pbjson.Encoder{})
	ev := testEvent()
	if _, err := c.frame(ev); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.frame(ev); err != nil {
			b.Fatal(err)
		}
	}
}
