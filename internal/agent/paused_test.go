package agent

import (
	"slices"
	"testing"

	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
)

// TestPaused: a paused run, read back with what it still waits for, as
// answers come; no paused run once it went on.
func TestPaused(t *testing.T) {
	t.Parallel()
	s, _ := newToolService(t, Config{ToolApproval: []string{"clock"}})
	c := ctx(t)
	if p, err := s.Paused(c, "paused"); err != nil || p != nil {
		t.Fatalf("an agent without messages: %+v, %v", p, err)
	}
	res, err := s.Send(c, "paused", "call get_location {}; clock {}; shout {}", "", locationTool)
	if err != nil {
		t.Fatal(err)
	}
	calls := res.Reply.GetMessage().GetToolCalls()
	p, err := s.Paused(c, "paused")
	if err != nil || p == nil {
		t.Fatalf("the paused run: %+v, %v", p, err)
	}
	want := []Waiting{
		{ToolCallID: calls[0].GetToolCallId()},
		{ToolCallID: calls[1].GetToolCallId(), Decision: true, ApprovalID: calls[1].GetApprovalId()},
	}
	if !slices.Equal(p.Waiting, want) || p.Step.GetMessageId() != res.Reply.GetMessage().GetMessageId() ||
		p.StepSeq != res.Reply.GetSeq() || p.ReplyTo != res.Message.GetSeq() || p.RunID != res.Reply.GetMessage().GetRunId() ||
		len(p.Events) != 1 || p.Events[0].GetSeq() != res.Reply.GetSeq() {
		t.Fatalf("paused run %+v\nwaits for %+v, want %+v", p, p.Waiting, want)
	}

	// One answer: the run waits for the other, and the answer is among its
	// events.
	ans, err := s.SubmitToolResult(c, ToolResult{AgentID: "paused", ToolCallID: calls[0].GetToolCallId(), Output: "Lyon", Follow: true})
	if err != nil || ans.Resumed || ans.Follower != nil || len(ans.Appended) != 1 || ans.Appended[0] != ans.Event {
		t.Fatalf("the first answer: %+v, %v", ans, err)
	}
	p, err = s.Paused(c, "paused")
	if err != nil || p == nil || !slices.Equal(p.Waiting, want[1:]) || len(p.Events) != 2 || p.Events[1].GetToolCallResult() == nil {
		t.Fatalf("after one answer: %+v, %v", p, err)
	}
	// The same answer again, while the run waits: nothing to follow.
	dup, err := s.SubmitToolResult(c, ToolResult{AgentID: "paused", ToolCallID: calls[0].GetToolCallId(), Output: "Lyon", Follow: true})
	if err != nil || !dup.Duplicate || dup.Follower != nil {
		t.Fatalf("a duplicate while the run waits: %+v, %v; want no follower", dup, err)
	}

	// The last answer, a denial: the run goes on, and ends.
	ans, err = s.DecideToolCall(c, Decision{AgentID: "paused", ToolCallID: calls[1].GetToolCallId(), Reason: "no", Wait: true})
	if err != nil || !ans.Resumed || len(ans.Appended) != 2 || ans.Appended[1].GetToolCallResult().GetState() != agentv1.ToolCallState_TOOL_CALL_STATE_DENIED {
		t.Fatalf("the denial: %+v, %v", ans, err)
	}
	if p, err := s.Paused(c, "paused"); err != nil || p != nil {
		t.Fatalf("after the run ended: %+v, %v", p, err)
	}

	// Each answer again, now that the run went on: a follower that replays
	// what followed the original answer, to the run's end.
	for _, again := range []func() (Answer, error){
		func() (Answer, error) {
			return s.SubmitToolResult(c, ToolResult{AgentID: "paused", ToolCallID: calls[0].GetToolCallId(), Output: "Lyon", Follow: true})
		},
		func() (Answer, error) {
			return s.DecideToolCall(c, Decision{AgentID: "paused", ToolCallID: calls[1].GetToolCallId(), Reason: "no", Follow: true})
		},
	} {
		dup, err := again()
		if err != nil || !dup.Duplicate || dup.Follower == nil {
			t.Fatalf("a duplicate after the run went on: %+v, %v; want a follower", dup, err)
		}
		var got []string
		err = s.await(c, dup.Follower, func(ev *agentv1.AgentEvent) error {
			got = append(got, kindOf(ev))
			return nil
		})
		dup.Follower.Close()
		if err != nil {
			t.Fatal(err)
		}
		wantKinds := []string{"message"}
		if dup.Event.GetToolCallResult() != nil {
			wantKinds = []string{"tool_call_decision", "tool_call_result", "message"} // the denial came after
		}
		if !slices.Equal(got, wantKinds) {
			t.Fatalf("the duplicate of %s followed %v, want %v", kindOf(dup.Event), got, wantKinds)
		}
		if n := len(dup.Appended); dup.Event.GetToolCallDecision() != nil && (n != 2 || dup.Appended[1].GetToolCallResult() == nil) {
			t.Fatalf("the duplicate denial's events: %v", dup.Appended)
		}
	}
}
