package agent

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/agentgate/agentgate/internal/backoff"
	"github.com/agentgate/agentgate/internal/engine"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// A Follower turns an engine subscription into what a client expects of a
// subscription: persisted events in seq order, each exactly once, with any
// gap the live feed left filled from the log, and ephemeral events as they
// come. A log created anew (another epoch) is announced with a
// history_reset and replayed whole, never skipped. A follower that starts
// while a reply is being written gets the run so far first (run_started,
// one text_delta with the text so far, the tool call events), then the
// live events that continue it, none twice. Subscribe, Converse and the
// WebSocket push all use it.
//
// A Follower is used by one goroutine. It owns no goroutine itself, so the
// caller can select on Ready together with its other work (the WebSocket
// writer does), and an idle subscriber costs no stack.
type Follower struct {
	s       *Service
	agentID string
	sub     engine.Subscription
	// last is the seq of the newest persisted event delivered; synced is
	// false until last is known (live-only followers learn it from the first
	// persisted event).
	last   uint64
	synced bool
	// epoch is the epoch of the log followed, empty if the agent has no
	// log; epochKnown is false until the follower has seen the log.
	// Ephemeral events of another epoch are of a log that is gone (a run
	// that went on after a delete or a store's loss) and are dropped.
	epoch      string
	epochKnown bool
	after      *uint64
	notify     func()
	opts       engine.SubscribeOptions // for a resumed subscription
	// rejoin makes an overflowed subscription resume as a broken one does
	// (see ResumeOnce) instead of ending, and an ending offer no after_seq:
	// a Reply sets it, since a door has no after_seq to offer its client.
	rejoin bool
	// run is what was delivered of the newest run seen: its live events
	// up to run.seq are dropped, and joining it again sends the rest.
	run sentRun
	// done holds the runs whose reply was delivered, newest last: their
	// ephemeral events still in the live queue are stale.
	done []string
}

// doneRuns is how many finished runs a Follower remembers.
const doneRuns = 4

// delivered records a persisted event as sent; emit passes it on.
func (f *Follower) delivered(ev *agentv1.AgentEvent, emit func(*agentv1.AgentEvent) error) error {
	f.last = ev.GetSeq()
	if ep := ev.GetEpoch(); ep != "" {
		f.learnEpoch(ep)
	}
	if m := ev.GetMessage(); m.GetRole() == agentv1.Role_ROLE_ASSISTANT || ev.GetRunError() != nil {
		if id := engine.RunID(ev); id != "" {
			if len(f.done) == doneRuns {
				f.done = append(f.done[:0], f.done[1:]...)
			}
			f.done = append(f.done, id)
		}
	}
	return emit(ev)
}

// learnEpoch records the epoch of the log followed.
func (f *Follower) learnEpoch(epoch string) {
	f.epoch, f.epochKnown = epoch, true
}

// otherLog reports whether ev, an ephemeral event, was written for another
// log than the one followed. Events without an epoch pass.
func (f *Follower) otherLog(ev *agentv1.AgentEvent) bool {
	ep := ev.GetEpoch()
	return ep != "" && f.epochKnown && ep != f.epoch
}

// sawRunEvent records what a live event delivered of its run, so that
// joining the run again (after a store outage, or an overflow) sends only
// what came after.
func (f *Follower) sawRunEvent(ev *agentv1.AgentEvent) {
	id := engine.RunID(ev)
	if id == "" || ev.GetRunSeq() == 0 {
		return
	}
	if id != f.run.id {
		f.run = sentRun{id: id}
	}
	f.run.saw(ev)
}

// stale reports whether ev is an ephemeral event that the client must not
// see: of a log that is gone, sent by joinRun already, or of a run whose
// reply it has.
func (f *Follower) stale(ev *agentv1.AgentEvent) bool {
	if f.otherLog(ev) {
		return true
	}
	id := engine.RunID(ev)
	if id == "" {
		return false
	}
	if id == f.run.id && ev.GetRunSeq() != 0 && ev.GetRunSeq() <= f.run.seq {
		return true
	}
	return slices.Contains(f.done, id)
}

