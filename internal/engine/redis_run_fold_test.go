package engine

import (
	"slices"
	"strconv"
	"testing"

	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
)

// TestFoldRecords checks how a pipeline's records merge: deltas of one
// kind, run and list in a row become one record with the newest run_seq;
// another kind, or any other call, starts a new record; another agent's
// records in between change nothing. Run folds the result back into the
// whole text and arguments.
func TestFoldRecords(t *testing.T) {
	text := func(key, run, d string, seq uint64) *pipeCall {
		return &pipeCall{fold: newFoldPost(key, &agentv1.AgentEvent{RunSeq: seq, Kind: &agentv1.AgentEvent_TextDelta{TextDelta: &agentv1.TextDelta{RunId: run, Delta: d}}})}
	}
	args := func(key, d string, seq uint64) *pipeCall {
		return &pipeCall{fold: newFoldPost(key, &agentv1.AgentEvent{RunSeq: seq, Kind: &agentv1.AgentEvent_ToolCallArgs{ToolCallArgs: &agentv1.ToolCallArgs{RunId: "r", ToolCallId: "t1", Delta: d}}})}
	}
	batch := []*pipeCall{
		text("a", "r", "he", 2), text("b", "r", "other agent", 2), text("a", "r", "llo", 3),
		{}, // another call: ends the merges
		text("a", "r", " wor", 5), args("a", `{"q":`, 6), args("a", `1}`, 7), text("a", "r", "ld", 8),
		text("a", "stale", "x", 9),
	}
	foldRecords(batch)
	var records []string
	for _, c := range batch {
		if c.fold != nil && !c.fold.merged && c.fold.key == "a" {
			records = append(records, string(c.fold.record()))
		}
	}
	if len(records) != 5 {
		t.Fatalf("%d records for agent a, want 5 (he+llo, wor, args, ld, the stale one)", len(records))
	}
	start := &agentv1.AgentEvent{RunSeq: 1, Kind: &agentv1.AgentEvent_RunStarted{RunStarted: &agentv1.RunStarted{RunId: "r", MessageId: "m"}}}
	b, _ := encodeEvent(start)
	toolStart := &agentv1.AgentEvent{RunSeq: 4, Kind: &agentv1.AgentEvent_ToolCallStart{ToolCallStart: &agentv1.ToolCallStart{RunId: "r", ToolCallId: "t1"}}}
	ts, _ := encodeEvent(toolStart)
	list := append([]string{"r", b, ts}, records...)
	evs, err := runFromList("a", list)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ev := range evs {
		got = append(got, describeRun(ev))
	}
	want := []string{"start 1", "text hello world 8", "tool t1 4", "args t1 {\"q\":1} 7"}
	if !slices.Equal(got, want) {
		t.Fatalf("Run from the records: %q, want %q", got, want)
	}
}

func encodeEvent(ev *agentv1.AgentEvent) (string, error) {
	b, err := encodeForAppend(ev, "a")
	return string(b), err
}

func describeRun(ev *agentv1.AgentEvent) string {
	switch k := ev.GetKind().(type) {
	case *agentv1.AgentEvent_RunStarted:
		return "start " + itoa(ev.GetRunSeq())
	case *agentv1.AgentEvent_TextDelta:
		return "text " + k.TextDelta.GetDelta() + " " + itoa(ev.GetRunSeq())
	case *agentv1.AgentEvent_ToolCallStart:
		return "tool " + k.ToolCallStart.GetToolCallId() + " " + itoa(ev.GetRunSeq())
	case *agentv1.AgentEvent_ToolCallArgs:
		return "args " + k.ToolCallArgs.GetToolCallId() + " " + k.ToolCallArgs.GetDelta() + " " + itoa(ev.GetRunSeq())
	}
	return "other"
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }
