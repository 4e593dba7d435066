package engine

import (
	"errors"
	"slices"
	"testing"

	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
)

// testSub is a subscriber as the engines make theirs: ending it removes
// it from its localSubs.
type testSub struct {
	localSub
	l *localSubs[*testSub]
}

func (s *testSub) endLocked(err error) {
	s.End(err)
	s.l.remove(s)
}

func newTestSub(l *localSubs[*testSub], buffer int, internal bool, onCancel func(string)) *testSub {
	s := &testSub{localSub: localSub{Queue: NewQueue(buffer, SubscribeOptions{}), internal: internal}, l: l}
	if onCancel != nil {
		l.addCanceller(s, onCancel)
	} else {
		l.add(s)
	}
	return s
}

func userEvent(seq uint64) *agentv1.AgentEvent {
	return &agentv1.AgentEvent{Seq: seq, Kind: &agentv1.AgentEvent_Message{Message: &agentv1.Message{Role: agentv1.Role_ROLE_USER}}}
}

func queued(s *testSub) []uint64 {
	var seqs []uint64
	for ev, ok := s.Next(); ok; ev, ok = s.Next() {
		seqs = append(seqs, ev.GetSeq())
	}
	return seqs
}

// Events reach every subscription in the order delivered, except those
// that hear cancels only, which alone hear cancels; only client
// subscriptions count.
func TestLocalSubsDeliverAndCancel(t *testing.T) {
	l := newLocalSubs[*testSub]()
	var heard []string
	client := newTestSub(l, 8, false, nil)
	internal := newTestSub(l, 8, true, nil)
	cancels := newTestSub(l, 8, true, func(id string) { heard = append(heard, id) })
	if n := l.clients(); n != 1 {
		t.Fatalf("clients %d, want 1", n)
	}
	for seq := range uint64(3) {
		l.deliver(userEvent(seq + 1))
	}
	l.cancel("r1")
	for name, s := range map[string]*testSub{"client": client, "internal": internal} {
		if got := queued(s); !slices.Equal(got, []uint64{1, 2, 3}) {
			t.Fatalf("%s subscription got %v, want [1 2 3]", name, got)
		}
	}
	if got := queued(cancels); len(got) != 0 {
		t.Fatalf("the cancel-only subscription got events %v", got)
	}
	if !slices.Equal(heard, []string{"r1"}) {
		t.Fatalf("cancels heard %v, want [r1]", heard)
	}
}

// A subscription whose queue is full is ended with ErrOverflow and
// removed; the others keep receiving. endAll ends the rest with its error.
func TestLocalSubsOverflowAndEnd(t *testing.T) {
	l := newLocalSubs[*testSub]()
	slow := newTestSub(l, 2, false, nil)
	fast := newTestSub(l, 2, false, nil)
	for seq := range uint64(5) {
		l.deliver(userEvent(seq + 1))
		if got := queued(fast); !slices.Equal(got, []uint64{seq + 1}) {
			t.Fatalf("fast subscription got %v, want [%d]", got, seq+1)
		}
	}
	if ended, err := slow.Ended(); !ended || !errors.Is(err, ErrOverflow) {
		t.Fatalf("slow subscription: ended %v, %v; want ErrOverflow", ended, err)
	}
	if l.len() != 1 || l.clients() != 1 {
		t.Fatalf("%d subscriptions (%d clients) left, want only the fast one", l.len(), l.clients())
	}
	l.endAll(ErrDeleted)
	if _, err := fast.Ended(); !errors.Is(err, ErrDeleted) || l.len() != 0 {
		t.Fatalf("after endAll: %v, %d left; want ErrDeleted and none", err, l.len())
	}
}
