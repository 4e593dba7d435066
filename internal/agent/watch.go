package agent

import (
	"context"
	"errors"
	"sync"
	"time"

	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/agentgate/agentgate/internal/backoff"
	"github.com/agentgate/agentgate/internal/engine"
)

// A watch delivers the replies of one agent to the Send calls in this process
// that wait for them. There is one per agent with waiters, whatever their
// number, so that waiting costs one engine subscription per agent rather than
// one per call; the reply may be written by any replica.
type watch struct {
	agentID string
	ready   chan struct{} // closed once sub is set or err is known
	err     error
	refs    int         // guarded by Service.mu
	linger  *time.Timer // guarded by Service.mu: ends an unused watch
	cancel  context.CancelFunc

	mu      sync.Mutex
	waiting map[msgKey][]chan *agentv1.AgentEvent
	// early holds replies that arrived before their sender registered (the
	// reply can be written before AppendUser has even returned), newest
	// last, at most earlyMax of them.
	early   map[msgKey]*agentv1.AgentEvent
	order   []msgKey
	gen     uint64        // counts resubscriptions: replies may have been missed
	recheck chan struct{} // closed, then replaced, when waiters must read the log
}

// msgKey names a user message: its seq in the log of an epoch. A log made
// anew (deleted, or lost by the store) reuses seqs, never epochs.
type msgKey struct {
	seq   uint64
	epoch string
}

func keyOf(ev *agentv1.AgentEvent) msgKey { return msgKey{ev.GetSeq(), ev.GetEpoch()} }

const (
	earlyMax = 256
	// watchLinger keeps a watch subscribed after its last waiter left, so
	// that a client sending one message after another does not subscribe
	// and unsubscribe each time.
	watchLinger = 30 * time.Second
)

// watch returns the agent's watch, starting it if needed. Callers must
// unwatch it.
func (s *Service) watch(ctx context.Context, agentID string) (*watch, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, &Error{Kind: KindUnavailable, Msg: "the server is shutting down; retry on another replica"}
	}
	w := s.watches[agentID]
	if w == nil {
		ctx, cancel := context.WithCancel(s.ctx)
		w = &watch{
			agentID: agentID,
			ready:   make(chan struct{}),
			cancel:  cancel,
			waiting: make(map[msgKey][]chan *agentv1.AgentEvent),
			early:   make(map[msgKey]*agentv1.AgentEvent),
			recheck: make(chan struct{}),
		}
		s.watches[agentID] = w
		s.wg.Add(1)
		go s.runWatch(ctx, w)
	}
	w.refs++
	if w.linger != nil {
		w.linger.Stop()
		w.linger = nil
	}
	s.mu.Unlock()

	select {
	case <-w.ready:
	case <-ctx.Done():
		s.unwatch(w)
		return nil, ctxError(ctx)
	}
	if w.err != nil {
		s.unwatch(w)
		if s.ctx.Err() != nil {
			return nil, &Error{Kind: KindUnavailable, Msg: "the server is shutting down; retry on another replica"}
		}
		return nil, s.engineError(ctx, "subscribe", w.err)
	}
	return w, nil
}

func (s *Service) unwatch(w *watch) {
	s.mu.Lock()
	defer s.mu.Unlock()
	w.refs--
	if w.refs > 0 {
		return
	}
	if w.err != nil || s.closed {
		s.endWatchLocked(w)
		return
	}
	w.linger = time.AfterFunc(watchLinger, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if w.refs == 0 {
			s.endWatchLocked(w)
		}
	})
}

func (s *Service) endWatchLocked(w *watch) {
	if s.watches[w.agentID] == w {
		delete(s.watches, w.agentID)
	}
	if w.linger != nil {
		w.linger.Stop()
		w.linger = nil
	}
	w.cancel()
}

// runWatch feeds replies to waiters until the watch is cancelled. When the
// subscription breaks (a store outage, or this watch fell behind) it
// subscribes again and tells every waiter to look at the log, since replies
// may have been missed meanwhile.
func (s *Service) runWatch(ctx context.Context, w *watch) {
	defer s.wg.Done()
	// A watch looks for replies only: the deltas, one per piece of every
	// reply, would each wake it for nothing.
	opts := engine.SubscribeOptions{Internal: true, SkipDeltas: true}
	sub, err := s.eng.Subscribe(ctx, w.agentID, opts)
	if err != nil {
		w.err = err
		close(w.ready)
		return
	}
	close(w.ready)
	delay := backoff.New(50*time.Millisecond, 2*time.Second)
	for {
		s.feed(ctx, w, sub)
		sub.Close()
		// Until the new subscription is up, replies can be missed, and the
		// kept ones may be of a deleted log: waiters read the log.
		w.wakeAll()
		for {
			if !backoff.Sleep(ctx, delay.Next()) {
				return
			}
			if sub, err = s.eng.Subscribe(ctx, w.agentID, opts); err == nil {
				break
			}
		}
		delay.Reset()
		w.wakeAll()
	}
}

