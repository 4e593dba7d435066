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
// live events that continue it, none twice. When the store breaks the
// subscription, the follower subscribes again and delivers what it missed.
//
// It follows the whole agent (Follow: Subscribe, Converse, the WebSocket
// push) or the reply to one user message (Ask and ActiveRun for the doors,
// and SendMessage's wait): then it passes on that reply's run and the
// reply, and nothing else, and is Done once the reply was delivered.
//
// It is driven one way: Start once, then Pump whenever Ready has
// something, and, for a follower of one reply, Check every CheckEvery. A
// Follower is used by one goroutine and owns none, so the caller selects on
// Ready with its other work (the WebSocket writer does, through Notify),
// and an idle subscriber costs no stack. Reading never starts writing:
// following an agent answers nothing (the replier and its sweep do).
type Follower struct {
	s       *Service
	agentID string
	sub     engine.Subscription
	opts    engine.SubscribeOptions // for a resumed subscription
	notify  func()
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
	// run is what was delivered of the newest run seen: its live events
	// up to run.seq are dropped, and joining it again sends the rest.
	run sentRun
	// done holds the runs whose end was delivered, newest last: their
	// ephemeral events still in the live queue are stale.
	done []string
	// lastStep is the message id of the newest step delivered.
	lastStep string
	// retry is set while the store has broken the subscription: the next
	// attempt to resume it, when Ready says so.
	retry *retry
	// one is set when the follower follows one reply.
	one *oneReply
}

// doneRuns is how many finished runs a Follower remembers.
const doneRuns = 4

// FollowOptions says what a Follower delivers.
type FollowOptions struct {
	// After, if not nil, makes Start first deliver the persisted events
	// with seq > *After; otherwise only live events follow.
	After *uint64
	// SkipDeltas leaves the reply's text deltas out; the reply message
	// carries the whole text.
	SkipDeltas bool
	// Epoch is the epoch of the log After belongs to, if the client knows
	// it: if the log's differs, Start begins with a history_reset. At most
	// MaxEpochLen characters (invalid_argument beyond).
	Epoch string
}

// Follow subscribes to the agent's events.
func (s *Service) Follow(ctx context.Context, agentID string, opts FollowOptions) (*Follower, error) {
	if err := ValidateID(agentID); err != nil {
		return nil, err
	}
	if err := ValidateEpoch(opts.Epoch); err != nil {
		return nil, err
	}
	f, err := s.follow(ctx, agentID, engine.SubscribeOptions{SkipDeltas: opts.SkipDeltas})
	if err != nil {
		return nil, err
	}
	f.epoch = opts.Epoch
	if opts.After != nil {
		a := *opts.After
		f.after = &a
	}
	return f, nil
}

// follow subscribes a Follower with opts.
func (s *Service) follow(ctx context.Context, agentID string, opts engine.SubscribeOptions) (*Follower, error) {
	sub, err := s.broker.Subscribe(ctx, agentID, opts)
	if err != nil {
		return nil, s.engineError(ctx, "subscribe", err)
	}
	return &Follower{s: s, agentID: agentID, sub: sub, opts: opts}, nil
}

// Start delivers what is known before the live events: for a follower of
// the whole agent, the persisted events after FollowOptions.After,
// preceded by a history_gap if some of them were trimmed or a
// history_reset if the log is not the one the client resumes (see
// catchUp), then the active run so far (joinRun). For a follower of one
// reply, the reply if it was written (the follower is then Done), else
// the run so far.
func (f *Follower) Start(ctx context.Context, emit func(*agentv1.AgentEvent) error) error {
	if f.one == nil {
		return f.replay(ctx, emit)
	}
	return f.finish(f.one.start(ctx, f, f.bind(emit)))
}

// Ready has a value, or is closed, when Pump has something to do: events
// wait, the subscription ended, or, while the store has broken it, the
// next attempt to resume it is due.
func (f *Follower) Ready() <-chan struct{} {
	if f.retry != nil {
		return f.retry.due
	}
	return f.sub.Ready()
}

// Notify sets fn to be called, without blocking, whenever Ready becomes
// ready (see engine.Subscription), across resumed subscriptions too.
func (f *Follower) Notify(fn func()) {
	f.notify = fn
	f.sub.Notify(fn)
}