// FollowOptions says what a Follower delivers.
type FollowOptions struct {
	// After, if not nil, makes Replay first deliver the persisted events
	// with seq > *After; otherwise only live events follow.
	After *uint64
	// SkipDeltas leaves the reply's text deltas out; the reply message
	// carries the whole text.
	SkipDeltas bool
	// Epoch is the epoch of the log After belongs to, if the client knows
	// it: if the log's differs, Replay starts with a history_reset. At most
	// MaxEpochLen characters (invalid_argument beyond).
	Epoch string
}

// Follow subscribes to the agent's events. Following an agent also makes
// sure its pending messages get answered, which matters after a replica
// crashed mid-reply.
func (s *Service) Follow(ctx context.Context, agentID string, opts FollowOptions) (*Follower, error) {
	if err := ValidateID(agentID); err != nil {
		return nil, err
	}
	if err := ValidateEpoch(opts.Epoch); err != nil {
		return nil, err
	}
	so := engine.SubscribeOptions{SkipDeltas: opts.SkipDeltas}
	sub, err := s.eng.Subscribe(ctx, agentID, so)
	if err != nil {
		return nil, s.engineError(ctx, "subscribe", err)
	}
	s.kick(agentID)
	f := &Follower{s: s, agentID: agentID, sub: sub, opts: so, epoch: opts.Epoch}
	if opts.After != nil {
		a := *opts.After
		f.after = &a
	}
	return f, nil
}

// Ready has a value, or is closed, when Pump has something to do.
func (f *Follower) Ready() <-chan struct{} { return f.sub.Ready() }

// Notify sets fn to be called, without blocking, whenever Ready becomes
// ready (see engine.Subscription), across resumed subscriptions too.
func (f *Follower) Notify(fn func()) {
	f.notify = fn
	f.sub.Notify(fn)
}

// replace swaps in a new subscription for one the store broke.
func (f *Follower) replace(sub engine.Subscription) {
	f.sub.Close()
	f.sub = sub
	if f.notify != nil {
		sub.Notify(f.notify)
	}
}

// Pump delivers the live events that wait, in order. If the subscription
// ended, it resumes it after a store outage (see Resume) or returns why it
// ended, as Err does.
func (f *Follower) Pump(ctx context.Context, emit func(*agentv1.AgentEvent) error) error {
	broken, err := f.PumpLive(ctx, emit)
	if err != nil || !broken {
		return err
	}
	return f.Resume(ctx, emit)
}

// PumpLive delivers the live events that wait, in order, like Pump, but
// does not wait for a subscription the store broke to be repaired: it
// reports broken instead, and the caller calls ResumeOnce when it sees fit.
// The WebSocket writer uses it, since it has pings, responses and closes to
// send meanwhile.
func (f *Follower) PumpLive(ctx context.Context, emit func(*agentv1.AgentEvent) error) (broken bool, err error) {
	for {
		ev, ok := f.sub.Next()
		if !ok {
			break
		}
		if err := f.Deliver(ctx, ev, emit); err != nil {
			return false, err
		}
	}
	switch err := f.sub.Err(); {
	case err == nil:
		return false, nil
	case f.resumable(err):
		return true, nil
	}
	return false, f.Err()
}

// resumable reports whether a subscription that ended with err is worth
// resuming: the store broke it, or (for a follower that rejoins) it
// overflowed.
func (f *Follower) resumable(err error) bool {
	return errors.Is(err, engine.ErrUnavailable) || (f.rejoin && errors.Is(err, engine.ErrOverflow))
}

// ResumeOnce tries once to replace a subscription the store broke (or that
// overflowed, for a follower that rejoins), and on success delivers what
// was appended meanwhile and the rest of the active run: only what was not
// delivered before. ok false with no error means the store is still
// unreachable: try again later.
func (f *Follower) ResumeOnce(ctx context.Context, emit func(*agentv1.AgentEvent) error) (ok bool, err error) {
	sub, err := f.s.eng.Subscribe(ctx, f.agentID, f.opts)
	switch {
	case errors.Is(err, engine.ErrUnavailable) && ctx.Err() == nil:
		return false, nil
	case err != nil:
		return false, f.s.engineError(ctx, "subscribe", err)
	}
	f.replace(sub)
	if f.synced {
		if err := f.catchUp(ctx, 0, emit); err != nil {
			return true, err
		}
	}
	// A run may have begun, or gone on, while the store was away.
	return true, f.joinRun(ctx, emit)
}

