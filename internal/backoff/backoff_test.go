package backoff

import (
	"context"
	"testing"
	"time"
)

func TestDelaysGrowWithJitterAndReset(t *testing.T) {
	t.Parallel()
	b := New(10*time.Millisecond, 80*time.Millisecond)
	for i, step := range []time.Duration{10, 20, 40, 80, 80} {
		step *= time.Millisecond
		if d := b.Next(); d < step/2 || d > step {
			t.Fatalf("delay %d is %v, want within [%v, %v]", i, d, step/2, step)
		}
	}
	b.Reset()
	if d := b.Next(); d > 10*time.Millisecond {
		t.Fatalf("after Reset: %v, want at most 10ms", d)
	}
}

func TestSleepStopsWithItsContext(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if Sleep(ctx, time.Hour) {
		t.Fatal("Sleep reported the hour passed on a cancelled context")
	}
	if !Sleep(context.Background(), time.Microsecond) {
		t.Fatal("Sleep of a microsecond did not pass")
	}
}
