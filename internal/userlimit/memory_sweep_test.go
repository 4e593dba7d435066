package userlimit

import (
	"strconv"
	"testing"
	"time"
)

// TestMemoryForgetsFullAllowances: a subject whose allowance is full again
// is forgotten, so Memory holds only the subjects active lately.
func TestMemoryForgetsFullAllowances(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_700_000_000, 0)
	m := NewMemory(func() time.Time { return now })
	rate := Rate{Every: time.Second, Burst: 5}
	for i := range 10 * minSweep {
		if ok, _, err := m.Allow(t.Context(), strconv.Itoa(i), rate); !ok || err != nil {
			t.Fatalf("Allow: %v, %v", ok, err)
		}
	}
	if n := len(m.tats); n != 10*minSweep {
		t.Fatalf("%d subjects kept while their allowance is spent, want %d", n, 10*minSweep)
	}
	// A second later every one of them is full again; the first sweep,
	// once the subjects have doubled at the most, forgets them all.
	now = now.Add(time.Second)
	added := 0
	for len(m.tats) >= 10*minSweep {
		if added > 10*minSweep {
			t.Fatalf("no sweep after %d new subjects", added)
		}
		if ok, _, err := m.Allow(t.Context(), "new"+strconv.Itoa(added), rate); !ok || err != nil {
			t.Fatalf("Allow: %v, %v", ok, err)
		}
		added++
	}
	if n := len(m.tats); n > added {
		t.Fatalf("%d subjects kept after the sweep, want at most the %d active since", n, added)
	}
}
