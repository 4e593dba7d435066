package agent

import (
	"context"
	"slices"
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
	replyID string // the message id of the step
	step    uint32
	seq     uint64 // run_seq of the last event published
	// epoch is the epoch of the log the run answers in: every event
	// carries it, so that followers drop those of a log that is gone.
	epoch string

	left int  // bytes the reply may still take
	full bool // the cap was reached
	// events counts the events published.
	events int

	text  strings.Builder
	calls []*agentv1.ToolCall
	byID  map[string]*agentv1.ToolCall
	// answered marks the calls whose result the responder reported.
	answered map[string]bool

	// Tool call ids are unique within a run: used holds the ids of the
	// run's earlier steps, and alias maps an id the responder used again
	// (or left empty) to the one the gateway made for it in this step.
	used  map[string]bool
	alias map[string]string
	// held are the earlier steps' calls an upstream's interrupt held, by
	// id, with the message id of their step; earlier their results, which
	// the upstream reported in this step.
	held    map[string]string
	earlier []*agentv1.ToolCallResult
	// interrupts are the upstream's, in the order reported.
	interrupts []responder.Interrupt
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
	r.send(r.ctx, ev)
	return nil
}

// publishAlways publishes ev, an event the gateway adds to the step after
// the responder returned (a server tool's result, an approval request),
// whether or not the step's own context ended: the run's goes on.
func (r *runStream) publishAlways(ev *agentv1.AgentEvent) error {
	r.send(context.WithoutCancel(r.ctx), ev)
	return nil
}

// send numbers ev and publishes it with ctx.
func (r *runStream) send(ctx context.Context, ev *agentv1.AgentEvent) {
	r.seq++
	r.events++
	ev.RunSeq = r.seq
	ev.AgentId = r.lease.AgentID
	ev.Epoch = r.epoch
	ev.CreateTime = timestamppb.New(r.s.cfg.Now())
	if err := r.s.runs.PublishRun(ctx, r.lease, ev); err != nil && ctx.Err() == nil {
		r.s.logger.Debug("publish failed", "agent", r.lease.AgentID, "err", err)
	}
}

// quiet reports whether the step published nothing but its start: it can
// be tried again without a client seeing a piece twice.
func (r *runStream) quiet() bool { return r.events <= 1 }

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

