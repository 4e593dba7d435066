package door

import (
	"strings"
	"testing"

	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
)

func textAt(run string, seq uint64, text string) *agentv1.AgentEvent {
	return &agentv1.AgentEvent{RunSeq: seq, Kind: &agentv1.AgentEvent_TextDelta{TextDelta: &agentv1.TextDelta{RunId: run, MessageId: "m-" + run, Delta: text}}}
}

// The adjacent deltas of a turn go out as one; anything else in between,
// another run's text, or a long text, cuts them.
func TestCoalescerJoinsAdjacentDeltas(t *testing.T) {
	t.Parallel()
	var got []string
	co := coalescer{emit: func(ev *agentv1.AgentEvent) {
		if d := ev.GetTextDelta(); d != nil {
			got = append(got, d.GetRunId()+":"+d.GetDelta()+"@"+string(rune('0'+ev.GetRunSeq())))
			return
		}
		got = append(got, "tool")
	}, sse: &SSE{}}
	for _, ev := range []*agentv1.AgentEvent{
		textAt("a", 1, "x"), textAt("a", 2, "y"), textAt("a", 3, "z"),
		{RunSeq: 4, Kind: &agentv1.AgentEvent_ToolCallStart{ToolCallStart: &agentv1.ToolCallStart{RunId: "a"}}},
		textAt("a", 5, "u"), textAt("b", 1, "v"), textAt("b", 2, "w"),
	} {
		if err := co.deliver(ev); err != nil {
			t.Fatal(err)
		}
	}
	co.flush()
	if want := "a:xyz@3 tool a:u@5 b:vw@2"; strings.Join(got, " ") != want {
		t.Fatalf("sent %q, want %q", strings.Join(got, " "), want)
	}
	got = nil
	long := strings.Repeat("x", maxHeld/2)
	for i := range 3 {
		_ = co.deliver(textAt("a", uint64(i+1), long))
	}
	co.flush()
	if len(got) != 2 || !strings.HasPrefix(got[0], "a:"+long+long+"@2") {
		t.Fatalf("a long text went out as %d pieces, want 2 of at most about %d bytes", len(got), maxHeld)
	}
}