// Pump delivers the live events that wait, in order. If the store broke
// the subscription (or it overflowed, for a follower of one reply), it
// subscribes again and delivers what was missed; when the store is still
// away, it returns nil and Ready waits for the next attempt, backing off
// from 100 ms to 2 s. Other endings are returned as Err says.
func (f *Follower) Pump(ctx context.Context, emit func(*agentv1.AgentEvent) error) error {
	if f.Done() {
		return nil
	}
	return f.finish(f.pump(ctx, f.bind(emit)))
}

func (f *Follower) pump(ctx context.Context, emit func(*agentv1.AgentEvent) error) error {
	if f.retry != nil {
		select {
		case <-f.retry.due:
			return f.resume(ctx, emit)
		default:
			return nil
		}
	}
	for {
		ev, ok := f.sub.Next()
		if !ok {
			break
		}
		if err := f.deliver(ctx, ev, emit); err != nil {
			return err
		}
	}
	switch err := f.sub.Err(); {
	case err == nil:
		return nil
	case f.resumable(err):
		return f.resume(ctx, emit)
	}
	return f.Err()
}

// CheckEvery is how often a follower of one reply should Check while it
// is silent: the service's PollInterval.
func (f *Follower) CheckEvery() time.Duration { return f.s.cfg.PollInterval }

// Check looks at the log itself, for what the live feed cannot tell: that
// the log is gone (the store lost it, and nothing was appended since to
// announce a new one), or that an event was appended while its live copy
// was lost. It delivers what it finds; a follower of one reply ends with
// ErrHistoryReset if the log is not the one followed. A store that cannot
// be reached is not an ending: the subscription reports outages itself.
func (f *Follower) Check(ctx context.Context, emit func(*agentv1.AgentEvent) error) error {
	if f.Done() || !f.synced {
		return nil
	}
	err := f.finish(f.catchUp(ctx, 0, f.bind(emit)))
	if KindOf(err) == KindUnavailable && ctx.Err() == nil {
		return nil
	}
	return err
}

// Done reports whether a follower of one reply delivered it: it has
// nothing more to deliver. A follower of the whole agent is never done.
func (f *Follower) Done() bool { return f.one != nil && f.one.done }

// Last is the seq of the newest persisted event delivered: where a client
// resumes with after_seq.
func (f *Follower) Last() uint64 { return f.last }

// Epoch is the epoch of the log Last counts in, empty until known.
func (f *Follower) Epoch() string { return f.epoch }

// Close ends the subscription. It cancels nothing: a reply is written
// whether or not anyone follows it.
func (f *Follower) Close() {
	f.stopRetry()
	f.sub.Close()
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
	if f.one != nil {
		return "; retry"
	}
	return fmt.Sprintf("; resume with after_seq=%d", f.last)
}

// resumable reports whether a subscription that ended with err is worth
// resuming: the store broke it, or (for a follower of one reply, whose
// client has no after_seq to resume with) it overflowed.
func (f *Follower) resumable(err error) bool {
	return errors.Is(err, engine.ErrUnavailable) || (f.one != nil && errors.Is(err, engine.ErrOverflow))
}

// retry is the next attempt to resume a subscription the store broke.
type retry struct {
	due   chan struct{} // closed when the attempt is due
	timer *time.Timer
	delay *backoff.Backoff
}

// resume tries once to replace a subscription the store broke, and on
// success delivers what was appended meanwhile and the rest of the active
// run: only what was not delivered before. While the store is still away
// it sets the next attempt instead.
func (f *Follower) resume(ctx context.Context, emit func(*agentv1.AgentEvent) error) error {
	sub, err := f.s.broker.Subscribe(ctx, f.agentID, f.opts)
	switch {
	case errors.Is(err, engine.ErrUnavailable) && ctx.Err() == nil:
		f.retryLater()
		return nil
	case err != nil:
		return f.s.engineError(ctx, "subscribe", err)
	}
	f.sub.Close()
	f.sub = sub
	if f.notify != nil {
		sub.Notify(f.notify)
	}
	err = f.rejoin(ctx, emit)
	if KindOf(err) == KindUnavailable && ctx.Err() == nil {
		// The store answered the subscription but not the reads after it
		// (a restarted Redis whose pooled connections are still the dead
		// ones): try again later, as if the subscription had failed. What
		// was delivered stays delivered; the next attempt goes on from it.
		f.retryLater()
		return nil
	}
	f.stopRetry()
	return err
}

