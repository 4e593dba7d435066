package bridge

import (
	"testing"

	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// TestCodecHandsEachRequestOverOnce checks the codec's handles: one hands
// its message to one Unmarshal only, a handle with another secret hands
// over nothing, and a dropped handle is gone.
func TestCodecHandsEachRequestOverOnce(t *testing.T) {
	t.Parallel()
	c := NewCodec()
	in := &agentv1.SendMessageRequest{AgentId: "a1", Text: "hello"}
	h, n := c.put(nil, in)
	if len(h) != handleLen || n == 0 {
		t.Fatalf("handle %x (%d)", h, n)
	}
	forged := append([]byte(nil), h...)
	forged[len(forged)-1] ^= 1
	if err := c.Unmarshal(forged, new(agentv1.SendMessageRequest)); err == nil {
		t.Fatal("a handle with another secret was accepted")
	}
	if err := c.Unmarshal(h, new(agentv1.GetAgentRequest)); err == nil {
		t.Fatal("a SendMessageRequest went into a GetAgentRequest")
	}
	h, _ = c.put(nil, in)
	out := new(agentv1.SendMessageRequest)
	if err := c.Unmarshal(h, out); err != nil || !proto.Equal(in, out) {
		t.Fatalf("Unmarshal: %v, %v; want %v", err, out, in)
	}
	if err := c.Unmarshal(h, new(agentv1.SendMessageRequest)); err == nil {
		t.Fatal("a handle was used twice")
	}
	h, n = c.put(nil, in)
	c.drop(n)
	if err := c.Unmarshal(h, new(agentv1.SendMessageRequest)); err == nil {
		t.Fatal("a dropped handle was used")
	}
	if len(c.msgs) != 0 {
		t.Fatalf("%d messages left in the codec", len(c.msgs))
	}
	b, err := c.Marshal(&agentv1.GetAgentRequest{AgentId: "a1"})
	back := new(agentv1.GetAgentRequest)
	if err != nil || protojson.Unmarshal(b, back) != nil || back.GetAgentId() != "a1" {
		t.Fatalf("Marshal: %s, %v; want the request as protojson", b, err)
	}
}
