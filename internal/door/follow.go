package door

import (
	"context"
	"errors"
	"strings"
	"time"

	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/agentgate/agentgate/internal/agent"
	"github.com/agentgate/agentgate/internal/edge"
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
// (ErrClientGone), its token expired (an *edge.Expired: ctx is the
// request's, which edge.Policy.ProtectDoor ends then), the server drains
// (ErrDraining), or following failed
// (the agent service's error: among them the log lost under the reply,
// agent.ErrHistoryReset, and the agent deleted, agent.ErrAgentDeleted).
// While the reply is silent, sse gets a heartbeat comment every
// c.Heartbeat. Every reply.CheckEvery, silent or not (a run can write on
// for a while after its log was lost), the reply looks at the log itself,
// so that a stream whose log went away ends instead of waiting for ever.
// The adjacent text deltas of one turn go out as one frame (see
// coalescer). It cancels nothing.
func (c *Config) Follow(ctx context.Context, reply *agent.Follower, sse *SSE, emit func(*agentv1.AgentEvent)) error {
	co := coalescer{emit: emit, sse: sse}
	err := reply.Start(ctx, co.deliver)
	if err := c.settle(ctx, sse, &co, err); err != nil || reply.Done() {
		return err
	}
	hb := time.NewTimer(c.Heartbeat)
	defer hb.Stop()
	check := time.NewTicker(reply.CheckEvery())
	defer check.Stop()
	for {
		select {
		case <-ctx.Done():
			return gone(ctx)
		case <-c.Draining:
			return ErrDraining
		case <-hb.C:
			sse.Comment("keep-alive")
			if err := sse.Flush(); err != nil {
				return ErrClientGone
			}
		case <-check.C:
			err := reply.Check(ctx, co.deliver)
			if err := c.settle(ctx, sse, &co, err); err != nil || reply.Done() {
				return err
			}
			continue // a check is not traffic: the heartbeat runs on
		case <-reply.Ready():
			err := reply.Pump(ctx, co.deliver)
			if err := c.settle(ctx, sse, &co, err); err != nil || reply.Done() {
				return err
			}
		}
		hb.Reset(c.Heartbeat)
	}
}

// settle passes on the text a turn of delivery held back, flushes what it
// buffered and says how the stream goes on.
func (c *Config) settle(ctx context.Context, sse *SSE, co *coalescer, err error) error {
	co.flush()
	if co.err != nil || sse.Flush() != nil {
		return ErrClientGone
	}
	if err != nil && ctx.Err() != nil {
		return gone(ctx)
	}
	return err
}

// gone is why a stream whose context ended stops: the client went
// (ErrClientGone), or its token expired (the *edge.Expired of
// edge.Policy.Expiring), which the stream ends with on the wire.
func gone(ctx context.Context) error {
	if e := edge.ExpiredOf(ctx); e != nil {
		return e
	}
	return ErrClientGone
}

// coalescer joins the adjacent text deltas of one turn of delivery (what
// waited in the reply's subscription when the door looked) into one, so
// that a burst costs the client one frame instead of one per delta, and
// the door keeps up with a writer faster than its client. Any other event
// passes the held text on first; so does flush, at the end of the turn, or
// a held text that reached maxHeld bytes. A turn that buffered maxBuffered
// bytes of frames sends them before it goes on.
type coalescer struct {
	emit func(*agentv1.AgentEvent)
	sse  *SSE
	// err is the failed write to the client, if any: it ends the turn.
	err error
	// held is the first delta held back; text its text and the text of
	// the deltas that followed it, the newest of them with run_seq seq.
	held *agentv1.AgentEvent
	text strings.Builder
	seq  uint64
}

const (
	// maxHeld bounds the text held back in one turn: a long burst still
	// goes out in pieces of about this size.
	maxHeld = 32 << 10
	// maxBuffered bounds the frames one turn buffers before they are sent.
	maxBuffered = 64 << 10
)

func (co *coalescer) deliver(ev *agentv1.AgentEvent) error {
	d := ev.GetTextDelta()
	if d == nil || ev.GetSeq() != 0 {
		co.flush()
		co.send(ev)
		return co.err
	}
	if h := co.held.GetTextDelta(); h != nil && (h.GetRunId() != d.GetRunId() || h.GetMessageId() != d.GetMessageId()) {
		co.flush()
	}
	if co.held == nil {
		co.held = ev
	}
	co.text.WriteString(d.GetDelta())
	co.seq = ev.GetRunSeq()
	if co.text.Len() >= maxHeld {
		co.flush()
	}
	return co.err
}

// send passes ev on to the door, and the frames buffered so far to the
// client once they are many.
func (co *coalescer) send(ev *agentv1.AgentEvent) {
	co.emit(ev)
	if co.err == nil && co.sse.Buffered() >= maxBuffered {
		co.err = co.sse.Flush()
	}
}

// flush passes the held text on, as one delta.
func (co *coalescer) flush() {
	ev := co.held
	if ev == nil {
		return
	}
	co.held = nil
	if d := ev.GetTextDelta(); co.text.Len() != len(d.GetDelta()) {
		ev = &agentv1.AgentEvent{
			AgentId: ev.GetAgentId(), CreateTime: ev.GetCreateTime(), Epoch: ev.GetEpoch(), RunSeq: co.seq,
			Kind: &agentv1.AgentEvent_TextDelta{TextDelta: &agentv1.TextDelta{
				RunId: d.GetRunId(), MessageId: d.GetMessageId(), Delta: co.text.String(),
			}},
		}
	}
	co.text.Reset()
	co.send(ev)
}