// rejoin delivers, on a resumed subscription, what was appended while the
// store was away and the rest of the active run.
func (f *Follower) rejoin(ctx context.Context, emit func(*agentv1.AgentEvent) error) error {
	if f.synced {
		if err := f.catchUp(ctx, 0, emit); err != nil {
			return err
		}
	}
	// A run may have begun, or gone on, while the store was away.
	return f.joinRun(ctx, emit)
}

// retryLater sets the next attempt to resume, backing off from 100 ms to
// 2 s with jitter, so that the followers of a replica that lost its store
// do not all retry at once.
func (f *Follower) retryLater() {
	r := f.retry
	if r == nil {
		r = &retry{delay: backoff.New(100*time.Millisecond, 2*time.Second)}
		f.retry = r
	}
	due, notify := make(chan struct{}), f.notify
	r.due = due
	r.timer = time.AfterFunc(r.delay.Next(), func() {
		close(due)
		if notify != nil {
			notify()
		}
	})
}

func (f *Follower) stopRetry() {
	if f.retry != nil {
		f.retry.timer.Stop()
		f.retry = nil
	}
}

// replay is Start for a follower of the whole agent.
func (f *Follower) replay(ctx context.Context, emit func(*agentv1.AgentEvent) error) error {
	if f.after != nil {
		f.last, f.synced = *f.after, true
		if err := f.catchUp(ctx, 0, emit); err != nil {
			return err
		}
	} else if !f.epochKnown {
		// A live-only follower learns which log it follows, so that the
		// ephemeral events of a log that goes away are told apart.
		p, err := f.s.log.Read(ctx, f.agentID, 0, 0)
		if err != nil {
			return f.s.engineError(ctx, "read history", err)
		}
		f.learnEpoch(p.Epoch)
	}
	return f.joinRun(ctx, emit)
}

