package agent

import (
	"context"
	"strings"
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
