package door

import (
	"context"
	"errors"

	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/agentgate/agentgate/internal/agent"
)

// Translator is a door's Sink that also makes its wire's events: what the
// Sink calls produced is taken after each, to be written to the stream.
type Translator interface {
	Sink
	// Take returns the wire events made since the last Take.
	Take() []any
	// Code is the error code the stream ended with, if it failed.
	Code() string
}

// Relay streams reply to sse in tr's wire: it follows the reply (see
// Follow), feeds its events through asm, an Assembler into tr, and writes
// what tr made as it comes (first what it made before). The reply ends
// where the follower is done: a follower of a run from a later step
// passes the run's earlier pauses on, which do not end it. A stream that
// fails, other than by the client going away, is ended on the wire with
// tr's error event, the code and message of ErrorOf, buffered for the door
// to flush after whatever it ends a stream with. Relay returns the code to
// record for the stream and Follow's error, or the write's that stopped
// it.
func (c *Config) Relay(ctx context.Context, reply *agent.Follower, sse *SSE, asm *Assembler, tr Translator) (code string, err error) {
	werr := sse.DataAll(tr.Take())
	err = c.Follow(ctx, reply, sse, func(ev *agentv1.AgentEvent) {
		// The follower is done once it delivered the event that ends the
		// reply: it says which one does.
		asm.event(ev, reply.Done())
		if werr == nil {
			werr = sse.DataAll(tr.Take())
		}
	})
	if werr != nil {
		err = werr
	}
	if err == nil || errors.Is(err, ErrClientGone) {
		return tr.Code(), err
	}
	e := ErrorOf(err)
	asm.Fail(e.Code, e.Message)
	_ = sse.DataAll(tr.Take())
	return e.Code, err
}