// started announces the step: run_started for step 0, step_started for
// the others.
func (r *runStream) started(replyTo uint64) error {
	if r.step > 0 {
		return r.publish(&agentv1.AgentEvent{Kind: &agentv1.AgentEvent_StepStarted{StepStarted: &agentv1.StepStarted{
			RunId: r.runID, MessageId: r.replyID, Step: r.step, ReplyToSeq: replyTo,
		}}})
	}
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

// callID is the id the gateway keeps for the responder's id of a call of
// this step: the same, unless the responder used it in an earlier step of
// the run, used it for another call of this step, or left it empty, when
// the gateway makes one (starting says a call starts with it).
func (r *runStream) callID(id string, starting bool) string {
	id = cutToolCallID(id)
	if a, ok := r.alias[id]; ok && !(starting && r.byID[a] != nil) {
		return a
	}
	if id != "" && !r.used[id] && !(starting && r.byID[id] != nil) {
		return id
	}
	if !starting && r.held[id] != "" {
		return id // an earlier step's call the upstream answers now
	}
	made := "call_" + newID()
	if r.alias == nil {
		r.alias = map[string]string{}
	}
	r.alias[id] = made
	return made
}

// ToolCallStart implements responder.Stream. A name that does not fit
// starts no call.
func (r *runStream) ToolCallStart(id, name string) error {
	id = r.callID(id, true)
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
	id = r.callID(id, false)
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
	id = r.callID(id, false)
	if _, whole := r.fit(""); !whole {
		return r.overflow()
	}
	r.call(id)
	return r.publish(&agentv1.AgentEvent{Kind: &agentv1.AgentEvent_ToolCallEnd{ToolCallEnd: &agentv1.ToolCallEnd{
		RunId: r.runID, ToolCallId: id,
	}}})
}

// ToolCallResult implements responder.Stream: the result of a call the
// responder's upstream ran itself, of this step or, once an interrupt
// about it was answered, of an earlier step.
func (r *runStream) ToolCallResult(id, content string) error {
	id = r.callID(id, false)
	if step := r.held[id]; step != "" && r.byID[id] == nil {
		return r.earlierResult(id, step, content)
	}
	part, whole := r.fit(content)
	if part != "" || whole {
		if err := r.publish(&agentv1.AgentEvent{Kind: &agentv1.AgentEvent_ToolCallResult{ToolCallResult: &agentv1.ToolCallResult{
			RunId: r.runID, MessageId: r.replyID, ToolCallId: id, Content: part, State: agentv1.ToolCallState_TOOL_CALL_STATE_DONE,
		}}}); err != nil {
			return err
		}
		r.call(id).Result = part
		if r.answered == nil {
			r.answered = map[string]bool{}
		}
		r.answered[id] = true
	}
	if !whole {
		return r.overflow()
	}
	return nil
}

// earlierResult keeps the result of a call an interrupt held in an
// earlier step (its step's message id), once: it is persisted with this
// step.
func (r *runStream) earlierResult(id, step, content string) error {
	part, whole := r.fit(content)
	res := &agentv1.ToolCallResult{RunId: r.runID, MessageId: step, ToolCallId: id, Content: part, State: agentv1.ToolCallState_TOOL_CALL_STATE_DONE}
	if err := r.publish(&agentv1.AgentEvent{Kind: &agentv1.AgentEvent_ToolCallResult{ToolCallResult: res}}); err != nil {
		return err
	}
	delete(r.held, id)
	r.earlier = append(r.earlier, res)
	if !whole {
		return r.overflow()
	}
	return nil
}

// Interrupt implements responder.Stream: the step pauses for a person's
// answer to it (see the run's pause). An interrupt without an id, or
// whose id came before in the step, is dropped: it could not be answered.
func (r *runStream) Interrupt(i responder.Interrupt) error {
	if err := r.ctx.Err(); err != nil {
		return err
	}
	if i.ID == "" || slices.ContainsFunc(r.interrupts, func(o responder.Interrupt) bool { return o.ID == i.ID }) || len(i.ID) > maxToolCallID {
		r.s.logger.Warn("an upstream interrupt without a usable id was dropped", "agent", r.lease.AgentID, "run_id", r.runID)
		return nil
	}
	if _, whole := r.fit(i.Message); !whole {
		return r.overflow()
	}
	if i.ToolCallID != "" {
		i.ToolCallID = r.callID(i.ToolCallID, false)
	}
	r.interrupts = append(r.interrupts, i)
	return nil
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
		Step:         r.step,
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

// expect routes the cancels of runID, a run that begins with the append
// about to be made (engine.AppendOptions.Begin), to the run once it
// begins: a CancelRun that finds the run before then is kept for it.
func (c *cancels) expect(runID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.runID, c.stop, c.cancelled = runID, nil, false
}

// begin routes the cancels of runID to stop; one kept for it since
// expect stops it at once.
func (c *cancels) begin(runID string, stop context.CancelFunc) {
	c.mu.Lock()
	defer c.mu.Unlock()
	kept := c.cancelled && c.runID == runID
	c.runID, c.stop, c.cancelled = runID, stop, kept
	if kept {
		stop()
	}
}

// end reports whether the run was cancelled by CancelRun.
func (c *cancels) end() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.runID, c.stop = "", nil
	return c.cancelled
}

// was reports whether the run under way was cancelled by CancelRun.
func (c *cancels) was() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cancelled
}

func (c *cancels) cancel(runID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.runID == runID && runID != "" {
		c.cancelled = true
		if c.stop != nil {
			c.stop()
		}
	}
}
