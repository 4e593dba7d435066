package engine

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/agentgate/agentgate/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// gateHook holds the first pipeline until release is closed, and records
// the size of every pipeline sent.
type gateHook struct {
	started chan struct{}
	release chan struct{}
	once    sync.Once

	mu    sync.Mutex
	sizes []int
}

func (h *gateHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *gateHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return next
}

func (h *gateHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.mu.Lock()
		h.sizes = append(h.sizes, len(cmds))
		h.mu.Unlock()
		h.once.Do(func() {
			close(h.started)
			<-h.release
		})
		return next(ctx, cmds)
	}
}

func (h *gateHook) pipelines() []int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]int(nil), h.sizes...)
}

func (p *pipe) waiting() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.queue)
}

// waitQueued waits until n calls wait behind the pipeline in flight.
func waitQueued(t *testing.T, p *pipe, n int) {
	t.Helper()
	for p.waiting() < n {
		select {
		case <-t.Context().Done():
			t.Fatal(t.Context().Err())
		case <-time.After(time.Millisecond):
		}
	}
}

// gatedPipe is a pipe to a fresh redis-server whose first pipeline waits
// for hook.release. The pipe closes with the test, unless the test closes it.
func gatedPipe(t *testing.T) (*pipe, *gateHook) {
	t.Helper()
	rdb := newTestClient(t, redistest.Start(t))
	hook := &gateHook{started: make(chan struct{}), release: make(chan struct{})}
	rdb.AddHook(hook)
	p := newPipe(rdb, 5*time.Second)
	t.Cleanup(p.close)
	return p, hook
}

// holdPipeline makes a call that the gate holds in flight, and returns
// once it is held; the call's error arrives on the channel after release.
func holdPipeline(ctx context.Context, p *pipe, hook *gateHook, fn func(redis.Pipeliner)) <-chan error {
	first := make(chan error, 1)
	go func() { first <- p.do(ctx, fn) }()
	<-hook.started
	return first
}

func newTestClient(t *testing.T, srv *redistest.Server) *redis.Client {
	t.Helper()
	opts, err := redis.ParseURL(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// The calls made while a pipeline is in flight leave together in the next
// one, and each caller gets its own result.
func TestPipeBatchesCallsMadeDuringARoundTrip(t *testing.T) {
	p, hook := gatedPipe(t)
	ctx := t.Context()
	prefix := "pipe:" + t.Name() + ":"

	first := holdPipeline(ctx, p, hook, func(pl redis.Pipeliner) { pl.Set(ctx, prefix+"first", "1", 0) })

	const n = 50
	results := make([]*redis.IntCmd, n)
	errs := make(chan error, n)
	for i := range n {
		go func() {
			errs <- p.do(ctx, func(pl redis.Pipeliner) { results[i] = pl.Incr(ctx, fmt.Sprintf("%s%d", prefix, i)) })
		}()
	}
	// Wait until every call is queued behind the held pipeline.
	waitQueued(t, p, n)
	close(hook.release)
	if err := <-first; err != nil {
		t.Fatalf("first call: %v", err)
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatalf("batched call: %v", err)
		}
	}
	for i, r := range results {
		if v, err := r.Result(); err != nil || v != 1 {
			t.Fatalf("call %d: INCR gave %d, %v; want its own result 1", i, v, err)
		}
	}
	if got := hook.pipelines(); len(got) != 2 || got[0] != 1 || got[1] != n {
		t.Fatalf("pipelines sent: %v, want [1 %d]", got, n)
	}
}

// A command's error reply is its caller's only; a script Redis forgot is
// loaded again and the call goes through.
func TestPipeErrorsStayWithTheirCaller(t *testing.T) {
	srv := redistest.Start(t)
	rdb := newTestClient(t, srv)
	ctx := t.Context()
	key := "pipe:" + t.Name()
	if err := rdb.Set(ctx, key+":str", "x", 0).Err(); err != nil {
		t.Fatal(err)
	}
	hook := &gateHook{started: make(chan struct{}), release: make(chan struct{})}
	rdb.AddHook(hook)
	p := newPipe(rdb, 5*time.Second)
	defer p.close()

	// Hold a first pipeline, so that the two calls below share the next.
	first := holdPipeline(ctx, p, hook, func(pl redis.Pipeliner) { pl.Ping(ctx) })
	var bad, good *redis.IntCmd
	var wg sync.WaitGroup
	var badErr, goodErr error
	wg.Go(func() { badErr = p.do(ctx, func(pl redis.Pipeliner) { bad = pl.LPush(ctx, key+":str", "v") }) })
	wg.Go(func() { goodErr = p.do(ctx, func(pl redis.Pipeliner) { good = pl.Incr(ctx, key+":n") }) })
	waitQueued(t, p, 2)
	close(hook.release)
	wg.Wait()
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if got := hook.pipelines(); len(got) != 2 || got[1] != 2 {
		t.Fatalf("pipelines sent: %v, want the two calls in one", got)
	}
	if badErr == nil || !redis.HasErrorPrefix(badErr, "WRONGTYPE") || bad.Err() == nil {
		t.Fatalf("LPUSH on a string: err %v, want WRONGTYPE", badErr)
	}
	if goodErr != nil || good.Val() != 1 {
		t.Fatalf("the other caller got %v, %d; want no error and 1", goodErr, good.Val())
	}

	if err := rdb.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	var res *redis.Cmd
	err := p.do(ctx, func(pl redis.Pipeliner) {
		res = scriptRead.EvalSha(ctx, pl, []string{key + ":meta", key + ":log"}, "0", 10)
	})
	if err != nil {
		t.Fatalf("a script after SCRIPT FLUSH: %v", err)
	}
	if out, err := decodeLog("read.lua", res); err != nil || out.page.LastSeq != 0 || len(out.page.Events) != 0 {
		t.Fatalf("read of an empty log: %+v, %v", out.page, err)
	}
}

// Close fails the calls that wait, ends the sender, and later calls fail
// with ErrClosed.
func TestPipeCloseFailsWaitingCalls(t *testing.T) {
	p, hook := gatedPipe(t)
	ctx := t.Context()

	first := holdPipeline(ctx, p, hook, func(pl redis.Pipeliner) { pl.Ping(ctx) })
	queued := make(chan error, 1)
	go func() { queued <- p.do(ctx, func(pl redis.Pipeliner) { pl.Ping(ctx) }) }()
	waitQueued(t, p, 1)
	closed := make(chan struct{})
	go func() { p.close(); close(closed) }()
	close(hook.release)
	<-closed
	if err := <-first; err != nil {
		t.Fatalf("the call in flight: %v, want it to finish", err)
	}
	if err := <-queued; !errors.Is(err, ErrClosed) {
		t.Fatalf("the waiting call: %v, want ErrClosed", err)
	}
	if err := p.do(ctx, func(pl redis.Pipeliner) { pl.Ping(ctx) }); !errors.Is(err, ErrClosed) {
		t.Fatalf("a call after close: %v, want ErrClosed", err)
	}
	p.close() // idempotent
}

// With no Redis to talk to, every call of the batch gets the connection's
// error.
func TestPipeConnectionErrorFailsEveryCall(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close() // nothing listens there now
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: time.Second})
	defer func() { _ = rdb.Close() }()
	p := newPipe(rdb, time.Second)
	defer p.close()
	ctx := t.Context()
	for range 3 {
		if err := p.do(ctx, func(pl redis.Pipeliner) { pl.Ping(ctx) }); err == nil {
			t.Fatal("a call to a closed port succeeded")
		}
	}
	// Once a pipeline failed as a whole, post refuses at once, for
	// postRetry.
	if err := p.post(func(pl redis.Pipeliner) { pl.Ping(ctx) }); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("post after a failed pipeline: %v, want ErrUnavailable", err)
	}
	p.failedAt.Store(time.Now().Add(-postRetry).UnixNano())
	if err := p.post(func(pl redis.Pipeliner) { pl.Ping(ctx) }); err != nil {
		t.Fatalf("post postRetry after the failure: %v, want it queued", err)
	}
}

