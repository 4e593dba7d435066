package gctune

import (
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestBurstReleasesLargeBursts counts connections between checks: a burst
// of Min or more is released, a smaller one is not, and each check starts
// the count anew.
func TestBurstReleasesLargeBursts(t *testing.T) {
	t.Parallel()
	r := NewReleaser(time.Minute)
	now := time.Unix(1000, 0)
	r.now = func() time.Time { now = now.Add(time.Hour); return now } // every Release frees: the count is Burst's
	freed := 0
	r.free = func() { freed++ }
	b := NewBurst(r, 3, time.Hour) // checked by hand below, never by its timer
	defer b.Stop()
	for _, step := range []struct {
		opened, freed int
	}{{2, 0}, {1, 0}, {3, 1}, {0, 1}, {5, 2}} {
		for range step.opened {
			b.Opened()
		}
		b.check()
		if freed != step.freed {
			t.Fatalf("after a burst of %d: freed %d times, want %d", step.opened, freed, step.freed)
		}
	}
}

// TestBurstReleasesWhenQuiet has the timer release a burst once no
// connection opened for Quiet.
func TestBurstReleasesWhenQuiet(t *testing.T) {
	t.Parallel()
	r := NewReleaser(time.Hour)
	freed := make(chan struct{}, 1)
	r.free = func() { freed <- struct{}{} }
	b := NewBurst(r, 2, time.Millisecond)
	defer b.Stop()
	b.Opened()
	b.Opened()
	select {
	case <-freed:
	case <-time.After(10 * time.Second):
		t.Fatal("a burst of 2 was not released 1ms after the last connection")
	}
}
