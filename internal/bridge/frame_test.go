package bridge

import (
	"encoding/json"
	"testing"

	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"google.golang.org/protobuf/types/dynamicpb"
)

func TestAppendJSONString(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "plain", `"quoted" \ back`, "tab\tnew\nline\r", "\x00\x1f", "é ☃ 🙂", "\u2028\u2029", "bad \xff utf-8", "<&>"} {
		b := appendJSONString(nil, s)
		var got string
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("%q encodes to %s, not JSON: %v", s, b, err)
		}
		want, _ := json.Marshal(s)
		var wantS string
		_ = json.Unmarshal(want, &wantS)
		if got != wantS {
			t.Fatalf("%q round-trips to %q, want %q", s, got, wantS)
		}
	}
}

// TestParseFrame covers what the fuzz target cannot check by itself: the
// fields each kind of frame yields.
func TestParseFrame(t *testing.T) {
	t.Parallel()
	f, err := parseFrame([]byte(` {"id":"c1","method":"GetHistory","request":{"limit":5}} `))
	if err != nil || f.id != "c1" || !f.hasID || f.method != "GetHistory" || string(f.request) != `{"limit":5}` {
		t.Fatalf("call frame: %+v, %v", f, err)
	}
	f, err = parseFrame([]byte(`{"id":"c1","cancel":true}`))
	if err != nil || !f.cancel || f.id != "c1" {
		t.Fatalf("cancel frame: %+v, %v", f, err)
	}
	f, err = parseFrame([]byte(`{"method":"GetAgent","request":null}`))
	if err != nil || f.hasID || f.request != nil {
		t.Fatalf("frame without id and with a null request: %+v, %v", f, err)
	}
	f, err = parseFrame([]byte("hi {there}"))
	if err != nil || !f.shorthand || f.text != "hi {there}" {
		t.Fatalf("shorthand: %+v, %v", f, err)
	}
	f, err = parseFrame([]byte(`{"id":"c9","method":5}`))
	if err == nil || f.id != "c9" {
		t.Fatalf("a bad method must still report the id: %+v, %v", f, err)
	}
}

// TestGeneratedTypesAreUsed checks that AgentService's messages decode into
// their generated Go types, not dynamic ones, which are slower.
func TestGeneratedTypesAreUsed(t *testing.T) {
	t.Parallel()
	ms, err := newMethods(agentv1.File_agent_v1_agent_proto.Services().ByName("AgentService"), "SendMessage", "text")
	if err != nil {
		t.Fatal(err)
	}
	for name, m := range ms.byName {
		if _, dynamic := m.in.New().Interface().(*dynamicpb.Message); dynamic {
			t.Errorf("%s decodes into a dynamic message", name)
		}
	}
	if ms.text == nil || ms.byName["Converse"].refused == "" || ms.byName["Subscribe"].agentID == nil || ms.byName["ListAgents"].agentID != nil {
		t.Fatalf("method table: %+v", ms.byName)
	}
}

func testEvent() *agentv1.AgentEvent {
	return &agentv1.AgentEvent{Seq: 7, AgentId: "a1", Kind: &agentv1.AgentEvent_Message{Message: &agentv1.Message{
		MessageId: "m1", Role: agentv1.Role_ROLE_USER, Text: "hello",
	}}}
}

// TestEventFramesAreShared checks that an event is encoded once for every
// socket, and that evicted events are encoded again.
func TestEventFramesAreShared(t *testing.T) {
	t.Parallel()
	c := newEventFrames()
	ev := testEvent()
	a, err := c.frame(ev)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := c.frame(ev)
	if &a[0] != &b[0] {
		t.Fatal("the same event was encoded twice")
	}
	var got struct {
		Event struct {
			Seq     string `json:"seq"`
			Message struct{ Text string }
		}
	}
	if err := json.Unmarshal(a, &got); err != nil || got.Event.Seq != "7" || got.Event.Message.Text != "hello" {
		t.Fatalf("frame %s: %v", a, err)
	}
	for range eventCacheSize {
		if _, err := c.frame(testEvent()); err != nil {
			t.Fatal(err)
		}
	}
	if len(c.m) != eventCacheSize {
		t.Fatalf("cache holds %d events, want %d", len(c.m), eventCacheSize)
	}
	if again, _ := c.frame(ev); &again[0] == &a[0] {
		t.Fatal("an evicted event's frame was still cached")
	}
}