// Last is the seq of the newest persisted event delivered: where a client
// resumes with after_seq.
func (f *Follower) Last() uint64 { return f.last }

// Epoch is the epoch of the log Last counts in, empty until known.
func (f *Follower) Epoch() string { return f.epoch }

// Close ends the subscription.
func (f *Follower) Close() { f.sub.Close() }

// Replay delivers the persisted events after the requested seq, preceded by a
// history_gap event if some of them were trimmed, or by a history_reset if
// the log is not the one the client resumes (see catchUp). Then, for every
// follower, live-only too, it delivers the active run so far (joinRun).
func (f *Follower) Replay(ctx context.Context, emit func(*agentv1.AgentEvent) error) error {
	if f.after != nil {
		f.last, f.synced = *f.after, true
		if err := f.catchUp(ctx, 0, emit); err != nil {
			return err
		}
	} else if !f.epochKnown {
		// A live-only follower learns which log it follows, so that the
		// ephemeral events of a log that goes away are told apart.
		p, err := f.s.eng.Read(ctx, f.agentID, 0, 0)
		if err != nil {
			return f.s.engineError(ctx, "read history", err)
		}
		f.learnEpoch(p.Epoch)
	}
	return f.joinRun(ctx, emit)
}

// startAfter makes a follower that subscribed before ev was appended go on
// from it: what follows arrives live, in order, and nothing needs
// replaying.
func (f *Follower) startAfter(ev *agentv1.AgentEvent) {
	f.last, f.synced = ev.GetSeq(), true
	f.learnEpoch(ev.GetEpoch())
}

// joinRun delivers the run being written, if any, as it stands: its
// run_started, one text_delta with the text so far and its tool call
// events, after the user message it answers. A run joined before gets only
// what was not delivered of it (see sentRun). The live events of the run
// that the engine queued meanwhile carry a run_seq up to the newest one
// Run returned and are dropped by Deliver.
func (f *Follower) joinRun(ctx context.Context, emit func(*agentv1.AgentEvent) error) error {
	evs, err := f.s.eng.Run(ctx, f.agentID)
	if err != nil {
		return f.s.engineError(ctx, "read the active run", err)
	}
	if len(evs) == 0 || evs[0].GetRunStarted() == nil || f.otherLog(evs[0]) {
		return nil
	}
	rs := evs[0].GetRunStarted()
	if rs.GetRunId() != f.run.id {
		// The message it answers comes first.
		if !f.synced {
			f.last, f.synced = rs.GetReplyToSeq()-1, true
		}
		if f.last < rs.GetReplyToSeq() {
			if err := f.catchUp(ctx, rs.GetReplyToSeq(), emit); err != nil {
				return err
			}
		}
		f.run = sentRun{id: rs.GetRunId()}
	}
	for _, ev := range unsent(evs, &f.run, f.opts.SkipDeltas) {
		f.run.saw(ev)
		if err := emit(ev); err != nil {
			return err
		}
	}
	for _, ev := range evs {
		f.run.seq = max(f.run.seq, ev.GetRunSeq())
	}
	return nil
}

// Deliver passes a live event on: ephemeral events as they are, persisted
// ones in seq order, once each, after the ones the feed skipped.
func (f *Follower) Deliver(ctx context.Context, ev *agentv1.AgentEvent, emit func(*agentv1.AgentEvent) error) error {
	seq := ev.GetSeq()
	switch {
	case seq == 0:
		if f.stale(ev) {
			return nil
		}
		f.sawRunEvent(ev)
		return emit(ev)
	case !f.synced:
		f.synced = true
		return f.delivered(ev, emit)
	case f.epoch != "" && ev.GetEpoch() != "" && ev.GetEpoch() != f.epoch:
		// The log was created anew under this follower (the store lost
		// it): catchUp announces the reset and replays the new log.
		return f.catchUp(ctx, 0, emit)
	case seq <= f.last:
		return nil // already delivered by the replay
	case seq > f.last+1:
		if err := f.catchUp(ctx, seq-1, emit); err != nil {
			return err
		}
		if seq <= f.last {
			return nil
		}
	}
	return f.delivered(ev, emit)
}

