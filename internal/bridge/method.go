package bridge

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"connectrpc.com/connect"
	"github.com/agentgate/agentgate/internal/clip"
	"github.com/agentgate/agentgate/internal/edge"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/dynamicpb"
)

// agentIDField is the request field the bridge fills from the socket's URL.
const agentIDField = "agent_id"

// method is one RPC of the bridged service, resolved once from its
// descriptor and Config.Methods: everything a frame needs to become a
// call.
type method struct {
	name      string
	procedure string // /package.Service/Method
	stream    bool   // server streaming
	in        protoreflect.MessageType
	// agentID is the input's string agent_id field, if it has one.
	agentID protoreflect.FieldDescriptor
	// impl is the method's function (Config.Methods).
	impl edge.Method
	// refused explains why the method is not bridged (client and bidi
	// streams); empty when it is.
	refused string
}

// methods is the bridged service's method table.
type methods struct {
	byName map[string]*method
	names  string // for error messages: "SendMessage, Subscribe, …"
	// text is the method the plain-text shorthand calls and textField the
	// string field that receives the text; text is nil when the shorthand
	// is off.
	text      *method
	textField protoreflect.FieldDescriptor
}

// newMethods resolves every method of sd, with its function from impls,
// which must hold one for each unary and server-streaming method of sd and
// no other. textMethod and textField name the shorthand's target; an empty
// textMethod turns the shorthand off.
func newMethods(sd protoreflect.ServiceDescriptor, impls map[string]edge.Method, textMethod, textField string) (*methods, error) {
	ms := &methods{byName: make(map[string]*method)}
	var names []string
	for i := 0; i < sd.Methods().Len(); i++ {
		md := sd.Methods().Get(i)
		m := &method{
			name:      string(md.Name()),
			procedure: "/" + string(sd.FullName()) + "/" + string(md.Name()),
			stream:    md.IsStreamingServer(),
			in:        messageType(md.Input()),
		}
		if f := md.Input().Fields().ByName(agentIDField); f != nil && f.Kind() == protoreflect.StringKind && !f.IsList() {
			m.agentID = f
		}
		if md.IsStreamingClient() {
			kind := "a client stream"
			if md.IsStreamingServer() {
				kind = "a bidirectional stream"
			}
			m.refused = fmt.Sprintf("%s is %s, which the WebSocket does not bridge: the socket is itself the duplex stream; send request frames and read the event frames", m.name, kind)
		} else {
			impl, ok := impls[m.name]
			if !ok || (m.stream && impl.Stream == nil) || (!m.stream && impl.Unary == nil) {
				return nil, fmt.Errorf("bridge: Config.Methods has no function for %s %s", kindOf(m.stream), m.procedure)
			}
			m.impl = impl
			names = append(names, m.name)
		}
		ms.byName[m.name] = m
	}
	for name := range impls {
		if m := ms.byName[name]; m == nil || m.refused != "" {
			return nil, fmt.Errorf("bridge: Config.Methods has %s, which is no unary or server-streaming method of %s", name, sd.FullName())
		}
	}
	ms.names = strings.Join(names, ", ")
	if textMethod == "" {
		return ms, nil
	}
	m := ms.byName[textMethod]
	if m == nil || m.refused != "" || m.stream {
		return nil, fmt.Errorf("bridge: text method %q is not a unary method of %s", textMethod, sd.FullName())
	}
	f := m.in.Descriptor().Fields().ByName(protoreflect.Name(textField))
	if f == nil || f.Kind() != protoreflect.StringKind || f.IsList() {
		return nil, fmt.Errorf("bridge: %s has no string field %q for the text shorthand", m.in.Descriptor().FullName(), textField)
	}
	ms.text, ms.textField = m, f
	return ms, nil
}

func kindOf(stream bool) string {
	if stream {
		return "the server stream"
	}
	return "the unary method"
}

