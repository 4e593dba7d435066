package limit

import (
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestGateCap(t *testing.T) {
	t.Parallel()
	g := NewGate(2, 1000)
	r1, _, ok1 := g.Enter()
	r2, _, ok2 := g.Enter()
	_, reason, ok3 := g.Enter()
	if !ok1 || !ok2 || ok3 || reason != ReasonMax {
		t.Fatalf("enter: %v %v %v (%s), want two admitted, the third refused for max", ok1, ok2, ok3, reason)
	}
	r1()
	r1() // a second release is a no-op
	if g.Open() != 1 {
		t.Fatalf("open %d after one release, want 1", g.Open())
	}
	if _, _, ok := g.Enter(); !ok {
		t.Fatal("a released place is not reused")
	}
	r2()
}

func TestGateRate(t *testing.T) {
	t.Parallel()
	// 1 per second, bursts of 2: the third at once is refused for rate.
	g := NewGate(100, 1)
	admitted := 0
	var reason string
	for range 3 {
		release, why, ok := g.Enter()
		if ok {
			admitted++
			release()
		} else {
			reason = why
		}
	}
	if admitted != 2 || reason != ReasonRate {
		t.Fatalf("admitted %d (%s), want a burst of 2 then a refusal for rate", admitted, reason)
	}
	if g.Open() != 0 {
		t.Fatalf("open %d, want 0: a refused entry must not count", g.Open())
	}
}

func TestGateWithoutLimits(t *testing.T) {
	t.Parallel()
	g := NewGate(0, 0)
	for i := range 10_000 {
		if _, reason, ok := g.Enter(); !ok {
			t.Fatalf("entry %d refused for %s: a gate without limits refuses nothing", i, reason)
		}
	}
	if g.Full() {
		t.Error("a gate without a cap is full")
	}
}

func TestBucket(t *testing.T) {
	t.Parallel()
	b := NewBucket(1.5) // bursts of 3
	now := time.Unix(1000, 0)
	allowed := 0
	for range 10 {
		if b.Allow(now) {
			allowed++
		}
	}
	if allowed != 3 {
		t.Fatalf("%d allowed at once, want the burst of 3", allowed)
	}
	if !b.Allow(now.Add(time.Second)) || b.Allow(now.Add(time.Second)) {
		t.Error("after a second, want one more token and no second")
	}
	open := NewBucket(0)
	for range 1000 {
		if !open.Allow(now) {
			t.Fatal("a bucket without a rate refused")
		}
	}
	if open.Rate() != 0 || b.Rate() != 1.5 {
		t.Errorf("rates %v, %v", open.Rate(), b.Rate())
	}
}