// feed delivers replies from sub until it ends or ctx is done.
func (s *Service) feed(ctx context.Context, w *watch, sub engine.Subscription) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-sub.Ready():
			for {
				ev, ok := sub.Next()
				if !ok {
					break
				}
				if to := ReplyTo(ev); to != 0 {
					w.deliver(msgKey{to, ev.GetEpoch()}, ev)
				}
			}
			if err := sub.Err(); err != nil {
				if !errors.Is(err, engine.ErrClosed) {
					s.log.Debug("reply watch restarts", "agent", w.agentID, "err", err)
				}
				return
			}
		}
	}
}

// register returns the channel the reply to seq will arrive on: at once if
// it came early.
func (w *watch) register(msg msgKey) chan *agentv1.AgentEvent {
	ch := make(chan *agentv1.AgentEvent, 1)
	w.mu.Lock()
	defer w.mu.Unlock()
	if ev, ok := w.early[msg]; ok && ev.GetSeq() > msg.seq {
		ch <- ev
	}
	w.waiting[msg] = append(w.waiting[msg], ch)
	return ch
}

// generation counts the watch's resubscriptions; a change means replies may
// have been missed.
func (w *watch) generation() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.gen
}

func (w *watch) unregister(msg msgKey, ch chan *agentv1.AgentEvent) {
	w.mu.Lock()
	defer w.mu.Unlock()
	chans := w.waiting[msg]
	for i, c := range chans {
		if c == ch {
			chans = append(chans[:i], chans[i+1:]...)
			break
		}
	}
	if len(chans) == 0 {
		delete(w.waiting, msg)
	} else {
		w.waiting[msg] = chans
	}
}

func (w *watch) deliver(msg msgKey, ev *agentv1.AgentEvent) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := w.early[msg]; !ok {
		w.early[msg] = ev
		w.order = append(w.order, msg)
		if len(w.order) > earlyMax {
			delete(w.early, w.order[0])
			w.order = w.order[1:]
		}
	}
	for _, ch := range w.waiting[msg] {
		select {
		case ch <- ev:
		default: // already has its reply
		}
	}
}

func (w *watch) recheckChan() <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.recheck
}

func (w *watch) wakeAll() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.gen++
	// Replies kept across a break may belong to a log that was deleted
	// meanwhile (seqs start again at 1): waiters read the log instead.
	clear(w.early)
	w.order = w.order[:0]
	close(w.recheck)
	w.recheck = make(chan struct{})
}

// awaitReply waits for the answer to the user message msg: from the watch,
// or from the log when the watch may have missed it (it resubscribed since
// gen, or the message is an old one being retried), or every PollInterval as
// a backstop.
func (s *Service) awaitReply(ctx context.Context, w *watch, msg msgKey, gen uint64, old bool) (*agentv1.AgentEvent, error) {
	ch := w.register(msg)
	defer w.unregister(msg, ch)
	poll := time.NewTicker(s.cfg.PollInterval)
	defer poll.Stop()
	look := old
	for {
		recheck := w.recheckChan()
		if look || w.generation() != gen {
			reply, answered, err := s.findReply(ctx, w.agentID, msg)
			if err == nil && answered {
				return reply, nil
			}
			if err != nil && ctx.Err() != nil {
				return nil, ctxError(ctx)
			}
			if KindOf(err) == KindAborted {
				return nil, err
			}
			gen = w.generation()
		}
		look = true
		select {
		case ev := <-ch:
			return ev, nil
		case <-recheck:
		case <-poll.C:
		case <-ctx.Done():
			return nil, ctxError(ctx)
		case <-s.ctx.Done():
			return nil, &Error{Kind: KindUnavailable, Msg: "the server is shutting down; the reply will be in the history"}
		}
	}
}

// findReply looks for the answer to seq in the log. answered is false while
// the message waits for its reply; it is true with a nil reply if the reply
// was already trimmed.
func (s *Service) findReply(ctx context.Context, agentID string, msg msgKey) (reply *agentv1.AgentEvent, answered bool, err error) {
	seq, after := msg.seq, msg.seq
	for {
		p, err := s.eng.Read(ctx, agentID, after, 256)
		if err != nil {
			return nil, false, err
		}
		if p.LastSeq < seq || (p.Answered < seq && p.FirstSeq > seq) || (msg.epoch != "" && p.Epoch != msg.epoch) {
			// The log no longer holds the message: the agent was deleted
			// (and perhaps began again), or it was trimmed unanswered.
			return nil, false, &Error{Kind: KindAborted, Msg: "the agent was deleted or its history trimmed before the message was answered; send it again"}
		}
		if p.Answered < seq {
			return nil, false, nil
		}
		for _, ev := range p.Events {
			if ReplyTo(ev) == seq {
				return ev, true, nil
			}
		}
		if len(p.Events) == 0 {
			return nil, true, nil
		}
		after = p.Events[len(p.Events)-1].GetSeq()
	}
}

// ReplyTo returns the seq of the user message that ev answers, or 0 if ev
// is not an answer: a persisted assistant message or run error ends the
// reply to the message its reply_to_seq names.
func ReplyTo(ev *agentv1.AgentEvent) uint64 {
	if ev.GetSeq() == 0 {
		return 0
	}
	switch k := ev.GetKind().(type) {
	case *agentv1.AgentEvent_Message:
		if k.Message.GetRole() == agentv1.Role_ROLE_ASSISTANT {
			return k.Message.GetReplyToSeq()
		}
	case *agentv1.AgentEvent_RunError:
		return k.RunError.GetReplyToSeq()
	}
	return 0
}
