package bridge

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"google.golang.org/protobuf/proto"
)

// codecName is the name of the bridge's codec: the content type of its
// calls is application/agentgate-bridge (application/connect+agentgate-bridge
// for a stream).
const codecName = "agentgate-bridge"

// Codec is a Connect codec that only the bridge speaks. A frame's request
// is decoded once, from the frame's JSON, by the bridge, which must check
// it (its method, its agent_id) before the call starts; without the codec,
// the call would then encode it to binary protobuf for the handler to
// decode again, and the response would take the same two extra passes back
// before the bridge encodes it as JSON. With it, the call's body is a
// handle of the decoded message, which Unmarshal hands to the handler, and
// Marshal writes the response as the JSON the frame carries. The handler
// runs as for any Connect call, with every middleware and interceptor.
//
// Only the bridge may use it: Guard, around the handler, refuses any request
// in its content type that does not come from a socket, and a handle is
// good for one call of this process only, with a secret no client ever
// sees. Marshal writes protojson, which is not secret either way.
//
// A Codec is safe for concurrent use. Its mu is a leaf lock.
type Codec struct {
	secret [8]byte // random, per process: a handle carries it

	mu   sync.Mutex
	next uint64                   // the next handle's number; guarded by mu
	msgs map[uint64]proto.Message // decoded requests waiting for their call; guarded by mu
}

// NewCodec returns a Codec. Build the handler the bridge calls with
// connect.WithCodec(codec), wrap it in codec.Guard, and pass the codec in
// Config.Codec.
func NewCodec() *Codec {
	c := &Codec{msgs: make(map[uint64]proto.Message)}
	_, _ = rand.Read(c.secret[:]) // crypto/rand.Read never fails
	return c
}

// handleLen is the length of a handle: its number, then the secret.
const handleLen = 16

// Name implements connect.Codec.
func (c *Codec) Name() string { return codecName }

// Marshal implements connect.Codec: the response, as protojson.
func (c *Codec) Marshal(msg any) ([]byte, error) { return c.MarshalAppend(nil, msg) }

// MarshalAppend lets Connect marshal into its pooled buffers.
func (c *Codec) MarshalAppend(b []byte, msg any) ([]byte, error) {
	m, ok := msg.(proto.Message)
	if !ok {
		return b, fmt.Errorf("%T is not a proto.Message", msg)
	}
	return jsonOpts.MarshalAppend(b, m)
}

// Unmarshal implements connect.Codec: data is a handle from put, and msg
// receives the message it stands for.
func (c *Codec) Unmarshal(data []byte, msg any) error {
	dst, ok := msg.(proto.Message)
	if !ok {
		return fmt.Errorf("%T is not a proto.Message", msg)
	}
	src := c.take(data)
	if src == nil {
		return errors.New("not a request of this process's WebSocket bridge")
	}
	if dst.ProtoReflect().Descriptor().FullName() != src.ProtoReflect().Descriptor().FullName() {
		return fmt.Errorf("the bridge decoded a %s, the handler wants a %s",
			src.ProtoReflect().Descriptor().FullName(), dst.ProtoReflect().Descriptor().FullName())
	}
	// dst is new and empty: merging copies src's fields (its strings are
	// shared), much cheaper than a binary encoding and decoding.
	proto.Merge(dst, src)
	return nil
}

// put registers a decoded request for its call and appends its handle to
// b.
func (c *Codec) put(b []byte, m proto.Message) ([]byte, uint64) {
	c.mu.Lock()
	c.next++
	n := c.next
	c.msgs[n] = m
	c.mu.Unlock()
	b = binary.BigEndian.AppendUint64(b, n)
	return append(b, c.secret[:]...), n
}

// take returns the request a handle stands for, once.
func (c *Codec) take(h []byte) proto.Message {
	if len(h) != handleLen || subtle.ConstantTimeCompare(h[8:], c.secret[:]) != 1 {
		return nil
	}
	n := binary.BigEndian.Uint64(h)
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.msgs[n]
	delete(c.msgs, n)
	return m
}

// drop forgets a handle the handler did not take (a call refused before it
// read its request).
func (c *Codec) drop(n uint64) {
	c.mu.Lock()
	delete(c.msgs, n)
	c.mu.Unlock()
}

// Guard wraps the handler built with the codec: a request in the codec's
// content type (or, for a Connect GET, its encoding) that does not come
// from a socket of this process gets 415, as from a handler without the
// codec. Every other request passes untouched.
func (c *Codec) Guard(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !FromSocket(r.Context()) && namesCodec(r) {
			http.Error(w, "unsupported content type", http.StatusUnsupportedMediaType)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// namesCodec reports whether r asks for the bridge's codec.
func namesCodec(r *http.Request) bool {
	for _, v := range r.Header.Values("Content-Type") {
		if strings.Contains(strings.ToLower(v), codecName) {
			return true
		}
	}
	return r.Method == http.MethodGet && strings.Contains(strings.ToLower(r.URL.Query().Get("encoding")), codecName)
}
