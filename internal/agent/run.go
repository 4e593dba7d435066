package agent

import (
	"context"
	"strings"
	"sync"
	"unicode/utf8"

	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/agentgate/agentgate/internal/engine"
	"github.com/agentgate/agentgate/responder"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// runStream is the responder.Stream of one run: each call becomes an
// ephemeral event, numbered by run_seq and recorded as the run's progress
// (engine.PublishRun), and is kept for the persisted reply.
//
// It also holds the run to Config.MaxReplyBytes: the text, tool call names,
// arguments and results written count against it, and every event costs at
// least a byte, so that neither the reply nor the events published for it
// grow past the cap whatever the responder is fed. The piece that crosses
// the cap is cut on a UTF-8 boundary; then the run's context is cancelled
// (the upstream request ends at once) and every method returns
// responder.ErrReplyTooLarge. The replier keeps the reply with finish reason
// length.
type runStream struct {
	s       *Service
	ctx     context.Context
	stop    context.CancelFunc // cancels ctx; the replier sets it
	lease   engine.Lease
	runID   string
	replyID string
	seq     uint64 // run_seq of the last event published
	// epoch is the epoch of the log the run answers in: every event
	// carries it, so that followers drop those of a log that is gone.
	epoch string

	left int  // bytes the reply may still take
	full bool // the cap was reached

	text  strings.Builder
	calls []*agentv1.ToolCall
	byID  map[string]*agentv1.ToolCall
}

// maxToolCallID is the longest tool call id kept; longer ones (no model
// server sends them) are cut, the same way everywhere, so that they still
// match, and so that the id repeated in every event of a call stays small.
const maxToolCallID = 256

func newRunStream(ctx context.Context, s *Service, lease engine.Lease, runID, replyID string) *runStream {
	return &runStream{s: s, ctx: ctx, stop: func() {}, lease: lease, runID: runID, replyID: replyID, left: s.cfg.MaxReplyBytes}
}

// publish numbers ev and sends it. Losing an ephemeral event is harmless, as
// the reply that follows carries everything, so failures are only logged;
// the caller learns of a cancelled or timed-out run from the error.
func (r *runStream) publish(ev *agentv1.AgentEvent) error {
	if err := r.ctx.Err(); err != nil {
		return err
	}
	r.seq++
	ev.RunSeq = r.seq
	ev.AgentId = r.lease.AgentID
	ev.Epoch = r.epoch
	ev.CreateTime = timestamppb.New(r.s.cfg.Now())
	if err := r.s.runs.PublishRun(r.ctx, r.lease, ev); err != nil && r.ctx.Err() == nil {
		r.s.logger.Debug("publish failed", "agent", r.lease.AgentID, "err", err)
	}
	return nil
}

// fit takes s, or the part of it that fits in what the reply may still
// take, cut on a UTF-8 boundary; whole is false if it was cut. An event
// without content (s empty) costs a byte.
func (r *runStream) fit(s string) (part string, whole bool) {
	if r.full {
		return "", false
	}
	n := max(len(s), 1)
	if n <= r.left {
		r.left -= n
		return s, true
	}
	cut := min(r.left, len(s))
	for cut > 0 && cut < len(s) && !utf8.RuneStart(s[cut]) {
		cut--
	}
	r.left, r.full = 0, true
	return s[:cut], false
}

// written is how many bytes of the cap the run used.
func (r *runStream) written() int { return r.s.cfg.MaxReplyBytes - r.left }

// overflow ends a run that reached the cap: the responder's context is
// cancelled, so that it stops reading its upstream, and it is told why.
func (r *runStream) overflow() error {
	r.stop()
	return responder.ErrReplyTooLarge
}

func (r *runStream) started(replyTo uint64) error {
	return r.publish(&agentv1.AgentEvent{Kind: &agentv1.AgentEvent_RunStarted{RunStarted: &agentv1.RunStarted{
		RunId: r.runID, MessageId: r.replyID, ReplyToSeq: replyTo,
	}}})
}

// Text implements responder.Stream.
func (r *runStream) Text(delta string) error {
	if delta == "" {
		if r.full {
			return responder.ErrReplyTooLarge
		}
		return r.ctx.Err()
	}
	part, whole := r.fit(delta)
	if part != "" {
		if err := r.publish(&agentv1.AgentEvent{Kind: &agentv1.AgentEvent_TextDelta{TextDelta: &agentv1.TextDelta{
			RunId: r.runID, MessageId: r.replyID, Delta: part,
		}}}); err != nil {
			return err
		}
		r.text.WriteString(part)
	}
	if !whole {
		return r.overflow()
	}
	return nil
}

// call returns the tool call with id, starting one if the responder skipped
// ToolCallStart, so that what it reported is kept either way.
func (r *runStream) call(id string) *agentv1.ToolCall {
	c := r.byID[id]
	if c == nil {
		if r.byID == nil {
			r.byID = map[string]*agentv1.ToolCall{} // most replies make no call
		}
		c = &agentv1.ToolCall{ToolCallId: id}
		r.byID[id] = c
		r.calls = append(r.calls, c)
	}
	return c
}

// cutToolCallID is id as kept: cut to maxToolCallID on a UTF-8 boundary.
func cutToolCallID(id string) string {
	if len(id) <= maxToolCallID {
		return id
	}
	cut := maxToolCallID
	for cut > 0 && !utf8.RuneStart(id[cut]) {
		cut--
	}
	return id[:cut]
}

// ToolCallStart implements responder.Stream. A name that does not fit
// starts no call.
func (r *runStream) ToolCallStart(id, name string) error {
	id = cutToolCallID(id)
	if _, whole := r.fit(name); !whole {
		return r.overflow()
	}
	if err := r.publish(&agentv1.AgentEvent{Kind: &agentv1.AgentEvent_ToolCallStart{ToolCallStart: &agentv1.ToolCallStart{
		RunId: r.runID, MessageId: r.replyID, ToolCallId: id, Name: name,
	}}}); err != nil {
		return err
	}
	r.call(id).Name = name
	return nil
}

// ToolCallArgs implements responder.Stream.
func (r *runStream) ToolCallArgs(id, delta string) error {
	id = cutToolCallID(id)
	part, whole := r.fit(delta)
	if part != "" || whole {
		if err := r.publish(&agentv1.AgentEvent{Kind: &agentv1.AgentEvent_ToolCallArgs{ToolCallArgs: &agentv1.ToolCallArgs{
			RunId: r.runID, ToolCallId: id, Delta: part,
		}}}); err != nil {
			return err
		}
		r.call(id).Arguments += part
	}
	if !whole {
		return r.overflow()
	}
	return nil
}

// ToolCallEnd implements responder.Stream.
func (r *runStream) ToolCallEnd(id string) error {
	id = cutToolCallID(id)
	if _, whole := r.fit(""); !whole {
		return r.overflow()
	}
	r.call(id)
	return r.publish(&agentv1.AgentEvent{Kind: &agentv1.AgentEvent_ToolCallEnd{ToolCallEnd: &agentv1.ToolCallEnd{
		RunId: r.runID, ToolCallId: id,
	}}})
}

// ToolCallResult implements responder.Stream.
func (r *runStream) ToolCallResult(id, content string) error {
	id = cutToolCallID(id)
	part, whole := r.fit(content)
	if part != "" || whole {
		if err := r.publish(&agentv1.AgentEvent{Kind: &agentv1.AgentEvent_ToolCallResult{ToolCallResult: &agentv1.ToolCallResult{
			RunId: r.runID, MessageId: r.replyID, ToolCallId: id, Content: part,
		}}}); err != nil {
			return err
		}
		r.call(id).Result = part
	}
	if !whole {
		return r.overflow()
	}
	return nil
}

// Interrupt implements responder.Stream. The run cannot be paused for an
// answer yet: the interrupt is logged, and the reply is kept as it ends
// (finish reason tool_calls), as the upstream reported it.
func (r *runStream) Interrupt(i responder.Interrupt) error {
	r.s.logger.Warn("the upstream asked a question the gateway cannot hold the run for yet; the reply ends as it is",
		"agent", r.lease.AgentID, "run_id", r.runID, "interrupt_id", i.ID, "reason", i.Reason)
	return r.ctx.Err()
}

// reply is the persisted reply: what was written, and how it ended.
func (r *runStream) reply(replyTo uint64, res responder.Result) *agentv1.Message {
	m := &agentv1.Message{
		MessageId:    r.replyID,
		Role:         agentv1.Role_ROLE_ASSISTANT,
		Text:         r.text.String(),
		RunId:        r.runID,
		ReplyToSeq:   replyTo,
		ToolCalls:    r.calls,
		FinishReason: finishReason(res.FinishReason),
	}
	if u := res.Usage; u != nil {
		m.Usage = &agentv1.Usage{InputTokens: u.InputTokens, OutputTokens: u.OutputTokens, Model: u.Model}
	}
	return m
}

func finishReason(f responder.FinishReason) agentv1.FinishReason {
	switch f {
	case responder.FinishLength:
		return agentv1.FinishReason_FINISH_REASON_LENGTH
	case responder.FinishCancelled:
		return agentv1.FinishReason_FINISH_REASON_CANCELLED
	case responder.FinishContentFilter:
		return agentv1.FinishReason_FINISH_REASON_CONTENT_FILTER
	case responder.FinishToolCalls:
		return agentv1.FinishReason_FINISH_REASON_TOOL_CALLS
	}
	return agentv1.FinishReason_FINISH_REASON_STOP
}

// cancels routes CancelRun to the run a replier writes. The replier's
// cancel listener calls cancel, and delete when the agent is deleted, from
// the engine's delivery (with the engine's lock held: that lock comes
// before mu); begin and end bracket each run.
type cancels struct {
	mu        sync.Mutex
	runID     string
	stop      context.CancelFunc
	cancelled bool
	deleted   bool // the agent was deleted under the listener
}

// reset forgets a deletion: the replier listens anew.
func (c *cancels) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.deleted = false
}

// delete records that the agent was deleted.
func (c *cancels) delete() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.deleted = true
}

// wasDeleted reports whether the agent was deleted under the listener.
func (c *cancels) wasDeleted() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.deleted
}

func (c *cancels) begin(runID string, stop context.CancelFunc) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.runID, c.stop, c.cancelled = runID, stop, false
}

// end reports whether the run was cancelled by CancelRun.
func (c *cancels) end() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.runID, c.stop = "", nil
	return c.cancelled
}

func (c *cancels) cancel(runID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stop != nil && c.runID == runID {
		c.cancelled = true
		c.stop()
	}
}
