package agent

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/agentgate/agentgate/internal/engine"
	"github.com/agentgate/agentgate/responder"
	"github.com/agentgate/agentgate/tool"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// This file is the tool loop: the run that answers one user message, as
// a sequence of steps. Each step calls the responder with the run so far
// and is appended as one assistant message (engine.Log.AppendRun) with
// every call's state: the server tools' calls run before the step is
// appended, their results in it; a step whose calls all have results goes
// on at once with the next step; one that waits for a client's result or
// a person's decision pauses the run (the store keeps what it waits for,
// see calls.go); a step without calls ends the run, and so does MAX_STEPS,
// CancelRun, the size cap or a failure. A paused run goes on (resumed) on
// whichever replica holds the lease when its last answer came: the run is
// read back from the log (loadRun), so any replica continues it where it
// stands, and a replica that took over a run whose writer died does the
// same.

// run is one run being written by the replier: its state, and the step
// under way.
type run struct {
	r     *replier
	s     *Service
	lease engine.Lease
	st    *runState
	// ctx is the replier's: the step and each tool call run under a
	// context of their own made from it (see bounded), which stop, the
	// run's CancelRun, cancels.
	ctx context.Context
	// mu guards stopped and stops: whether CancelRun stopped the run, and
	// the cancels of the contexts made for it. The replier's cancels call
	// stop with their own lock held, which so comes before mu.
	mu      sync.Mutex
	stopped bool
	stops   []context.CancelFunc
	// history is the conversation before the message, the same for every
	// step; message the message; steps the run so far, each with its
	// calls' results.
	history []responder.Message
	message responder.Message
	steps   []responder.Message
	// used are the tool call ids of the run so far.
	used map[string]bool
	// written is how much the run's steps wrote, for Config.ReleaseMemory.
	written int
	// kept are the events the run appended, as stored: a SendMessage
	// that answers its own message returns the reply from them.
	kept []*agentv1.AgentEvent
	// begun is the run_started its first step began with, published by
	// the append of its message (engine.Work.Begun); nil once that step
	// is under way, or if the run published its own.
	begun *agentv1.AgentEvent
}

// runDone is how the writing of a run ended: next is the work the lease
// was kept for (nil once it is released), kept the events the run
// appended, as stored, which end with its reply unless an append's answer
// was lost on the way (the log has them then).
type runDone struct {
	next *engine.Work
	kept []*agentv1.AgentEvent
}

// runFor writes (or goes on with) the run that answers the user message at
// seq, under w's lease, and returns the next work (nil once the lease is
// released) with the events it appended.
func (r *replier) runFor(ctx context.Context, seq uint64, w *engine.Work) (runDone, error) {
	s := r.s
	st, err := s.loadRun(ctx, r.agentID, seq, w.Page)
	if err != nil {
		return runDone{}, err
	}
	x := &run{r: r, s: s, lease: w.Lease, st: st}
	switch {
	case st.user == nil:
		// Only a run to resume can lose its message: one waiting was read
		// just now. The history no longer holds it.
		next, err := x.end(ctx, nil, &agentv1.AgentEvent{CreateTime: timestamppb.New(s.cfg.Now()), Kind: &agentv1.AgentEvent_RunError{RunError: &agentv1.RunError{
			RunId: st.runID, ReplyToSeq: seq, Code: "run_lost",
			Message: "the message this run answered is no longer in the agent's history; send it again",
		}}})
		return runDone{next: next, kept: x.kept}, err
	case st.ended:
		next, err := x.end(ctx, nil, nil)
		return runDone{next: next, kept: x.kept}, err
	}
	switch b := w.Begun; {
	case st.runID != "":
	case b.GetRunStarted().GetReplyToSeq() == seq:
		// The append began the run (engine.AppendOptions.Begin).
		st.runID, x.begun = b.GetRunStarted().GetRunId(), b
	default:
		st.runID = newID()
	}
	x.message = messageOf(st.user.GetMessage())
	x.history, err = s.conversation(ctx, r.agentID, seq, s.contextMessages, w.Page)
	if err != nil {
		if ctx.Err() != nil {
			return runDone{}, ctx.Err()
		}
		s.logger.Warn("reading the conversation failed; answering without it", "agent", r.agentID, "seq", seq, "err", err)
	}
	for _, m := range st.steps {
		x.steps = append(x.steps, st.stepMessage(m))
		x.use(m)
	}
	x.ctx = ctx
	r.cancels.begin(st.runID, x.stop)
	defer r.cancels.end()
	next, err := x.loop(ctx)
	if release := s.cfg.ReleaseMemory; release != nil && x.written >= largeRun {
		release()
	}
	return runDone{next: next, kept: x.kept}, err
}

// keep records events the run appended, as stored.
func (x *run) keep(evs []*agentv1.AgentEvent) {
	if x.kept == nil {
		x.kept = slices.Clip(evs) // an append copies: evs are the engine's
		return
	}
	x.kept = append(x.kept, evs...)
}