// messageType returns the generated Go type of md when one is linked in, and
// a dynamic one otherwise: a service known only by its descriptor is bridged
// all the same.
func messageType(md protoreflect.MessageDescriptor) protoreflect.MessageType {
	if mt, err := protoregistry.GlobalTypes.FindMessageByName(md.FullName()); err == nil && mt.Descriptor() == md {
		return mt
	}
	return dynamicpb.NewMessageType(md)
}

// lookup finds a bridged method by name.
func (ms *methods) lookup(name string) (*method, error) {
	m := ms.byName[name]
	if m == nil {
		return nil, &frameError{code: connect.CodeUnimplemented, msg: fmt.Sprintf("unknown method %q; the methods are %s", clip.String(name, 64), ms.names)}
	}
	if m.refused != "" {
		return nil, &frameError{code: connect.CodeUnimplemented, msg: m.refused}
	}
	return m, nil
}

// decodeOpts rejects unknown fields, so that a typo in a hand-written client
// shows at once instead of being dropped.
var decodeOpts = protojson.UnmarshalOptions{DiscardUnknown: false}

// decode reads the request of a call frame: raw is protojson (nil means
// the empty message), a JSON object that parseFrame found valid.
func (m *method) decode(raw []byte) (proto.Message, error) {
	msg := m.in.New().Interface()
	if raw == nil || decodeStrings(raw, msg.ProtoReflect()) {
		return msg, nil
	}
	msg = m.in.New().Interface()
	if err := decodeOpts.Unmarshal(raw, msg); err != nil {
		return nil, invalidFrame("invalid %s request: %s", m.name, protojsonMessage(err))
	}
	return msg, nil
}

// decodeStrings is protojson's decoding of the requests most frames carry,
// an object of plain strings such as {"text":"hello"}, in a fraction of
// its time: it sets each string field that raw names, by its JSON or its
// proto name. It reports false, having perhaps set some fields, for
// anything else (another kind of field or value, an escape, a field named
// twice, a oneof, a name it does not know, text that is not UTF-8), which
// protojson then decodes, or refuses, as ever. raw must be valid JSON.
func decodeStrings(raw []byte, msg protoreflect.Message) bool {
	fields := msg.Descriptor().Fields()
	var seen [8]protoreflect.FieldNumber
	n, ok := 0, true
	eachMember(raw, func(key, value []byte) bool {
		if bytes.IndexByte(key, '\\') >= 0 || value[0] != '"' || bytes.IndexByte(value, '\\') >= 0 || !utf8.Valid(value) || n == len(seen) {
			ok = false
			return false
		}
		name := key[1 : len(key)-1]
		fd := fields.ByJSONName(string(name))
		if fd == nil {
			fd = fields.ByTextName(string(name))
		}
		if fd == nil || fd.Kind() != protoreflect.StringKind || fd.IsList() || fd.ContainingOneof() != nil || slices.Contains(seen[:n], fd.Number()) {
			ok = false
			return false
		}
		seen[n] = fd.Number()
		n++
		msg.Set(fd, protoreflect.ValueOfString(string(value[1:len(value)-1])))
		return true
	})
	return ok
}

// bindAgent fills the request's agent_id with the socket's agent, or refuses
// a request that names another one (permission_denied).
func (m *method) bindAgent(msg proto.Message, agentID string) *frameError {
	if m.agentID == nil {
		return nil
	}
	r := msg.ProtoReflect()
	switch got := r.Get(m.agentID).String(); got {
	case "":
		r.Set(m.agentID, protoreflect.ValueOfString(agentID))
	case agentID:
	default:
		return &frameError{code: connect.CodePermissionDenied, msg: fmt.Sprintf(
			"this socket talks to agent %q; the request names %q: open a socket at /ws/agent/%s for it", agentID, clip.String(got, 64), clip.String(got, 64))}
	}
	return nil
}

// protojsonMessage drops protojson's "proto:" prefix, which means nothing to
// a client writing JSON.
func protojsonMessage(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, "proto:"); i == 0 {
		msg = strings.TrimLeft(msg[len("proto:"):], " \u00a0")
	}
	return msg
}
