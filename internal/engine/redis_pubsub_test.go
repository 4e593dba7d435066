package engine

import (
	"testing"

	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// isTextDelta tells a text delta from every other event by its tags
// alone, whatever fields come with it, and calls nothing else one.
func TestIsTextDelta(t *testing.T) {
	if n := (&agentv1.AgentEvent{}).ProtoReflect().Descriptor().Fields().ByName("text_delta").Number(); n != textDeltaField {
		t.Fatalf("text_delta is field %d, textDeltaField %d", n, textDeltaField)
	}
	now := timestamppb.Now()
	for _, tc := range []struct {
		ev   *agentv1.AgentEvent
		want bool
	}{
		{&agentv1.AgentEvent{Kind: &agentv1.AgentEvent_TextDelta{TextDelta: &agentv1.TextDelta{}}}, true},
		{&agentv1.AgentEvent{AgentId: "a", CreateTime: now, Epoch: "e", RunSeq: 300,
			Kind: &agentv1.AgentEvent_TextDelta{TextDelta: &agentv1.TextDelta{RunId: "r", MessageId: "m", Delta: "long enough to need a two-byte length: " + string(make([]byte, 200))}}}, true},
		{&agentv1.AgentEvent{Seq: 7, AgentId: "a", CreateTime: now,
			Kind: &agentv1.AgentEvent_Message{Message: &agentv1.Message{Text: "a text delta in words only"}}}, false},
		{&agentv1.AgentEvent{AgentId: "a", RunSeq: 1, Kind: &agentv1.AgentEvent_RunStarted{RunStarted: &agentv1.RunStarted{RunId: "r"}}}, false},
		{&agentv1.AgentEvent{AgentId: "a", RunSeq: 2, Kind: &agentv1.AgentEvent_ToolCallArgs{ToolCallArgs: &agentv1.ToolCallArgs{Delta: "{}"}}}, false},
		{&agentv1.AgentEvent{}, false},
	} {
		b, err := proto.Marshal(tc.ev)
		if err != nil {
			t.Fatal(err)
		}
		if got := isTextDelta(string(b)); got != tc.want {
			t.Errorf("isTextDelta(%v) = %v, want %v", tc.ev, got, tc.want)
		}
	}
	for _, bad := range []string{"\xff", "\x0a\x05ab", "\x0b", "\x61\x00"} {
		if isTextDelta(bad) {
			t.Errorf("isTextDelta(%q) = true for a body that is no event", bad)
		}
	}
}
