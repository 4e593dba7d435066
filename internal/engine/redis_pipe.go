package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// A SendMessage costs about ten Redis commands (append, reads, the lease,
// the reply's ephemeral events, the reply). Sent one by one, each takes a
// connection from the pool, a write and a read syscall and two goroutine
// switches, and that, not Redis, is what limits a replica: at 64 busy agents
// the gateway spent five times more CPU per message on Redis than in memory.
//
// pipe sends the engine's commands the way Redis is fastest at serving them:
// the calls made while a round trip is in flight wait, and leave together as
// one pipeline on the next. A caller of do waits for its own result, so the
// engine's ordering guarantees are those of sequential calls: a call that
// returned has taken effect in Redis. A caller of post (ephemeral events)
// does not wait, and its commands may still fail unseen. Commands from one
// caller go out in the order they were made, since one goroutine sends
// every pipeline and Redis runs a connection's commands in order.
//
// Only short commands go through it: a blocking command would hold up every
// call behind it. Pub/sub has its own connection (fanout).
type pipe struct {
	rdb     *redis.Client
	timeout time.Duration

	// failedAt is when the last pipeline failed as a whole (Redis
	// unreachable, or slower than the timeout), 0 once one succeeds: for
	// postRetry after it, post refuses at once rather than queue for
	// nothing.
	failedAt atomic.Int64

	mu     sync.Mutex
	queue  []*pipeCall
	closed bool
	wake   chan struct{} // a token while calls wait
	quit   chan struct{}
	done   chan struct{}
}

// pipeCall is one caller's commands.
type pipeCall struct {
	queue func(redis.Pipeliner)
	err   chan error // buffered: the sender never blocks on a caller; nil for post
	// fold, if set, is a record for the run's progress, queued before
	// queue's commands unless merged into an earlier one (foldRecords).
	fold *foldPost
}

// maxPipeQueue bounds the calls waiting for the next round trip. Past it
// Redis is not keeping up (or not answering), and calls fail at once with
// ErrUnavailable instead of piling up memory.
const maxPipeQueue = 16384

// maxPipeBatch bounds one pipeline, so that one round trip stays short.
const maxPipeBatch = 512

// maxPosted bounds the queue for post: past it, posts are refused, and the
// rest of the queue stays for the calls that wait, so that a stalled Redis
// and a reply streaming fast cannot crowd out appends and lease renewals.
const maxPosted = maxPipeQueue / 2

// postRetry is how long post refuses after a pipeline failed as a whole;
// then it tries again, so that one slow round trip does not drop the
// ephemeral events of the seconds until the next call that waits.
const postRetry = 250 * time.Millisecond

func newPipe(rdb *redis.Client, timeout time.Duration) *pipe {
	p := &pipe{
		rdb:     rdb,
		timeout: timeout,
		wake:    make(chan struct{}, 1),
		quit:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	go p.run()
	return p
}

// do runs fn's commands in the next pipeline and waits for them. Its error
// is the first command's error, if any; the commands' own results are in the
// Cmds fn created. Scripts Redis forgot are loaded again (withScripts).
func (p *pipe) do(ctx context.Context, fn func(redis.Pipeliner)) error {
	return withScripts(ctx, p.rdb, func() error { return p.send(ctx, fn) })
}

func (p *pipe) send(ctx context.Context, fn func(redis.Pipeliner)) error {
	c := &pipeCall{queue: fn, err: make(chan error, 1)}
	if err := p.enqueue(c, maxPipeQueue); err != nil {
		return err
	}
	select {
	case err := <-c.err:
		return err
	case <-ctx.Done():
		// The commands may still run; callers treat this like a timeout of
		// the network, which leaves the same doubt.
		return ctx.Err()
	}
}

// post queues fn's commands for the next pipeline and returns without
// waiting for them; their results and errors are dropped. They still go out
// in order with the caller's other calls: a call made after post returns
// reaches Redis after them.
func (p *pipe) post(fn func(redis.Pipeliner)) error {
	return p.postCall(&pipeCall{queue: fn})
}

// postCall is post of a call made by the caller.
func (p *pipe) postCall(c *pipeCall) error {
	if at := p.failedAt.Load(); at != 0 && time.Since(time.Unix(0, at)) < postRetry {
		return fmt.Errorf("%w: the last pipeline failed", ErrUnavailable)
	}
	return p.enqueue(c, maxPosted)
}

// enqueue queues c unless the queue holds limit calls already.
func (p *pipe) enqueue(c *pipeCall, limit int) error {
	p.mu.Lock()
	switch {
	case p.closed:
		p.mu.Unlock()
		return ErrClosed
	case len(p.queue) >= limit:
		p.mu.Unlock()
		return fmt.Errorf("%w: %d calls wait for redis", ErrUnavailable, len(p.queue))
	}
	p.queue = append(p.queue, c)
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
	return nil
}

// run is the sender goroutine.
func (p *pipe) run() {
	defer close(p.done)
	var batch []*pipeCall
	for {
		select {
		case <-p.wake:
		case <-p.quit:
			p.failQueued()
			return
		}
		for {
			p.mu.Lock()
			n := min(len(p.queue), maxPipeBatch)
			batch = append(batch[:0], p.queue[:n]...)
			p.queue = append(p.queue[:0], p.queue[n:]...)
			p.mu.Unlock()
			if n == 0 {
				break
			}
			p.exec(batch)
			clear(batch)
			select {
			case <-p.quit:
				// What still waits fails now: a Redis that does not answer
				// must not hold Close for a timeout per batch.
				p.failQueued()
				return
			default:
			}
		}
	}
}

func (p *pipe) failQueued() {
	p.mu.Lock()
	rest := p.queue
	p.queue = nil
	p.mu.Unlock()
	for _, c := range rest {
		if c.err != nil {
			c.err <- ErrClosed
		}
	}
}

// exec sends one pipeline and hands every caller its error.
func (p *pipe) exec(batch []*pipeCall) {
	ctx, cancel := context.WithTimeout(context.Background(), p.timeout)
	defer cancel()
	pl := p.rdb.Pipeline()
	bounds := make([]int, len(batch)+1)
	foldRecords(batch)
	for i, c := range batch {
		if f := c.fold; f != nil && !f.merged {
			pl.RPushX(context.Background(), f.key, f.record())
		}
		c.queue(pl)
		bounds[i+1] = pl.Len()
	}
	cmds, err := pl.Exec(ctx)
	var reply redis.Error
	if err != nil && !errors.As(err, &reply) {
		p.failedAt.Store(time.Now().UnixNano())
	} else {
		p.failedAt.Store(0)
	}
	for i, c := range batch {
		if c.err == nil {
			continue // posted
		}
		var mine []redis.Cmder
		if bounds[i+1] <= len(cmds) {
			mine = cmds[bounds[i]:bounds[i+1]]
		}
		c.err <- firstErr(mine, err)
	}
}

// firstErr is the error of the first failed command of one call. A
// pipeline that failed as a whole (no connection, a broken one, a timeout)
// fails every call, whether or not go-redis marked each command; an error
// reply of Redis belongs to its command only.
func firstErr(cmds []redis.Cmder, execErr error) error {
	for _, cmd := range cmds {
		if err := cmd.Err(); err != nil && !errors.Is(err, redis.Nil) {
			return err
		}
	}
	var reply redis.Error
	if execErr != nil && !errors.As(execErr, &reply) {
		return execErr
	}
	return nil
}

// close fails the calls that wait and stops the sender, after the pipeline
// in flight.
func (p *pipe) close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	p.mu.Unlock()
	close(p.quit)
	<-p.done
}
