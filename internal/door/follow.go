package door

import (
	"context"
	"errors"
	"time"

	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/agentgate/agentgate/internal/agent"
)

// How a followed stream ended, besides its reply being delivered.
var (
	// ErrDraining: the server began to shut down.
	ErrDraining = errors.New("server is draining")
	// ErrClientGone: the client disconnected or stopped reading. The reply
	// is written anyway; a retry or a resume gets it.
	ErrClientGone = errors.New("client gone")
)

// Follow delivers the events of reply to emit, then sends out what emit
// buffered on sse, until the reply was delivered (nil), the client went
// (ErrClientGone), the server drains (ErrDraining), or following failed
// (the agent service's error). While the reply is silent, sse gets a
// heartbeat comment every c.Heartbeat. It cancels nothing.
func (c *Config) Follow(ctx context.Context, reply *agent.Reply, sse *SSE, emit func(*agentv1.AgentEvent)) error {
	deliver := func(ev *agentv1.AgentEvent) error {
		emit(ev)
		return nil
	}
	done, err := reply.Start(ctx, deliver)
	if err := c.settle(ctx, sse, err); err != nil || done {
		return err
	}
	hb := time.NewTimer(c.Heartbeat)
	defer hb.Stop()
	for {
		select {
		case <-ctx.Done():
			return ErrClientGone
		case <-c.Draining:
			return ErrDraining
		case <-hb.C:
			sse.Comment("keep-alive")
			if err := sse.Flush(); err != nil {
				return ErrClientGone
			}
		case <-reply.Ready():
			done, err := reply.Pump(ctx, deliver)
			if err := c.settle(ctx, sse, err); err != nil || done {
				return err
			}
		}
		hb.Reset(c.Heartbeat)
	}
}

// settle flushes what a turn of delivery buffered and says how the stream
// goes on.
func (c *Config) settle(ctx context.Context, sse *SSE, err error) error {
	if ferr := sse.Flush(); ferr != nil {
		return ErrClientGone
	}
	if err != nil && ctx.Err() != nil {
		return ErrClientGone
	}
	return err
}