// loop writes steps until the run ends or pauses.
func (x *run) loop(ctx context.Context) (*engine.Work, error) {
	s := x.s
	step := len(x.st.steps)
	var resumed *resumption
	if step > 0 {
		resumed = x.resumption()
	}
	for {
		out := x.stream(uint32(step))
		if b := x.begun; b != nil && step == 0 {
			// Published already: the step goes on from it.
			out.replyID, out.seq, out.events = b.GetRunStarted().GetMessageId(), b.GetRunSeq(), 1
		} else {
			_ = out.started(x.st.seq)
		}
		x.begun = nil
		var pre []*agentv1.AgentEvent
		var resume []responder.Resume
		if resumed != nil {
			pre = x.runApproved(out, resumed)
			resume = resumed.resume
			resumed = nil
		}
		if x.r.cancels.was() || ctx.Err() != nil {
			out.stop()
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return x.end(ctx, pre, x.cancelledStep(out))
		}
		box := s.toolbox(x.ctx, x.st.lent)
		res, err, timedOut := x.respond(out, step, box, resume)
		if ctx.Err() != nil {
			// Shutting down, the lease is lost, or the agent deleted.
			return nil, ctx.Err()
		}
		x.written += out.written()
		st := x.finish(out, step, box, res, err, timedOut)
		out.stop()
		evs := append(pre, x.earlier(out)...)
		evs = append(evs, st.event)
		switch st.end {
		case engine.RunGoesOn:
			// One try: a step appended twice would be two steps. A failure
			// gives the lease up, and whoever takes the run next reads
			// from the log where it stands.
			res, err := s.log.AppendRun(ctx, x.r.agentID, evs, engine.RunAppend{Lease: x.lease, Answers: x.st.seq, End: engine.RunGoesOn})
			if err != nil {
				return nil, err
			}
			x.keep(res.Events)
			x.steps = append(x.steps, x.st.stepMessage(st.event.GetMessage()))
			x.use(st.event.GetMessage())
			x.st.runSeq = out.seq
			step++
		case engine.RunPauses:
			return x.pause(ctx, evs, st)
		default:
			return x.end(ctx, evs[:len(evs)-1], st.event)
		}
	}
}

// stream is the runStream of step n of the run.
func (x *run) stream(n uint32) *runStream {
	s := x.s
	rctx, cancel := x.bounded(s.cfg.ReplyTimeout)
	out := newRunStream(rctx, s, x.lease, x.st.runID, newID())
	out.stop = cancel
	out.step = n
	out.seq = x.st.runSeq
	out.epoch = x.st.user.GetEpoch()
	out.used = x.used
	out.held = x.heldCalls()
	return out
}

// use records the tool call ids of a step of the run as used.
func (x *run) use(m *agentv1.Message) {
	for _, c := range m.GetToolCalls() {
		if x.used == nil {
			x.used = map[string]bool{}
		}
		x.used[c.GetToolCallId()] = true
	}
}

// heldCalls are the calls of the run's last step that an upstream's
// interrupt holds, by id, with their step's message id: the upstream
// reports their results itself, after the resume. Nil for none.
func (x *run) heldCalls() map[string]string {
	n := len(x.st.steps)
	if n == 0 {
		return nil
	}
	var held map[string]string
	for _, i := range x.st.steps[n-1].GetInterrupts() {
		if id := i.GetToolCallId(); id != "" && !x.st.hasResult(id) {
			if held == nil {
				held = map[string]string{}
			}
			held[id] = x.st.stepOfCall(id)
		}
	}
	return held
}

// earlier are the persisted results of the held calls the upstream
// answered in this step.
func (x *run) earlier(out *runStream) []*agentv1.AgentEvent {
	var evs []*agentv1.AgentEvent
	for _, res := range out.earlier {
		evs = append(evs, x.event(&agentv1.AgentEvent{Kind: &agentv1.AgentEvent_ToolCallResult{ToolCallResult: res}}))
		for i := range x.steps {
			for j := range x.steps[i].ToolCalls {
				if c := &x.steps[i].ToolCalls[j]; c.ID == res.GetToolCallId() {
					c.Result = res.GetContent()
				}
			}
		}
	}
	return evs
}

// event stamps ev with the clock.
func (x *run) event(ev *agentv1.AgentEvent) *agentv1.AgentEvent {
	ev.CreateTime = timestamppb.New(x.s.cfg.Now())
	return ev
}

