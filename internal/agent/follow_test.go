package agent

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/agentgate/agentgate/internal/engine"
)

// collectEvents pumps what waits and describes it.
func collectEvents(t *testing.T, f *Follower) []string {
	t.Helper()
	var got []string
	emit := func(ev *agentv1.AgentEvent) error {
		switch {
		case ev.GetRunStarted() != nil:
			got = append(got, "started")
		case ev.GetTextDelta() != nil:
			got = append(got, "text:"+ev.GetTextDelta().GetDelta())
		case ev.GetSeq() != 0:
			got = append(got, "persisted")
		}
		return nil
	}
	select {
	case <-f.Ready():
	case <-time.After(5 * time.Second):
	}
	if err := f.Pump(ctx(t), emit); err != nil {
		t.Fatal(err)
	}
	return got
}

// A follower that saw a run live and joins it again (as a resume after a
// store outage does) gets only the run's events it did not see.
func TestRejoinSendsOnlyWhatWasMissed(t *testing.T) {
	t.Parallel()
	s, eng := newService(t, Config{})
	c := ctx(t)
	if _, err := eng.AppendUser(c, "rejoin", s.userEvent("hi", ""), engine.AppendOptions{}); err != nil {
		t.Fatal(err)
	}
	// Hold the lease: no worker answers, the test writes the run itself.
	lease, ok, err := eng.AcquireLease(c, "rejoin", time.Minute)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	f, err := s.Follow(c, "rejoin", FollowOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := newRunStream(context.Background(), s, lease, "run-1", "reply-1")
	_ = out.started(1)
	_ = out.Text("one ")
	if got := strings.Join(collectEvents(t, f), " "); got != "started text:one " {
		t.Fatalf("live: %q", got)
	}
	_ = out.Text("two ")
	// Joining again now: the second delta is new, the rest was seen.
	var rejoined []string
	if err := f.joinRun(c, func(ev *agentv1.AgentEvent) error {
		rejoined = append(rejoined, ev.GetTextDelta().GetDelta())
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if strings.Join(rejoined, "|") != "two " {
		t.Fatalf("rejoin sent %q, want only the delta not seen", rejoined)
	}
	// The live copy of that delta is not sent twice.
	_ = out.Text("three")
	if got := strings.Join(collectEvents(t, f), " "); got != "text:three" {
		t.Fatalf("after the rejoin: %q, want only the next delta", got)
	}
}

// flakyStore is a memory engine whose subscriptions can be broken and
// whose next reads can fail, as a Redis that goes away and comes back
// does: its pub/sub answers again before every pooled connection does.
type flakyStore struct {
	engine.Engine
	mu        sync.Mutex
	failReads int
	subs      []*breakableSub
}

func (s *flakyStore) Read(ctx context.Context, agentID string, after uint64, limit int) (engine.Page, error) {
	s.mu.Lock()
	fail := s.failReads > 0
	if fail {
		s.failReads--
	}
	s.mu.Unlock()
	if fail {
		return engine.Page{}, fmt.Errorf("%w: the store is still coming back", engine.ErrUnavailable)
	}
	return s.Engine.Read(ctx, agentID, after, limit)
}

func (s *flakyStore) Subscribe(ctx context.Context, agentID string, opts engine.SubscribeOptions) (engine.Subscription, error) {
	sub, err := s.Engine.Subscribe(ctx, agentID, opts)
	if err != nil {
		return nil, err
	}
	b := &breakableSub{Subscription: sub, broken: make(chan struct{})}
	s.mu.Lock()
	s.subs = append(s.subs, b)
	s.mu.Unlock()
	return b, nil
}

// outage breaks every subscription and fails the next reads reads.
func (s *flakyStore) outage(reads int) {
	s.mu.Lock()
	subs := s.subs
	s.subs, s.failReads = nil, reads
	s.mu.Unlock()
	for _, b := range subs {
		b.brk()
	}
}

// breakableSub is a subscription that ends with ErrUnavailable when
// broken.
type breakableSub struct {
	engine.Subscription
	mu     sync.Mutex
	notify func()
	broken chan struct{}
	once   sync.Once
}

func (b *breakableSub) brk() {
	b.once.Do(func() {
		close(b.broken)
		b.mu.Lock()
		fn := b.notify
		b.mu.Unlock()
		if fn != nil {
			fn()
		}
	})
}

func (b *breakableSub) isBroken() bool {
	select {
	case <-b.broken:
		return true
	default:
		return false
	}
}

func (b *breakableSub) Ready() <-chan struct{} {
	if b.isBroken() {
		return b.broken
	}
	return b.Subscription.Ready()
}

func (b *breakableSub) Next() (*agentv1.AgentEvent, bool) {
	if b.isBroken() {
		return nil, false
	}
	return b.Subscription.Next()
}

func (b *breakableSub) Err() error {
	if b.isBroken() {
		return fmt.Errorf("%w: pub/sub connection lost", engine.ErrUnavailable)
	}
	return b.Subscription.Err()
}

func (b *breakableSub) Notify(fn func()) {
	b.mu.Lock()
	b.notify = fn
	b.mu.Unlock()
	b.Subscription.Notify(fn)
}

// A store that answers the new subscription but not yet the reads after
// it is still away: the follower tries again later rather than ending, and
// then delivers what was appended meanwhile, once.
func TestResumeRetriesWhenTheReadsAfterItFail(t *testing.T) {
	t.Parallel()
	mem := engine.NewMemory(engine.Config{})
	store := &flakyStore{Engine: mem}
	s := New(Config{Engine: store, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	t.Cleanup(func() {
		s.Close()
		_ = mem.Close()
	})
	c := ctx(t)
	zero := uint64(0)
	f, err := s.Follow(c, "flaky", FollowOptions{After: &zero})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	kicks := make(chan struct{}, 16)
	f.Notify(func() {
		select {
		case kicks <- struct{}{}:
		default:
		}
	})
	var seqs []uint64
	emit := func(ev *agentv1.AgentEvent) error {
		if ev.GetSeq() != 0 {
			seqs = append(seqs, ev.GetSeq())
		}
		return nil
	}
	if err := f.Start(c, emit); err != nil {
		t.Fatal(err)
	}

	store.outage(1)
	// Appended while the follower's subscription is down: only the log has it.
	if _, err := mem.AppendUser(c, "flaky", s.userEvent("meanwhile", ""), engine.AppendOptions{}); err != nil {
		t.Fatal(err)
	}
	for len(seqs) == 0 {
		select {
		case <-kicks:
		case <-c.Done():
			t.Fatal("the follower never delivered what was appended during the outage")
		}
		if err := f.Pump(c, emit); err != nil {
			t.Fatalf("Pump after the outage: %v; want a later retry, not an ending", err)
		}
	}
	if seqs[0] != 1 {
		t.Fatalf("delivered seqs %v; want the message appended during the outage first", seqs)
	}
}
