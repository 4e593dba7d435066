package pbjson

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"go.uber.org/goleak"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// same checks that e writes m as protojson does: the same bytes once
// protojson's random spaces are taken out, or an error where protojson
// has one.
func same(t *testing.T, e *Encoder, m proto.Message) {
	t.Helper()
	want, werr := protojson.Marshal(m)
	got, gerr := e.Append([]byte("prefix"), m)
	if (werr != nil) != (gerr != nil) {
		t.Fatalf("%T: error %v, protojson's %v\nmessage: %v", m, gerr, werr, m)
	}
	if werr != nil {
		return
	}
	if !bytes.HasPrefix(got, []byte("prefix")) {
		t.Fatalf("%T: Append dropped what b held: %q", m, got)
	}
	// What pbjson leaves to protojson has protojson's random spaces.
	if got, want = compact(t, got[len("prefix"):]), compact(t, want); !bytes.Equal(got, want) {
		t.Fatalf("%T:\n got  %s\n want %s", m, got, want)
	}
}

func compact(t *testing.T, b []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	if err := json.Compact(&out, b); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	return out.Bytes()
}

// TestAgentMessages writes every message type of the agent service,
// filled at random a few hundred times each, as protojson does.
func TestAgentMessages(t *testing.T) {
	t.Parallel()
	var e Encoder
	rng := rand.New(rand.NewPCG(1, 2))
	files := []protoreflect.FileDescriptor{agentv1.File_agent_v1_event_proto, agentv1.File_agent_v1_agent_proto}
	n := 0
	for _, fd := range files {
		for i := range fd.Messages().Len() {
			md := fd.Messages().Get(i)
			mt, err := protoregistry.GlobalTypes.FindMessageByName(md.FullName())
			if err != nil {
				t.Fatal(err)
			}
			for range 300 {
				m := mt.New()
				fill(rng, m, 3)
				same(t, &e, m.Interface())
				n++
			}
		}
	}
	if n < 3000 {
		t.Errorf("only %d messages written; the agent service has lost its types?", n)
	}
}

// TestEvents writes the events a socket sends most, by hand.
func TestEvents(t *testing.T) {
	t.Parallel()
	var e Encoder
	at := timestamppb.New(time.Date(2026, 5, 1, 12, 30, 15, 123456789, time.UTC))
	for _, ev := range []*agentv1.AgentEvent{
		{},
		{Seq: 41, AgentId: "a-1", CreateTime: at, Epoch: "EP", Kind: &agentv1.AgentEvent_Message{Message: &agentv1.Message{
			MessageId: "m1", Role: agentv1.Role_ROLE_USER, Text: "hello \"quoted\" \\ \n\t\u2028 <&> é 😀 \x01\x1f", ClientMessageId: "c1"}}},
		{Seq: 42, CreateTime: &timestamppb.Timestamp{Seconds: 1}, Kind: &agentv1.AgentEvent_Message{Message: &agentv1.Message{
			Role: agentv1.Role_ROLE_ASSISTANT, Text: "echo", ReplyToSeq: 41}}},
		{RunSeq: 2, Kind: &agentv1.AgentEvent_TextDelta{TextDelta: &agentv1.TextDelta{}}},
		{Kind: &agentv1.AgentEvent_Heartbeat{Heartbeat: &agentv1.Heartbeat{}}},
	} {
		same(t, &e, ev)
		same(t, &e, &agentv1.SendMessageResponse{Message: ev, Reply: ev, Duplicate: true})
	}
	same(t, &e, (*agentv1.AgentEvent)(nil))
	if got, err := e.Append(nil, nil); err != nil || string(got) != "{}" {
		t.Errorf("Append(nil) = %s, %v", got, err)
	}
}