// respond calls the responder for the step, once more with less context if
// the model server found the context too long (see budget), and says
// whether the step ran out of time.
func (x *run) respond(out *runStream, step int, box toolbox, resume []responder.Resume) (responder.Result, error, bool) {
	s := x.s
	req := responder.Request{
		AgentID: x.r.agentID, RunID: x.st.runID, Seq: x.st.seq, Message: x.message,
		Tools: box.defs, Step: step, Resume: resume,
	}
	budget := x.r.budget(s)
	req.History, req.Steps = fit(x.history, x.message, x.steps, box.defs, budget)
	res, err := x.ask(out, req)
	if errors.Is(err, responder.ErrContextTooLong) && out.quiet() && out.ctx.Err() == nil {
		less := contextBytes(req.History, req.Message, req.Steps, req.Tools) / 2
		s.logger.Info("the model server found the context too long; trying the step once with half of it",
			"agent", x.r.agentID, "run_id", x.st.runID, "step", step, "bytes", less)
		x.r.learn(less)
		req.History, req.Steps = fit(x.history, x.message, x.steps, box.defs, less)
		res, err = x.ask(out, req)
	}
	return res, err, errors.Is(out.ctx.Err(), context.DeadlineExceeded)
}

// errResponderPanicked is the error of a responder that panicked: the run
// ends with responder_failed, as for any error the responder returns.
var errResponderPanicked = errors.New("the responder panicked")

// ask calls the responder once. A responder is the user's code, and it
// runs on a caller's goroutine when a SendMessage writes its own reply,
// under the recovers of the server that called it: a panic that went up
// would leave the agent's replier answering and its lease renewed for
// ever. It is the run's error instead, logged with its stack.
func (x *run) ask(out *runStream, req responder.Request) (res responder.Result, err error) {
	defer func() {
		if p := recover(); p != nil {
			x.s.logger.Error("the responder panicked", "agent", x.r.agentID, "run_id", x.st.runID,
				"panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			res, err = responder.Result{}, errResponderPanicked
		}
	}()
	return x.s.cfg.Responder.Respond(out.ctx, req, out)
}

// bounded is a context of the run, for a step or a tool call, that ends
// after d, when the run is stopped, or with the replier's.
func (x *run) bounded(d time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(x.ctx, d)
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.stopped {
		cancel()
	} else {
		x.stops = append(x.stops, cancel)
	}
	return ctx, cancel
}

// stop is CancelRun of the run: every context made for it ends, and those
// made later are ended at once. (A context per run would cost each
// message its allocations; most runs are one step.)
func (x *run) stop() {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.stopped = true
	for _, cancel := range x.stops {
		cancel()
	}
	x.stops = nil
}

// end appends the run's last events, evs then last (a step, a run error,
// or nothing more), and settles the lease.
func (x *run) end(ctx context.Context, evs []*agentv1.AgentEvent, last *agentv1.AgentEvent) (*engine.Work, error) {
	if last != nil {
		evs = append(evs, last)
	}
	return x.appendEnd(ctx, evs, engine.RunAppend{Lease: x.lease, Answers: x.st.seq, End: engine.RunEnds, Next: x.s.claim})
}

// appendEnd appends the events that end or pause the run, keeps them, and
// returns the next work (see replier.appendRunEnd).
func (x *run) appendEnd(ctx context.Context, evs []*agentv1.AgentEvent, opts engine.RunAppend) (*engine.Work, error) {
	res, err := x.r.appendRunEnd(ctx, evs, opts)
	if err != nil {
		return nil, err
	}
	x.keep(res.Events)
	return res.Work, nil
}

// cancelledStep is the step of a run cancelled before its responder was
// called: no text, finish reason cancelled.
func (x *run) cancelledStep(out *runStream) *agentv1.AgentEvent {
	m := out.reply(x.st.seq, responder.Result{FinishReason: responder.FinishCancelled})
	return x.stepEvent(out, m)
}

// stepEvent is m, a step, as the event appended: it carries the run_seq
// the run reached, for a replica that goes on with the run.
func (x *run) stepEvent(out *runStream, m *agentv1.Message) *agentv1.AgentEvent {
	return x.event(&agentv1.AgentEvent{RunSeq: out.seq, Kind: &agentv1.AgentEvent_Message{Message: m}})
}

// runError is the run error of a step that failed.
func (x *run) runError(err error, timedOut bool) *agentv1.AgentEvent {
	return x.event(&agentv1.AgentEvent{Kind: &agentv1.AgentEvent_RunError{
		RunError: x.s.runError(x.r.agentID, x.st.runID, x.st.seq, err, timedOut)}})
}

// resultEvent is the persisted result of call c of the step msgID.
func (x *run) resultEvent(msgID string, c *agentv1.ToolCall) *agentv1.AgentEvent {
	return x.event(&agentv1.AgentEvent{Kind: &agentv1.AgentEvent_ToolCallResult{ToolCallResult: &agentv1.ToolCallResult{
		RunId: x.st.runID, MessageId: msgID, ToolCallId: c.GetToolCallId(), Content: c.GetResult(),
		IsError: c.GetIsError(), State: c.GetState(), Duration: c.GetDuration(),
	}}})
}

// sourceOf is the server tool's source of a call, nil for another tool.
func (b toolbox) sourceOf(name string) tool.Source { return b.server[name] }
