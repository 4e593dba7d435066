package engine

import (
	"testing"

	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// TestCloneEventKeepsEveryField fills every field of AgentEvent, each
// member of its oneof in turn, and checks that cloneEvent keeps it, and
// that setting the clone's seq and agent id leaves the original alone. A
// field added to AgentEvent is filled too, so cloneEvent cannot miss it.
func TestCloneEventKeepsEveryField(t *testing.T) {
	fields := (&agentv1.AgentEvent{}).ProtoReflect().Descriptor().Fields()
	var kinds []protoreflect.FieldDescriptor
	for i := range fields.Len() {
		if fd := fields.Get(i); fd.ContainingOneof() != nil {
			kinds = append(kinds, fd)
		}
	}
	if len(kinds) == 0 {
		t.Fatal("AgentEvent has no oneof members")
	}
	for _, kind := range kinds {
		ev := &agentv1.AgentEvent{}
		m := ev.ProtoReflect()
		for i := range fields.Len() {
			fd := fields.Get(i)
			if fd.ContainingOneof() != nil && fd != kind {
				continue
			}
			m.Set(fd, sampleValue(t, m, fd))
		}
		m.SetUnknown(protowire.AppendVarint(protowire.AppendTag(nil, 99, protowire.VarintType), 1))
		orig := proto.Clone(ev)

		c := cloneEvent(ev)
		if !proto.Equal(c, orig) {
			t.Fatalf("%s: clone %v, want %v", kind.Name(), c, orig)
		}
		c.Seq, c.AgentId = 12345, "other"
		if !proto.Equal(ev, orig) {
			t.Fatalf("%s: changing the clone changed the original: %v", kind.Name(), ev)
		}
	}
}

// sampleValue is a value for fd that is not its default.
func sampleValue(t *testing.T, m protoreflect.Message, fd protoreflect.FieldDescriptor) protoreflect.Value {
	t.Helper()
	if fd.IsList() || fd.IsMap() {
		t.Fatalf("field %s: lists and maps are not filled yet; extend sampleValue", fd.Name())
	}
	switch fd.Kind() {
	case protoreflect.Uint64Kind:
		return protoreflect.ValueOfUint64(7)
	case protoreflect.StringKind:
		return protoreflect.ValueOfString("x")
	case protoreflect.MessageKind:
		// An empty message is still present: enough to tell it was kept.
		return protoreflect.ValueOfMessage(m.NewField(fd).Message())
	default:
		t.Fatalf("field %s: kind %v is not filled yet; extend sampleValue", fd.Name(), fd.Kind())
		return protoreflect.Value{}
	}
}