// TestOddMessages writes what the struct path leaves to protoreflect: a
// oneof holding a nil message, nil elements of a list, a message known by
// its descriptor only.
func TestOddMessages(t *testing.T) {
	t.Parallel()
	var e Encoder
	dyn := dynamicpb.NewMessage((&agentv1.AgentEvent{}).ProtoReflect().Descriptor())
	dyn.Set(dyn.Descriptor().Fields().ByName("seq"), protoreflect.ValueOfUint64(7))
	for _, m := range []proto.Message{
		&agentv1.AgentEvent{Seq: 1, Kind: &agentv1.AgentEvent_Message{}},
		&agentv1.SendMessageResponse{Message: &agentv1.AgentEvent{Kind: &agentv1.AgentEvent_RunStarted{}}, Reply: &agentv1.AgentEvent{Seq: 2}},
		&agentv1.AgentEvent{Kind: &agentv1.AgentEvent_Message{Message: &agentv1.Message{Text: "t", ToolCalls: []*agentv1.ToolCall{{Name: "a"}, nil, {Name: "b"}}}}},
		&agentv1.GetHistoryResponse{Events: []*agentv1.AgentEvent{{Seq: 1}, nil}},
		dyn,
	} {
		same(t, &e, m)
	}
}

// TestStructPlans checks that every message type of the agent service is
// read from its Go struct, the fast path: a field added to them later is
// planned from the tags like the others.
func TestStructPlans(t *testing.T) {
	t.Parallel()
	var e Encoder
	for _, fd := range []protoreflect.FileDescriptor{agentv1.File_agent_v1_event_proto, agentv1.File_agent_v1_agent_proto} {
		for i := range fd.Messages().Len() {
			md := fd.Messages().Get(i)
			if p := e.plan(md); p.fast == nil && !p.protojson {
				t.Errorf("%s is read through protoreflect, not from its struct", md.FullName())
			}
		}
	}
	if p := e.plan((&timestamppb.Timestamp{}).ProtoReflect().Descriptor()); p.fast == nil {
		t.Error("Timestamp is read through protoreflect, not from its struct")
	}
}

// TestTimestamps writes the fractions protojson shortens and the bounds it
// refuses.
func TestTimestamps(t *testing.T) {
	t.Parallel()
	var e Encoder
	for _, ts := range []*timestamppb.Timestamp{
		{}, {Seconds: 1, Nanos: 1}, {Nanos: 10}, {Nanos: 1000}, {Nanos: 1_000_000}, {Nanos: 100_000_000},
		{Nanos: 120_000_000}, {Nanos: 123_400_000}, {Nanos: 999_999_999}, {Seconds: -1},
		{Seconds: minTimestampSeconds}, {Seconds: maxTimestampSeconds, Nanos: 999_999_999},
		{Seconds: minTimestampSeconds - 1}, {Seconds: maxTimestampSeconds + 1}, {Nanos: -1}, {Nanos: 1e9},
	} {
		same(t, &e, ts)
		same(t, &e, &agentv1.AgentEvent{CreateTime: ts})
	}
}

// TestFloats writes the numbers protojson writes in its own ways, through
// the float and double wrappers' plans' fallback and through a message of
// the test's own, which a plan covers.
func TestFloats(t *testing.T) {
	t.Parallel()
	var e Encoder
	md := testMessage(t)
	values := []float64{0, math.Copysign(0, -1), 1, -1.5, 1e-7, 1e-6, 123456789, 1e20, 1e21, 1e300, 5e-324,
		math.MaxFloat32, math.SmallestNonzeroFloat32, math.NaN(), math.Inf(1), math.Inf(-1), 0.1, 1.0 / 3}
	for _, v := range values {
		m := dynamicpb.NewMessage(md)
		m.Set(md.Fields().ByName("d"), protoreflect.ValueOfFloat64(v))
		m.Set(md.Fields().ByName("f"), protoreflect.ValueOfFloat32(float32(v)))
		same(t, &e, m)
		same(t, &e, wrapperspb.Double(v))
	}
}