// Err tells why the subscription ended, as an Error for the client: ResourceExhausted
// when the subscriber fell behind, NotFound when the agent was deleted,
// Unavailable when the store failed or the server stops.
func (f *Follower) Err() error {
	err := f.sub.Err()
	switch {
	case errors.Is(err, engine.ErrOverflow):
		return &Error{Kind: KindResourceExhausted, Msg: "subscriber fell behind" + f.resumeAdvice(), Err: err}
	case errors.Is(err, engine.ErrDeleted):
		return &Error{Kind: KindNotFound, Msg: fmt.Sprintf("agent %q was deleted", f.agentID), Err: err}
	case err == nil:
		return &Error{Kind: KindCanceled, Msg: "subscription closed"}
	}
	return &Error{Kind: KindUnavailable, Msg: "event stream interrupted" + f.resumeAdvice(), Err: err}
}

// resumeAdvice tells the client how to go on after its stream ended: with
// after_seq, unless it follows one reply (a door), which has none.
func (f *Follower) resumeAdvice() string {
	if f.rejoin {
		return "; retry"
	}
	return fmt.Sprintf("; resume with after_seq=%d", f.last)
}

// Resume replaces a subscription the store broke (ErrUnavailable), or that
// overflowed for a follower that rejoins, with a new one, retrying until
// ctx is done, and delivers what was appended meanwhile. Other endings
// (overflow, deletion, shutdown) are returned as Err.
func (f *Follower) Resume(ctx context.Context, emit func(*agentv1.AgentEvent) error) error {
	if !f.resumable(f.sub.Err()) {
		return f.Err()
	}
	retry := backoff.New(50*time.Millisecond, 2*time.Second)
	for {
		ok, err := f.ResumeOnce(ctx, emit)
		if ok || err != nil {
			return err
		}
		if !backoff.Sleep(ctx, retry.Next()) {
			return ctxError(ctx)
		}
	}
}

// catchUp delivers persisted events after f.last from the log, up to seq
// until (0: to the end). If events after f.last were trimmed, it delivers a
// history_gap first. If the log is not the one f.last counts in (its epoch
// differs, or it ends before f.last), it delivers a history_reset and
// replays the log from its start.
func (f *Follower) catchUp(ctx context.Context, until uint64, emit func(*agentv1.AgentEvent) error) error {
	first := true
	for {
		p, err := f.s.eng.Read(ctx, f.agentID, f.last, 256)
		if err != nil {
			return f.s.engineError(ctx, "read history", err)
		}
		if first {
			first = false
			if (f.epoch != "" && p.Epoch != f.epoch) || p.LastSeq < f.last {
				if err := emit(f.reset(p)); err != nil {
					return err
				}
				f.last, until = 0, 0
				f.learnEpoch(p.Epoch)
				continue
			}
			f.learnEpoch(p.Epoch)
			if p.FirstSeq > f.last+1 {
				gap := &agentv1.AgentEvent{
					AgentId:    f.agentID,
					CreateTime: timestamppb.New(f.s.cfg.Now()),
					Kind: &agentv1.AgentEvent_HistoryGap{HistoryGap: &agentv1.HistoryGap{
						AfterSeq: f.last, FirstRetainedSeq: p.FirstSeq,
					}},
				}
				if err := emit(gap); err != nil {
					return err
				}
			}
		}
		if p.Epoch != f.epoch {
			// Created anew between two pages: the next read starts over.
			first = true
			continue
		}
		for _, ev := range p.Events {
			if until != 0 && ev.GetSeq() > until {
				return nil
			}
			if err := f.delivered(ev, emit); err != nil {
				return err
			}
		}
		if len(p.Events) == 0 || f.last >= p.LastSeq || (until != 0 && f.last >= until) {
			return nil
		}
	}
}

// reset is the history_reset announcing the log p was read from.
func (f *Follower) reset(p engine.Page) *agentv1.AgentEvent {
	return &agentv1.AgentEvent{
		AgentId:    f.agentID,
		CreateTime: timestamppb.New(f.s.cfg.Now()),
		Kind: &agentv1.AgentEvent_HistoryReset{HistoryReset: &agentv1.HistoryReset{
			Epoch: p.Epoch, FirstRetainedSeq: p.FirstSeq, AfterSeq: f.last,
		}},
	}
}
