// Package pbjson writes protobuf messages in protobuf's canonical JSON
// mapping, as protojson.Marshal does with its default options, in a
// fraction of its time and with no allocation of its own.
//
// The socket writes every response and pushed event as protojson, and
// protojson is general: for each message it collects the populated fields
// into a slice, sorts them, and walks them through an encoder state
// machine, allocating as it goes. On a SendMessage round trip that was an
// eighth of the server's CPU (docs/benchmarks.md). An Encoder instead makes
// a plan once per message type, from its descriptor: the fields in
// protojson's order (declaration order) with their JSON names quoted in
// advance, and then only tests each field for presence and appends its
// value. A message of a generated type is read from its Go struct, where
// the plan finds each field once, from the struct's protobuf tags
// (structs.go); one known by its descriptor only, through protoreflect.
//
// What the plans cover is what the agent service's messages use: scalars,
// enums, strings, bytes, repeated fields, nested messages and oneofs, and
// google.protobuf.Timestamp. A message type with anything else (a map, an
// extension range, a required field, any other well-known type such as
// Struct or Any) is written by protojson itself, and so are messages
// inside it: the output is the same either way, only slower. A message
// type added to the service later is thus always written correctly, and
// quickly as long as it stays within the plans.
//
// The output is protojson's byte for byte, except that protojson, by
// design, adds a space after some commas or colons at random per binary so
// that nobody relies on its exact bytes; pbjson adds none. Errors are
// protojson's: a string that is not valid UTF-8, a Timestamp out of range.
package pbjson