// TestFallback writes what no plan covers (protojson does) inside and
// outside of what a plan covers.
func TestFallback(t *testing.T) {
	t.Parallel()
	var e Encoder
	st, err := structpb.NewStruct(map[string]any{"a": 1, "b": []any{"x", true, nil}})
	if err != nil {
		t.Fatal(err)
	}
	anyMsg, err := anypb.New(&agentv1.TextDelta{Delta: "d"})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []proto.Message{
		st, anyMsg, durationpb.New(1500 * time.Millisecond), wrapperspb.String("s"),
		&descriptorpb.FileDescriptorProto{Name: proto.String("f.proto"), Options: &descriptorpb.FileOptions{JavaPackage: proto.String("p")}},
	} {
		same(t, &e, m)
	}
	// A map, and required fields: dynamic messages of the test's own.
	md := testMessage(t)
	m := dynamicpb.NewMessage(md)
	m.Set(md.Fields().ByName("s"), protoreflect.ValueOfString("outer"))
	inner := dynamicpb.NewMessage(md.Fields().ByName("child").Message())
	mp := inner.Mutable(inner.Descriptor().Fields().ByName("labels")).Map()
	mp.Set(protoreflect.ValueOfString("z").MapKey(), protoreflect.ValueOfString("1"))
	mp.Set(protoreflect.ValueOfString("a").MapKey(), protoreflect.ValueOfString("2"))
	m.Set(md.Fields().ByName("child"), protoreflect.ValueOfMessage(inner))
	same(t, &e, m)
	if p := e.plan(inner.Descriptor()); !p.protojson {
		t.Error("a message with a map was planned")
	}
	if p := e.plan(md); p.protojson {
		t.Error("a message with a child that has a map was left to protojson")
	}
}

// TestInvalidUTF8 fails as protojson does on a string that is not UTF-8.
func TestInvalidUTF8(t *testing.T) {
	t.Parallel()
	var e Encoder
	m := &agentv1.AgentEvent{Kind: &agentv1.AgentEvent_TextDelta{TextDelta: &agentv1.TextDelta{Delta: "a\xffb"}}}
	if _, err := protojson.Marshal(m); err == nil {
		t.Fatal("protojson wrote invalid UTF-8")
	}
	if _, err := e.Append(nil, m); err == nil || !strings.Contains(err.Error(), "UTF-8") {
		t.Errorf("Append = %v, want an error about UTF-8", err)
	}
}

// TestConcurrent has several goroutines plan and write at once (run with
// -race).
func TestConcurrent(t *testing.T) {
	t.Parallel()
	var e Encoder
	done := make(chan struct{})
	for g := range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			rng := rand.New(rand.NewPCG(uint64(g), 9))
			for range 50 {
				m := &agentv1.SendMessageResponse{}
				fill(rng, m.ProtoReflect(), 3)
				if _, err := e.Append(nil, m); err != nil {
					if _, perr := protojson.Marshal(m); perr == nil {
						t.Error(err)
					}
				}
			}
		}()
	}
	for range 4 {
		<-done
	}
}

