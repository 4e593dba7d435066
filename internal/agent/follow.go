package agent

import (
	"context"
	"errors"
	"fmt"
	"time"

	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/agentgate/agentgate/internal/engine"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// A Follower turns an engine subscription into what a client expects of a
// subscription: persisted events in seq order, each exactly once, with any
// gap the live feed left filled from the log, and ephemeral events as they
// come. Subscribe, Converse and the WebSocket push all use it.
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
	after  *uint64
	notify func()
	opts   engine.SubscribeOptions // for a resumed subscription
}

// FollowOptions says what a Follower delivers.
type FollowOptions struct {
	// After, if not nil, makes Replay first deliver the persisted events
	// with seq > *After; otherwise only live events follow.
	After *uint64
	// SkipDeltas leaves the reply's text deltas out; the reply message
	// carries the whole text.
	SkipDeltas bool
}

// Follow subscribes to the agent's events. Following an agent also makes
// sure its pending messages get answered, which matters after a replica
// crashed mid-reply.
func (s *Service) Follow(ctx context.Context, agentID string, opts FollowOptions) (*Follower, error) {
	if err := ValidateID(agentID); err != nil {
		return nil, err
	}
	so := engine.SubscribeOptions{SkipDeltas: opts.SkipDeltas}
	sub, err := s.eng.Subscribe(ctx, agentID, so)
	if err != nil {
		return nil, s.engineError(ctx, "subscribe", err)
	}
	s.kick(agentID)
	f := &Follower{s: s, agentID: agentID, sub: sub, opts: so}
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
	case errors.Is(err, engine.ErrUnavailable):
		return true, nil
	}
	return false, f.Err()
}

// ResumeOnce tries once to replace a subscription the store broke, and on
// success delivers what was appended meanwhile. ok false with no error means
// the store is still unreachable: try again later.
func (f *Follower) ResumeOnce(ctx context.Context, emit func(*agentv1.AgentEvent) error) (ok bool, err error) {
	sub, err := f.s.eng.Subscribe(ctx, f.agentID, f.opts)
	switch {
	case errors.Is(err, engine.ErrUnavailable) && ctx.Err() == nil:
		return false, nil
	case err != nil:
		return false, f.s.engineError(ctx, "subscribe", err)
	}
	f.replace(sub)
	if !f.synced {
		return true, nil
	}
	return true, f.catchUp(ctx, 0, emit)
}

// Last is the seq of the newest persisted event delivered: where a client
// resumes with after_seq.
func (f *Follower) Last() uint64 { return f.last }

// Close ends the subscription.
func (f *Follower) Close() { f.sub.Close() }

// Replay delivers the persisted events after the requested seq, preceded by a
// history_gap event if some of them were trimmed. It does nothing for a
// live-only follower.
func (f *Follower) Replay(ctx context.Context, emit func(*agentv1.AgentEvent) error) error {
	if f.after == nil {
		return nil
	}
	f.last, f.synced = *f.after, true
	return f.catchUp(ctx, 0, emit)
}

// Deliver passes a live event on: ephemeral events as they are, persisted
// ones in seq order, once each, after the ones the feed skipped.
func (f *Follower) Deliver(ctx context.Context, ev *agentv1.AgentEvent, emit func(*agentv1.AgentEvent) error) error {
	seq := ev.GetSeq()
	switch {
	case seq == 0:
		return emit(ev)
	case !f.synced:
		f.last, f.synced = seq, true
		return emit(ev)
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
	f.last = seq
	return emit(ev)
}

// Err tells why the subscription ended, as an Error for the client: ResourceExhausted
// when the subscriber fell behind, NotFound when the agent was deleted,
// Unavailable when the store failed or the server stops.
func (f *Follower) Err() error {
	err := f.sub.Err()
	switch {
	case errors.Is(err, engine.ErrOverflow):
		return &Error{Kind: KindResourceExhausted, Msg: fmt.Sprintf("subscriber fell behind; resume with after_seq=%d", f.last), Err: err}
	case errors.Is(err, engine.ErrDeleted):
		return &Error{Kind: KindNotFound, Msg: fmt.Sprintf("agent %q was deleted", f.agentID), Err: err}
	case err == nil:
		return &Error{Kind: KindCanceled, Msg: "subscription closed"}
	}
	return &Error{Kind: KindUnavailable, Msg: fmt.Sprintf("event stream interrupted; resume with after_seq=%d", f.last), Err: err}
}

// Resume replaces a subscription the store broke (ErrUnavailable) with a new
// one, retrying until ctx is done, and delivers what was appended meanwhile.
// Other endings (overflow, deletion, shutdown) are returned as Err.
func (f *Follower) Resume(ctx context.Context, emit func(*agentv1.AgentEvent) error) error {
	if !errors.Is(f.sub.Err(), engine.ErrUnavailable) {
		return f.Err()
	}
	retry := newBackoff(50*time.Millisecond, 2*time.Second)
	for {
		ok, err := f.ResumeOnce(ctx, emit)
		if ok || err != nil {
			return err
		}
		if !sleep(ctx, retry.next()) {
			return ctxError(ctx)
		}
	}
}

// catchUp delivers persisted events after f.last from the log, up to seq
// until (0: to the end). If events after f.last were trimmed, it delivers a
// history_gap first.
func (f *Follower) catchUp(ctx context.Context, until uint64, emit func(*agentv1.AgentEvent) error) error {
	first := true
	for {
		p, err := f.s.eng.Read(ctx, f.agentID, f.last, 256)
		if err != nil {
			return f.s.engineError(ctx, "read history", err)
		}
		if first {
			first = false
			if p.LastSeq < f.last {
				// The agent was deleted and began again: start over from 0.
				f.last = 0
				continue
			}
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
		for _, ev := range p.Events {
			if until != 0 && ev.GetSeq() > until {
				return nil
			}
			f.last = ev.GetSeq()
			if err := emit(ev); err != nil {
				return err
			}
		}
		if len(p.Events) == 0 || f.last >= p.LastSeq || (until != 0 && f.last >= until) {
			return nil
		}
	}
}