import (
	"encoding/base64"
	"fmt"
	"math"
	"math/bits"
	"reflect"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Encoder writes messages as JSON. Its zero value is ready to use; it is
// safe for concurrent use, and keeps a plan per message type it has seen.
type Encoder struct {
	plans sync.Map // protoreflect.MessageDescriptor → *plan
}

// fallback writes what no plan covers, and is the reference of the
// output: protojson with its default options.
var fallback = protojson.MarshalOptions{}

// Append appends the JSON of m to b, as protojson.MarshalOptions{}.MarshalAppend
// does. A nil m is the empty object.
func (e *Encoder) Append(b []byte, m proto.Message) ([]byte, error) {
	if m == nil {
		return append(b, '{', '}'), nil
	}
	r := m.ProtoReflect()
	p := e.plan(r.Descriptor())
	if p.fast != nil {
		if v := reflect.ValueOf(m); v.Type() == p.fast.typ {
			if v.IsNil() {
				return append(b, '{', '}'), nil
			}
			return e.structOrReflect(b, v, p)
		}
	}
	return e.planned(b, r, p)
}

// plan is how a message type is written.
type plan struct {
	// protojson writes it: the type has something the plan does not cover.
	protojson bool
	// timestamp is google.protobuf.Timestamp, written as RFC 3339; its two
	// fields.
	timestamp     bool
	seconds, nano protoreflect.FieldDescriptor
	// fields are the message's fields by declaration index.
	fields []field
	// steps are what to look at in turn, in declaration order, as
	// protojson writes the fields: a field, or a oneof whose members are
	// declared together (its first member's place), which costs one look
	// instead of one per member.
	steps []step
	// fast reads the message's generated Go struct, when it has one
	// (structs.go); nil: protoreflect does.
	fast *structPlan
}

// step is a field (oneof nil) or a oneof of a plan.
type step struct {
	field int
	oneof protoreflect.OneofDescriptor
}

// field is one field of a plan.
type field struct {
	fd protoreflect.FieldDescriptor
	// name is `"jsonName":`, and comma the same after a comma.
	name, comma string
	kind        protoreflect.Kind
	list        bool
	null        bool // google.protobuf.NullValue: always null
	// child is the plan of a message field's type, once looked up.
	child atomic.Pointer[plan]
}

// appendName writes the field's name and colon, after a comma unless it
// is the first of its object.
func (f *field) appendName(b []byte, first *bool) []byte {
	if *first {
		*first = false
		return append(b, f.name...)
	}
	return append(b, f.comma...)
}

const timestampName = "google.protobuf.Timestamp"

func (e *Encoder) plan(md protoreflect.MessageDescriptor) *plan {
	if p, ok := e.plans.Load(md); ok {
		return p.(*plan)
	}
	p, _ := e.plans.LoadOrStore(md, newPlan(md))
	return p.(*plan)
}

func newPlan(md protoreflect.MessageDescriptor) *plan {
	fds := md.Fields()
	switch name := md.FullName(); {
	case name == timestampName:
		p := &plan{timestamp: true, seconds: fds.ByNumber(1), nano: fds.ByNumber(2)}
		p.fast = structPlanOf(md, p)
		return p
	case md.ParentFile() != nil && md.ParentFile().Package() == "google.protobuf",
		md.ExtensionRanges().Len() > 0, md.RequiredNumbers().Len() > 0:
		// The well-known types have JSON forms of their own; extensions and
		// required fields have rules of their own.
		return &plan{protojson: true}
	}
	p := &plan{fields: make([]field, 0, fds.Len())}
	for i := range fds.Len() {
		fd := fds.Get(i)
		if fd.IsMap() {
			return &plan{protojson: true}
		}
		switch od := fd.ContainingOneof(); {
		case od == nil || od.IsSynthetic() || !together(od):
			p.steps = append(p.steps, step{field: i})
		case od.Fields().Get(0) == fd:
			p.steps = append(p.steps, step{oneof: od})
		}
		name := appendString(nil, fd.JSONName())
		name = append(name, ':')
		p.fields = append(p.fields, field{
			fd:    fd,
			name:  string(name),
			comma: "," + string(name),
			kind:  fd.Kind(),
			list:  fd.IsList(),
			null:  fd.Kind() == protoreflect.EnumKind && fd.Enum().FullName() == "google.protobuf.NullValue",
		})
	}
	p.fast = structPlanOf(md, p)
	return p
}

// together reports whether the members of od are declared one after the
// other, as protobuf's syntax declares them.
func together(od protoreflect.OneofDescriptor) bool {
	fds := od.Fields()
	for i := 1; i < fds.Len(); i++ {
		if fds.Get(i).Index() != fds.Get(i-1).Index()+1 {
			return false
		}
	}
	return true
}

func (e *Encoder) message(b []byte, m protoreflect.Message) ([]byte, error) {
	return e.planned(b, m, e.plan(m.Descriptor()))
}

// planned writes m by its plan p.
func (e *Encoder) planned(b []byte, m protoreflect.Message, p *plan) ([]byte, error) {
	switch {
	case p.protojson:
		return fallback.MarshalAppend(b, m.Interface())
	case p.timestamp:
		return appendTimestamp(b, m, p)
	}
	b = append(b, '{')
	first := true
	for _, st := range p.steps {
		var f *field
		if st.oneof != nil {
			fd := m.WhichOneof(st.oneof)
			if fd == nil {
				continue
			}
			f = &p.fields[fd.Index()]
		} else if f = &p.fields[st.field]; !m.Has(f.fd) {
			continue
		}
		b = f.appendName(b, &first)
		var err error
		if b, err = e.value(b, m.Get(f.fd), f); err != nil {
			return b, err
		}
	}
	return append(b, '}'), nil
}

func (e *Encoder) value(b []byte, v protoreflect.Value, f *field) ([]byte, error) {
	if !f.list {
		return e.singular(b, v, f)
	}
	l := v.List()
	b = append(b, '[')
	for i := range l.Len() {
		if i > 0 {
			b = append(b, ',')
		}
		var err error
		if b, err = e.singular(b, l.Get(i), f); err != nil {
			return b, err
		}
	}
	return append(b, ']'), nil
}

// errInvalidUTF8 is protojson's error for a string field that is not
// UTF-8, which the wire cannot carry as JSON.
func errInvalidUTF8(fd protoreflect.FieldDescriptor) error {
	return fmt.Errorf("pbjson: field %s contains invalid UTF-8", fd.FullName())
}

func (e *Encoder) singular(b []byte, v protoreflect.Value, f *field) ([]byte, error) {
	switch f.kind {
	case protoreflect.BoolKind:
		return strconv.AppendBool(b, v.Bool()), nil
	case protoreflect.StringKind:
		s := v.String()
		if !utf8.ValidString(s) {
			return b, errInvalidUTF8(f.fd)
		}
		return appendString(b, s), nil
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return strconv.AppendInt(b, v.Int(), 10), nil
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return strconv.AppendUint(b, v.Uint(), 10), nil
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		// 64-bit integers are JSON strings.
		b = append(b, '"')
		return append(strconv.AppendInt(b, v.Int(), 10), '"'), nil
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		b = append(b, '"')
		return append(strconv.AppendUint(b, v.Uint(), 10), '"'), nil
	case protoreflect.FloatKind:
		return appendFloat(b, v.Float(), 32), nil
	case protoreflect.DoubleKind:
		return appendFloat(b, v.Float(), 64), nil
	case protoreflect.BytesKind:
		b = append(b, '"')
		return append(base64.StdEncoding.AppendEncode(b, v.Bytes()), '"'), nil
	case protoreflect.EnumKind:
		if f.null {
			return append(b, "null"...), nil
		}
		if ev := f.fd.Enum().Values().ByNumber(v.Enum()); ev != nil {
			return appendString(b, string(ev.Name())), nil
		}
		return strconv.AppendInt(b, int64(v.Enum()), 10), nil
	case protoreflect.MessageKind, protoreflect.GroupKind:
		m := v.Message()
		p := f.child.Load()
		if p == nil {
			p = e.plan(m.Descriptor())
			f.child.Store(p)
		}
		return e.planned(b, m, p)
	}
	return b, fmt.Errorf("pbjson: field %s has unknown kind %v", f.fd.FullName(), f.kind)
}

// The range of a Timestamp in JSON: 0001-01-01T00:00:00Z to
// 9999-12-31T23:59:59.999999999Z.
const (
	minTimestampSeconds = -62135596800
	maxTimestampSeconds = 253402300799
)

// appendTimestamp writes a Timestamp as protojson does: RFC 3339 in UTC
// with 0, 3, 6 or 9 digits of fraction.
func appendTimestamp(b []byte, m protoreflect.Message, p *plan) ([]byte, error) {
	return appendTimestampOf(b, m.Get(p.seconds).Int(), m.Get(p.nano).Int(), m.Interface)
}

// appendTimestampOf writes a Timestamp of its seconds and nanos; msg is
// the message, for protojson's error when it is out of range.
func appendTimestampOf(b []byte, secs, nanos int64, msg func() proto.Message) ([]byte, error) {
	if secs < minTimestampSeconds || secs > maxTimestampSeconds || nanos < 0 || nanos >= 1e9 {
		// protojson's error.
		return fallback.MarshalAppend(b, msg())
	}
	t := time.Unix(secs, 0).UTC()
	year, month, day := t.Date()
	hour, minute, sec := t.Clock()
	b = append(b, '"')
	b = appendDigits(b, year, 4)
	b = append(b, '-')
	b = appendDigits(b, int(month), 2)
	b = append(b, '-')
	b = appendDigits(b, day, 2)
	b = append(b, 'T')
	b = appendDigits(b, hour, 2)
	b = append(b, ':')
	b = appendDigits(b, minute, 2)
	b = append(b, ':')
	b = appendDigits(b, sec, 2)
	// The fraction in 9, 6 or 3 digits, or none: the fewest that hold it.
	switch n := int(nanos); {
	case n == 0:
	case n%1e6 == 0:
		b = appendDigits(append(b, '.'), n/1e6, 3)
	case n%1e3 == 0:
		b = appendDigits(append(b, '.'), n/1e3, 6)
	default:
		b = appendDigits(append(b, '.'), n, 9)
	}
	return append(b, 'Z', '"'), nil
}

// appendDigits writes n ≥ 0 in decimal, zero-padded to width digits.
func appendDigits(b []byte, n, width int) []byte {
	var buf [9]byte
	i := len(buf)
	for ; n > 0 || i > len(buf)-width; n /= 10 {
		i--
		buf[i] = byte('0' + n%10)
	}
	return append(b, buf[i:]...)
}

// appendFloat writes a float as protojson does: NaN and the infinities as
// strings, and otherwise encoding/json's shortest form.
func appendFloat(b []byte, n float64, bitSize int) []byte {
	switch {
	case math.IsNaN(n):
		return append(b, `"NaN"`...)
	case math.IsInf(n, +1):
		return append(b, `"Infinity"`...)
	case math.IsInf(n, -1):
		return append(b, `"-Infinity"`...)
	}
	format := byte('f')
	if abs := math.Abs(n); abs != 0 {
		if bitSize == 64 && (abs < 1e-6 || abs >= 1e21) ||
			bitSize == 32 && (float32(abs) < 1e-6 || float32(abs) >= 1e21) {
			format = 'e'
		}
	}
	b = strconv.AppendFloat(b, n, format, -1, bitSize)
	if format == 'e' {
		// Clean up e-09 to e-9.
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

// appendString writes s, valid UTF-8, as a JSON string with protojson's
// escapes: '"', '\\' and the control characters, nothing else.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= ' ' && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		b = append(b, '\\')
		switch c {
		case '"', '\\':
			b = append(b, c)
		case '\b':
			b = append(b, 'b')
		case '\f':
			b = append(b, 'f')
		case '\n':
			b = append(b, 'n')
		case '\r':
			b = append(b, 'r')
		case '\t':
			b = append(b, 't')
		default:
			b = append(b, 'u')
			b = append(b, "0000"[1+(bits.Len32(uint32(c))-1)/4:]...)
			b = strconv.AppendUint(b, uint64(c), 16)
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