// FuzzAgentEvent writes any AgentEvent the wire can carry as protojson
// does.
func FuzzAgentEvent(f *testing.F) {
	for _, ev := range []*agentv1.AgentEvent{
		{Seq: 1, AgentId: "a", CreateTime: timestamppb.Now(), Kind: &agentv1.AgentEvent_Message{Message: &agentv1.Message{Text: "t\n", Role: agentv1.Role_ROLE_USER}}},
		{RunSeq: 3, Kind: &agentv1.AgentEvent_TextDelta{TextDelta: &agentv1.TextDelta{Delta: "é"}}},
	} {
		b, err := proto.Marshal(ev)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	var e Encoder
	f.Fuzz(func(t *testing.T, data []byte) {
		var ev agentv1.AgentEvent
		if proto.Unmarshal(data, &ev) != nil {
			return
		}
		same(t, &e, &ev)
	})
}

func BenchmarkAppend(b *testing.B) {
	at := timestamppb.Now()
	res := &agentv1.SendMessageResponse{
		Message: &agentv1.AgentEvent{Seq: 41, AgentId: "rtt-abc-12", CreateTime: at, Epoch: "EPOCHABCDEFGHIJKLMNOPQRSTU",
			Kind: &agentv1.AgentEvent_Message{Message: &agentv1.Message{MessageId: "MSGIDABCDEFGHIJKLMNOPQRSTU", Role: agentv1.Role_ROLE_USER, Text: "hello 1234"}}},
		Reply: &agentv1.AgentEvent{Seq: 42, AgentId: "rtt-abc-12", CreateTime: at, Epoch: "EPOCHABCDEFGHIJKLMNOPQRSTU",
			Kind: &agentv1.AgentEvent_Message{Message: &agentv1.Message{MessageId: "MSGIDABCDEFGHIJKLMNOPQRSTV", Role: agentv1.Role_ROLE_ASSISTANT, Text: "echo: hello 1234", ReplyToSeq: 41}}},
	}
	buf := make([]byte, 0, 1024)
	b.Run("pbjson", func(b *testing.B) {
		var e Encoder
		b.ReportAllocs()
		for b.Loop() {
			buf, _ = e.Append(buf[:0], res)
		}
	})
	b.Run("protojson", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			buf, _ = protojson.MarshalOptions{}.MarshalAppend(buf[:0], res)
		}
	})
}

// testMessage is a message type of the test's own, for what the agent
// service's types lack: floats, a map, a proto2 required field.
//
//	syntax = "proto3"; package pbjsontest;
//	message T { string s = 1; double d = 2; float f = 3; Child child = 4; }
//	message Child { map<string, string> labels = 1; }
func testMessage(t *testing.T) protoreflect.MessageDescriptor {
	t.Helper()
	str := descriptorpb.FieldDescriptorProto_TYPE_STRING.Enum()
	opt := descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum()
	fdp := &descriptorpb.FileDescriptorProto{
		Name: proto.String("pbjsontest.proto"), Package: proto.String("pbjsontest"), Syntax: proto.String("proto3"),
		MessageType: []*descriptorpb.DescriptorProto{
			{Name: proto.String("T"), Field: []*descriptorpb.FieldDescriptorProto{
				{Name: proto.String("s"), Number: proto.Int32(1), Type: str, Label: opt, JsonName: proto.String("s")},
				{Name: proto.String("d"), Number: proto.Int32(2), Type: descriptorpb.FieldDescriptorProto_TYPE_DOUBLE.Enum(), Label: opt, JsonName: proto.String("d")},
				{Name: proto.String("f"), Number: proto.Int32(3), Type: descriptorpb.FieldDescriptorProto_TYPE_FLOAT.Enum(), Label: opt, JsonName: proto.String("f")},
				{Name: proto.String("child"), Number: proto.Int32(4), Type: descriptorpb.FieldDescriptorProto_TYPE_MESSAGE.Enum(), Label: opt,
					TypeName: proto.String(".pbjsontest.Child"), JsonName: proto.String("child")},
			}},
			{Name: proto.String("Child"), Field: []*descriptorpb.FieldDescriptorProto{
				{Name: proto.String("labels"), Number: proto.Int32(1), Type: descriptorpb.FieldDescriptorProto_TYPE_MESSAGE.Enum(),
					Label: descriptorpb.FieldDescriptorProto_LABEL_REPEATED.Enum(), TypeName: proto.String(".pbjsontest.Child.LabelsEntry"), JsonName: proto.String("labels")},
			}, NestedType: []*descriptorpb.DescriptorProto{{
				Name: proto.String("LabelsEntry"), Options: &descriptorpb.MessageOptions{MapEntry: proto.Bool(true)},
				Field: []*descriptorpb.FieldDescriptorProto{
					{Name: proto.String("key"), Number: proto.Int32(1), Type: str, Label: opt, JsonName: proto.String("key")},
					{Name: proto.String("value"), Number: proto.Int32(2), Type: str, Label: opt, JsonName: proto.String("value")},
				},
			}}},
		},
	}
	fd, err := protodesc.NewFile(fdp, nil)
	if err != nil {
		t.Fatal(err)
	}
	return fd.Messages().ByName("T")
}