// Posts take at most maxPosted places in the queue: the rest stays for the
// calls that wait.
func TestPipePostsLeaveRoomForCalls(t *testing.T) {
	p, hook := gatedPipe(t)
	ctx := t.Context()
	first := holdPipeline(ctx, p, hook, func(pl redis.Pipeliner) { pl.Ping(ctx) })
	for i := range maxPosted {
		if err := p.post(func(pl redis.Pipeliner) { pl.Ping(context.Background()) }); err != nil {
			t.Fatalf("post %d: %v", i, err)
		}
	}
	if err := p.post(func(pl redis.Pipeliner) { pl.Ping(context.Background()) }); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("post past maxPosted: %v, want ErrUnavailable", err)
	}
	call := make(chan error, 1)
	go func() { call <- p.do(ctx, func(pl redis.Pipeliner) { pl.Ping(ctx) }) }()
	waitQueued(t, p, maxPosted+1)
	close(hook.release)
	for _, c := range []<-chan error{first, call} {
		if err := <-c; err != nil {
			t.Fatalf("a call that waits: %v", err)
		}
	}
}

// post returns without waiting for the round trip, and its commands reach
// Redis before the calls made after it.
func TestPipePostDoesNotWaitAndKeepsOrder(t *testing.T) {
	p, hook := gatedPipe(t)
	ctx := t.Context()
	key := "pipe:" + t.Name()

	first := holdPipeline(ctx, p, hook, func(pl redis.Pipeliner) { pl.Set(ctx, key, "first", 0) })
	// The pipeline in flight is held: post must not wait for it.
	posted := make(chan error, 1)
	go func() {
		for _, v := range []string{"a", "b"} {
			if err := p.post(func(pl redis.Pipeliner) { pl.Append(context.Background(), key, v) }); err != nil {
				posted <- err
				return
			}
		}
		posted <- nil
	}()
	select {
	case err := <-posted:
		if err != nil {
			t.Fatalf("post: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("post waited for the pipeline in flight")
	}
	got := make(chan *redis.StringCmd, 1)
	after := make(chan error, 1)
	go func() {
		var cmd *redis.StringCmd
		after <- p.do(ctx, func(pl redis.Pipeliner) { cmd = pl.Get(ctx, key) })
		got <- cmd
	}()
	waitQueued(t, p, 3)
	close(hook.release)
	if err := <-first; err != nil {
		t.Fatalf("first call: %v", err)
	}
	if err := <-after; err != nil {
		t.Fatalf("call after the posts: %v", err)
	}
	if v, err := (<-got).Result(); err != nil || v != "firstab" {
		t.Fatalf("GET after the posts = %q, %v; want firstab: the posted commands, in order, before it", v, err)
	}
}
