package agent

import (
	"strings"
	"testing"

	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
)

func runEvent(seq uint64, kind string, a ...string) *agentv1.AgentEvent {
	ev := &agentv1.AgentEvent{RunSeq: seq}
	switch kind {
	case "started":
		ev.Kind = &agentv1.AgentEvent_RunStarted{RunStarted: &agentv1.RunStarted{RunId: "r"}}
	case "text":
		ev.Kind = &agentv1.AgentEvent_TextDelta{TextDelta: &agentv1.TextDelta{RunId: "r", Delta: a[0]}}
	case "start":
		ev.Kind = &agentv1.AgentEvent_ToolCallStart{ToolCallStart: &agentv1.ToolCallStart{RunId: "r", ToolCallId: a[0]}}
	case "args":
		ev.Kind = &agentv1.AgentEvent_ToolCallArgs{ToolCallArgs: &agentv1.ToolCallArgs{RunId: "r", ToolCallId: a[0], Delta: a[1]}}
	case "end":
		ev.Kind = &agentv1.AgentEvent_ToolCallEnd{ToolCallEnd: &agentv1.ToolCallEnd{RunId: "r", ToolCallId: a[0]}}
	}
	return ev
}

func describeRun(evs []*agentv1.AgentEvent) string {
	var out []string
	for _, ev := range evs {
		switch k := ev.GetKind().(type) {
		case *agentv1.AgentEvent_RunStarted:
			out = append(out, "started")
		case *agentv1.AgentEvent_TextDelta:
			out = append(out, "text:"+k.TextDelta.GetDelta())
		case *agentv1.AgentEvent_ToolCallStart:
			out = append(out, "start:"+k.ToolCallStart.GetToolCallId())
		case *agentv1.AgentEvent_ToolCallArgs:
			out = append(out, "args:"+k.ToolCallArgs.GetDelta())
		case *agentv1.AgentEvent_ToolCallEnd:
			out = append(out, "end:"+k.ToolCallEnd.GetToolCallId())
		}
		out[len(out)-1] += "@" + string(rune('0'+ev.GetRunSeq()))
	}
	return strings.Join(out, " ")
}

// What was delivered of a run, by bytes, leaves the same rest whether the
// engine's progress lists every event or folds them.
func TestUnsentCutsWhatWasDelivered(t *testing.T) {
	t.Parallel()
	// Delivered live: the run_started, "ab" of the text, call c's start
	// and `{"q` of its arguments (run_seq 1 to 5).
	var sent sentRun
	for _, ev := range []*agentv1.AgentEvent{
		runEvent(1, "started"), runEvent(2, "text", "a"), runEvent(3, "text", "b"),
		runEvent(4, "start", "c"), runEvent(5, "args", "c", `{"q`),
	} {
		sent.saw(ev)
	}
	listed := []*agentv1.AgentEvent{
		runEvent(1, "started"), runEvent(2, "text", "a"), runEvent(3, "text", "b"),
		runEvent(4, "start", "c"), runEvent(5, "args", "c", `{"q`), runEvent(6, "args", "c", `":1}`),
		runEvent(7, "text", "cd"), runEvent(8, "end", "c"),
	}
	folded := []*agentv1.AgentEvent{
		runEvent(1, "started"), runEvent(7, "text", "abcd"),
		runEvent(4, "start", "c"), runEvent(6, "args", "c", `{"q":1}`), runEvent(8, "end", "c"),
	}
	for name, tc := range map[string]struct {
		evs  []*agentv1.AgentEvent
		want string
	}{
		"listed": {listed, `text:cd@7 args:":1}@6 end:c@8`},
		"folded": {folded, `text:cd@7 args:":1}@6 end:c@8`},
	} {
		if got := describeRun(unsent(tc.evs, &sent, false)); got != tc.want {
			t.Errorf("%s: rest %s, want %s", name, got, tc.want)
		}
	}
	// A follower that saw nothing gets the run so far, its text as one.
	if got, want := describeRun(unsent(listed, &sentRun{}, false)), `started@1 text:abcd@7 start:c@4 args:{"q@5 args:":1}@6 end:c@8`; got != want {
		t.Errorf("joining: %s, want %s", got, want)
	}
	// Without deltas: no text at all.
	if got, want := describeRun(unsent(folded, &sentRun{}, true)), `started@1 start:c@4 args:{"q":1}@6 end:c@8`; got != want {
		t.Errorf("skipping deltas: %s, want %s", got, want)
	}
}