// fill sets the fields of m at random: each field with probability one
// half, one member of each oneof, lists of up to three, nested messages to
// depth.
func fill(rng *rand.Rand, m protoreflect.Message, depth int) {
	fds := m.Descriptor().Fields()
	for i := range fds.Len() {
		fd := fds.Get(i)
		if rng.IntN(2) == 0 || (fd.Message() != nil && depth == 0) {
			continue
		}
		switch {
		case fd.IsMap():
			continue
		case fd.IsList():
			l := m.Mutable(fd).List()
			for range rng.IntN(4) {
				if fd.Message() != nil {
					e := l.NewElement()
					fill(rng, e.Message(), depth-1)
					l.Append(e)
				} else {
					l.Append(scalar(rng, fd))
				}
			}
		case fd.Message() != nil:
			if fd.Message().FullName() == "google.protobuf.Duration" {
				m.Set(fd, protoreflect.ValueOfMessage(durationpb.New(time.Duration(rng.Int64N(1e12))).ProtoReflect()))
				continue
			}
			if fd.Message().FullName() == timestampName {
				// Whole seconds, and fractions of 3, 6 and 9 digits.
				nanos := rng.Int64N(1e9)
				nanos -= nanos % []int64{1e9, 1e6, 1e3, 1}[rng.IntN(4)]
				m.Set(fd, protoreflect.ValueOfMessage(timestamppb.New(time.Unix(rng.Int64N(4e9), nanos)).ProtoReflect()))
				continue
			}
			c := m.NewField(fd)
			fill(rng, c.Message(), depth-1)
			m.Set(fd, c)
		default:
			m.Set(fd, scalar(rng, fd))
		}
	}
}

var strs = []string{"", "a", "hello world", "quote \" back \\ slash", "line\nbreak\ttab\r", "\x00\x01\x1f\x7f\b\f",
	"é ü 日本 😀", "\u2028\u2029", "<script>&amp;</script>", strings.Repeat("x", 300)}

func scalar(rng *rand.Rand, fd protoreflect.FieldDescriptor) protoreflect.Value {
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return protoreflect.ValueOfBool(rng.IntN(2) == 0)
	case protoreflect.StringKind:
		return protoreflect.ValueOfString(strs[rng.IntN(len(strs))])
	case protoreflect.BytesKind:
		b := make([]byte, rng.IntN(10))
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		return protoreflect.ValueOfBytes(b)
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return protoreflect.ValueOfInt32(int32(rng.Uint32()))
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return protoreflect.ValueOfUint32(rng.Uint32())
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return protoreflect.ValueOfInt64(int64(rng.Uint64()))
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return protoreflect.ValueOfUint64(rng.Uint64() >> rng.IntN(64))
	case protoreflect.FloatKind:
		return protoreflect.ValueOfFloat32(float32(rng.NormFloat64()))
	case protoreflect.DoubleKind:
		return protoreflect.ValueOfFloat64(rng.NormFloat64() * math.Pow(10, float64(rng.IntN(60)-30)))
	case protoreflect.EnumKind:
		vs := fd.Enum().Values()
		if rng.IntN(5) == 0 {
			return protoreflect.ValueOfEnum(protoreflect.EnumNumber(1000 + rng.IntN(10))) // unknown: a number
		}
		return protoreflect.ValueOfEnum(vs.Get(rng.IntN(vs.Len())).Number())
	}
	panic("no scalar of kind " + fd.Kind().String())
}
