package bridge

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"strconv"
	"sync"
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

// TestCanceledUnaryCallIsDetached cancels a unary call whose service is
// still running: the cancel is answered canceled at once, the socket's
// wait no longer counts the call, and the goroutine, counted in outlive
// instead until it ends, drops the call's late response.
func TestCanceledUnaryCallIsDetached(t *testing.T) {
	t.Parallel()
	r := newTestRPC(t)
	running, release := make(chan struct{}), make(chan struct{})
	m := r.methods.byName["SendMessage"]
	impl := m.impl.Unary
	m.impl.Unary = func(ctx context.Context, req proto.Message) (proto.Message, error) {
		close(running)
		<-release // the service ignores its context, as a reply being written does
		return impl(context.WithoutCancel(ctx), req)
	}
	frames := make(chan []byte, 4)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var outlive sync.WaitGroup
	s := &session{rpc: r, agentID: "detach", ctx: ctx, maxCalls: 4, next: make(chan started), outlive: &outlive,
		sink: funcSink(func(b *[]byte) bool {
			frames <- bytes.Clone(*b)
			putBuf(b)
			return true
		})}
	s.handle([]byte(`{"id":"a","method":"SendMessage","request":{"text":"hi"}}`))
	<-running
	s.handle([]byte(`{"id":"a","cancel":true}`))
	if f := <-frames; string(f) != `{"id":"a","error":{"code":"canceled","message":"canceled"}}` {
		t.Fatalf("the answer to the cancel: %s", f)
	}
	s.wait() // returns while the service still runs
	close(release)
	outlive.Wait()
	select {
	case f := <-frames:
		t.Fatalf("a detached call sent %s after its answer", f)
	default:
	}
}