// deliver passes a live event on: ephemeral events as they are, persisted
// ones in seq order, once each, after the ones the feed skipped.
func (f *Follower) deliver(ctx context.Context, ev *agentv1.AgentEvent, emit func(*agentv1.AgentEvent) error) error {
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

// delivered records a persisted event as sent; emit passes it on.
func (f *Follower) delivered(ev *agentv1.AgentEvent, emit func(*agentv1.AgentEvent) error) error {
	f.last = ev.GetSeq()
	if ep := ev.GetEpoch(); ep != "" {
		f.learnEpoch(ep)
	}
	if m := ev.GetMessage(); m.GetRole() == agentv1.Role_ROLE_ASSISTANT {
		f.lastStep = m.GetMessageId()
	}
	if Ends(ev) {
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

// startAfter makes a follower that subscribed before ev was appended go on
// from it: what follows arrives live, in order, and nothing needs
// replaying.
func (f *Follower) startAfter(ev *agentv1.AgentEvent) {
	f.last, f.synced = ev.GetSeq(), true
	f.learnEpoch(ev.GetEpoch())
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
	if id != f.run.id || (engine.BeginsStep(ev) && stepMessageID(ev) != f.run.msg) {
		// A new run, or its next step: what is delivered of a step
		// starts anew (its progress is the step's).
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
		// A step begun again by another writer (the one writing it died)
		// numbers its events anew: it starts over, and is no copy.
		return !engine.BeginsStep(ev) || stepMessageID(ev) == f.run.msg
	}
	return slices.Contains(f.done, id)
}

// joinRun delivers the run being written, if any, as it stands: its
// run_started, one text_delta with the text so far and its tool call
// events, after the user message it answers. A run joined before gets only
// what was not delivered of it (see sentRun). The live events of the run
// that the engine queued meanwhile carry a run_seq up to the newest one
// Run returned and are dropped by deliver.
func (f *Follower) joinRun(ctx context.Context, emit func(*agentv1.AgentEvent) error) error {
	evs, err := f.s.runs.Run(ctx, f.agentID)
	if err != nil {
		return f.s.engineError(ctx, "read the active run", err)
	}
	if len(evs) == 0 || !engine.BeginsStep(evs[0]) || f.otherLog(evs[0]) {
		return nil
	}
	runID, replyTo, msg := engine.RunID(evs[0]), runReplyTo(evs[0]), stepMessageID(evs[0])
	if runID != f.run.id {
		// The message it answers comes first; for a later step, the
		// run's earlier steps too, which follow the message in the log.
		if !f.synced {
			f.last, f.synced = replyTo-1, true
		}
		until := replyTo
		if evs[0].GetStepStarted() != nil {
			until = 0
		}
		if f.last < replyTo || until == 0 {
			if err := f.catchUp(ctx, until, emit); err != nil {
				return err
			}
		}
		if f.lastStep == msg || slices.Contains(f.done, runID) {
			return nil // the step was appended meanwhile: the log had it
		}
	}
	if runID != f.run.id || msg != f.run.msg {
		f.run = sentRun{id: runID}
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

// runReplyTo is the seq of the user message the run of ev, a run_started
// or step_started, answers.
func runReplyTo(ev *agentv1.AgentEvent) uint64 {
	if s := ev.GetStepStarted(); s != nil {
		return s.GetReplyToSeq()
	}
	return ev.GetRunStarted().GetReplyToSeq()
}

// catchUp delivers persisted events after f.last from the log, up to seq
// until (0: to the end). If events after f.last were trimmed, it delivers a
// history_gap first. If the log is not the one f.last counts in (its epoch
// differs, or it ends before f.last), it delivers a history_reset and
// replays the log from its start.
func (f *Follower) catchUp(ctx context.Context, until uint64, emit func(*agentv1.AgentEvent) error) error {
	check := true // the next page is checked against the log followed
	for {
		again := false
		for p, err := range pages(ctx, f.s.log, f.agentID, f.last, scanPage) {
			if err != nil {
				return f.s.engineError(ctx, "read history", err)
			}
			if check {
				check = false
				if (f.epoch != "" && p.Epoch != f.epoch) || p.LastSeq < f.last {
					if err := emit(f.reset(p)); err != nil {
						return err
					}
					f.last, until = 0, 0
					f.learnEpoch(p.Epoch)
					again = true
					break
				}
				f.learnEpoch(p.Epoch)
				if err := f.one.lost(p); err != nil {
					return err
				}
				if p.FirstSeq > f.last+1 {
					if err := emit(f.gap(p)); err != nil {
						return err
					}
				}
			}
			if p.Epoch != f.epoch {
				// Created anew between two pages: read again from where the
				// delivery stands, and check the log then.
				check, again = true, true
				break
			}
			for _, ev := range p.Events {
				if until != 0 && ev.GetSeq() > until {
					return nil
				}
				if err := f.delivered(ev, emit); err != nil {
					return err
				}
			}
			if until != 0 && f.last >= until {
				return nil
			}
		}
		if !again {
			return nil
		}
	}
}

// gap is the history_gap announcing that the events after f.last up to
// p's first were trimmed.
func (f *Follower) gap(p engine.Page) *agentv1.AgentEvent {
	return &agentv1.AgentEvent{
		AgentId:    f.agentID,
		CreateTime: timestamppb.New(f.s.cfg.Now()),
		Kind: &agentv1.AgentEvent_HistoryGap{HistoryGap: &agentv1.HistoryGap{
			AfterSeq: f.last, FirstRetainedSeq: p.FirstSeq,
		}},
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

// bind is the emit a turn of delivery uses: the caller's, or, for a
// follower of one reply, its filter in front of the caller's.
func (f *Follower) bind(emit func(*agentv1.AgentEvent) error) func(*agentv1.AgentEvent) error {
	if f.one == nil {
		return emit
	}
	f.one.emit = emit
	return f.one.filter
}

// finish turns how a turn of delivery ended into what the caller gets: for
// a follower of one reply, its delivery is not an error, and the deletion
// of its agent is named.
func (f *Follower) finish(err error) error {
	switch {
	case f.one == nil || err == nil:
		return err
	case errors.Is(err, errReplyDone):
		return nil
	case errors.Is(err, engine.ErrDeleted):
		return &Error{Kind: KindNotFound, Msg: "the agent was deleted while its reply was being written", Err: ErrAgentDeleted}
	}
	return err
}
