package enginetest

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/agentgate/agentgate/internal/engine"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// waitLimit bounds every wait of the suite: for an event, for a
// subscription to end, for a lease to expire. It is long enough for a
// loaded CI machine under -race, and only reached when an engine is broken.
const waitLimit = 10 * time.Second

// testCtx is a context for one test's engine calls, cancelled when the test
// ends.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 2*waitLimit)
	t.Cleanup(cancel)
	return ctx
}

// open creates an engine for one test and closes it when the test ends.
// Close is idempotent, so factories may register their own cleanup too.
func open(t *testing.T, newEngine func(*testing.T, engine.Config) engine.Engine, cfg engine.Config) engine.Engine {
	t.Helper()
	e := newEngine(t, cfg)
	t.Cleanup(func() { _ = e.Close() })
	return e
}

func userMsg(text string) *agentv1.AgentEvent {
	return &agentv1.AgentEvent{
		CreateTime: timestamppb.New(time.Unix(1_700_000_000, 0)),
		Kind: &agentv1.AgentEvent_Message{Message: &agentv1.Message{
			MessageId: "m-" + text,
			Role:      agentv1.Role_ROLE_USER,
			Text:      text,
		}},
	}
}

func replyMsg(text string, to uint64) *agentv1.AgentEvent {
	return &agentv1.AgentEvent{
		Kind: &agentv1.AgentEvent_Message{Message: &agentv1.Message{
			MessageId:  "r-" + text,
			Role:       agentv1.Role_ROLE_ASSISTANT,
			Text:       text,
			ReplyToSeq: to,
		}},
	}
}

func delta(agentID, text string) *agentv1.AgentEvent {
	return &agentv1.AgentEvent{
		AgentId: agentID,
		Kind:    &agentv1.AgentEvent_TextDelta{TextDelta: &agentv1.TextDelta{MessageId: "r", Delta: text}},
	}
}

// publish delivers ev, an ephemeral event, as a writer that does not hold
// the agent's lease would: PublishRun delivers it and records nothing.
func publish(ctx context.Context, e engine.Engine, agentID string, ev *agentv1.AgentEvent) error {
	return e.PublishRun(ctx, engine.Lease{AgentID: agentID}, ev)
}

// describe renders an event compactly for comparisons and failure messages:
// its seq and its text or delta.
func describe(ev *agentv1.AgentEvent) string {
	switch k := ev.GetKind().(type) {
	case *agentv1.AgentEvent_Message:
		return fmt.Sprintf("%d:%s", ev.GetSeq(), k.Message.GetText())
	case *agentv1.AgentEvent_TextDelta:
		return fmt.Sprintf("%d:~%s", ev.GetSeq(), k.TextDelta.GetDelta())
	default:
		return fmt.Sprintf("%d:%T", ev.GetSeq(), k)
	}
}

func appendUser(t *testing.T, e engine.Engine, agentID, text string) *agentv1.AgentEvent {
	t.Helper()
	ev, dup, err := appendKeyed(testCtx(t), e, agentID, userMsg(text), "")
	if err != nil {
		t.Fatalf("AppendUser(%s, %q): %v", agentID, text, err)
	}
	if dup {
		t.Fatalf("AppendUser(%s, %q) without a key reported a duplicate", agentID, text)
	}
	return ev
}

func subscribe(t *testing.T, e engine.Engine, agentID string, opts engine.SubscribeOptions) engine.Subscription {
	t.Helper()
	sub, err := e.Subscribe(testCtx(t), agentID, opts)
	if err != nil {
		t.Fatalf("Subscribe(%s): %v", agentID, err)
	}
	t.Cleanup(sub.Close)
	return sub
}

// next waits for the subscription's next event and fails the test if the
// subscription ends or nothing arrives within waitLimit.
func next(t *testing.T, sub engine.Subscription) *agentv1.AgentEvent {
	t.Helper()
	timer := time.NewTimer(waitLimit)
	defer timer.Stop()
	for {
		if ev, ok := sub.Next(); ok {
			return ev
		}
		select {
		case _, open := <-sub.Ready():
			if !open {
				if ev, ok := sub.Next(); ok {
					return ev
				}
				t.Fatalf("subscription ended (err %v) while an event was expected", sub.Err())
			}
		case <-timer.C:
			t.Fatalf("no event within %v", waitLimit)
		}
	}
}

// nextN takes n events.
func nextN(t *testing.T, sub engine.Subscription, n int) []*agentv1.AgentEvent {
	t.Helper()
	out := make([]*agentv1.AgentEvent, 0, n)
	for range n {
		out = append(out, next(t, sub))
	}
	return out
}

// drain takes events until the subscription ends and returns them with the
// reason it ended. It fails the test if the end does not come within
// waitLimit.
func drain(t *testing.T, sub engine.Subscription) ([]*agentv1.AgentEvent, error) {
	t.Helper()
	timer := time.NewTimer(waitLimit)
	defer timer.Stop()
	var got []*agentv1.AgentEvent
	for {
		for {
			ev, ok := sub.Next()
			if !ok {
				break
			}
			got = append(got, ev)
		}
		select {
		case _, open := <-sub.Ready():
			if !open {
				for {
					ev, ok := sub.Next()
					if !ok {
						return got, sub.Err()
					}
					got = append(got, ev)
				}
			}
		case <-timer.C:
			t.Fatalf("subscription did not end within %v (took %d events)", waitLimit, len(got))
		}
	}
}

// ended reports whether the subscription has ended, without waiting.
func ended(sub engine.Subscription) bool {
	select {
	case _, open := <-sub.Ready():
		return !open
	default:
		return false
	}
}

// eventually polls cond until it holds or waitLimit passes. It is only used
// to wait out lease TTLs of a few milliseconds, where there is no event to
// wait for.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, waitLimit)
		}
		time.Sleep(time.Millisecond)
	}
}

func sameEvent(t *testing.T, what string, got, want *agentv1.AgentEvent) {
	t.Helper()
	if !proto.Equal(got, want) {
		t.Fatalf("%s:\n got %v\nwant %v", what, got, want)
	}
}

func seqs(evs []*agentv1.AgentEvent) []uint64 {
	out := make([]uint64, len(evs))
	for i, ev := range evs {
		out[i] = ev.GetSeq()
	}
	return out
}

func descriptions(evs []*agentv1.AgentEvent) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = describe(ev)
	}
	return out
}

// clock is a settable clock for Config.Now, safe for concurrent use.
type clock struct{ ns atomic.Int64 }

func newClock(t time.Time) *clock {
	c := &clock{}
	c.set(t)
	return c
}

func (c *clock) set(t time.Time) { c.ns.Store(t.UnixNano()) }
func (c *clock) now() time.Time  { return time.Unix(0, c.ns.Load()) }

// appendKeyed is AppendUser with an idempotency key (or none) that takes
// no lease, as the tests of the log use it.
func appendKeyed(ctx context.Context, e engine.Log, agentID string, ev *agentv1.AgentEvent, key string) (*agentv1.AgentEvent, bool, error) {
	res, err := e.AppendUser(ctx, agentID, ev, engine.AppendOptions{IdempotencyKey: key})
	return res.Event, res.Duplicate, err
}

// appendReply is AppendReply that leaves the lease as it is.
func appendReply(ctx context.Context, e engine.Log, agentID string, ev *agentv1.AgentEvent, answers uint64, lease engine.Lease) (*agentv1.AgentEvent, error) {
	res, err := e.AppendReply(ctx, agentID, ev, answers, lease, engine.Claim{})
	return res.Event, err
}
