package userlimit_test

import (
	"testing"
	"time"

	"github.com/agentgate/agentgate/internal/redistest"
	"github.com/agentgate/agentgate/internal/userlimit"
)

// BenchmarkAllow is the cost of one message's check, allowed, on each
// limiter: a map update under a mutex, or one script on a local Redis (a
// round trip over loopback).
func BenchmarkAllow(b *testing.B) {
	rate := userlimit.Rate{Every: time.Nanosecond, Burst: 1 << 30}
	b.Run("memory", func(b *testing.B) {
		l := userlimit.NewMemory(nil)
		defer l.Close()
		benchAllow(b, l, rate)
	})
	b.Run("redis", func(b *testing.B) {
		srv := redistest.Start(b)
		l := newRedis(b, newClient(b, srv), userlimit.RedisConfig{KeyPrefix: uniquePrefix()})
		benchAllow(b, l, userlimit.Rate{Every: time.Microsecond, Burst: 1 << 30})
	})
}

func benchAllow(b *testing.B, l userlimit.Limiter, rate userlimit.Rate) {
	ctx := b.Context()
	for b.Loop() {
		if ok, _, err := l.Allow(ctx, "alice", rate); !ok || err != nil {
			b.Fatalf("Allow: %v, %v", ok, err)
		}
	}
}
