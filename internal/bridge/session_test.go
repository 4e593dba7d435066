package bridge

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"strconv"
	"testing"

	"go.uber.org/goleak"
	"google.golang.org/protobuf/proto"
)

// TestCallsLinger sends calls one after another on a session, as a socket
// that converses does: each runs on the goroutine of the one before, which
// waits for it, and that goroutine ends with the socket.
func TestCallsLinger(t *testing.T) {
	// Not parallel: the goroutines left at the end are counted. The check
	// runs after the service's cleanup, which is registered later.
	before := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, before) })

	r := newTestRPC(t)
	ran := make(chan uint64, 3)
	m := r.methods.byName["SendMessage"]
	impl := m.impl.Unary
	m.impl.Unary = func(ctx context.Context, req proto.Message) (proto.Message, error) {
		ran <- goroutineID(t)
		return impl(ctx, req)
	}
	frames := make(chan []byte, 3)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := &session{rpc: r, agentID: "linger", ctx: ctx, maxCalls: 4, next: make(chan started),
		sink: funcSink(func(b *[]byte) bool {
			frames <- bytes.Clone(*b)
			putBuf(b)
			return true
		})}
	var ids []uint64
	for i := range 3 {
		s.handle(fmt.Appendf(nil, `{"id":"%d","method":"SendMessage","request":{"text":"hi"}}`, i))
		if f := <-frames; !bytes.Contains(f, []byte(`"response":`)) {
			t.Fatalf("call %d: %s", i, f)
		}
		ids = append(ids, <-ran)
	}
	if ids[0] != ids[1] || ids[1] != ids[2] {
		t.Errorf("three calls one after another ran on goroutines %v, want one", ids)
	}
	cancel() // the socket ends: the lingering goroutine with it
	s.wait()
}

// goroutineID is the id of the calling goroutine, from its stack's header
// ("goroutine 42 [running]:").
func goroutineID(t *testing.T) uint64 {
	var buf [64]byte
	b := buf[:runtime.Stack(buf[:], false)]
	b = bytes.TrimPrefix(b, []byte("goroutine "))
	id, err := strconv.ParseUint(string(b[:bytes.IndexByte(b, ' ')]), 10, 64)
	if err != nil {
		t.Errorf("no goroutine id in %q", buf)
	}
	return id
}
