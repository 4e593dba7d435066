package engine

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Subscribe implements Broker. It returns once Redis confirmed the
// subscription, so every event appended after it returns is delivered.
func (r *Redis) Subscribe(ctx context.Context, agentID string, opts SubscribeOptions) (Subscription, error) {
	return r.subscribe(ctx, agentID, opts, nil)
}

// SubscribeCancels implements Broker: CancelRun reaches it on the agent's
// control channel, whichever replica calls it.
func (r *Redis) SubscribeCancels(ctx context.Context, agentID string, onCancel func(runID string)) (Subscription, error) {
	return r.subscribe(ctx, agentID, SubscribeOptions{Internal: true}, onCancel)
}

// subscribe registers a subscription: one that hears cancels only, on the
// control channel, if onCancel is set.
func (r *Redis) subscribe(ctx context.Context, agentID string, opts SubscribeOptions, onCancel func(runID string)) (Subscription, error) {
	opCtx, cancel, err := r.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer cancel()
	k := r.keys.agent(agentID)
	channel := k.channel
	if onCancel != nil {
		channel = k.control
	}
	s, err := r.fan.subscribe(opCtx, agentID, channel, opts, onCancel)
	if err != nil {
		return nil, r.fail(ctx, err)
	}
	if !opts.Internal {
		if err := r.pres.add(agentID, 1); err != nil {
			s.Close()
			return nil, r.fail(ctx, err)
		}
		r.fan.markCounted(s)
	}
	return s, nil
}

// fanout delivers the live events of every agent this replica watches over
// one Redis pub/sub connection, whatever the number of subscribers: each
// watched channel has a hub, which holds the agent's local subscriptions (a
// localSubs, as the memory engine's) and one SUBSCRIBE to the channel. An
// agent's subscriptions are on its channel, its cancel listeners on its
// control channel, each with a hub of its own.
//
// One goroutine, the reader, receives messages and hands them to the hub's
// subscriptions. Queues never block (a full one ends its
// subscription with ErrOverflow), so one slow consumer cannot delay the
// others. When the connection fails, every subscription ends with
// ErrUnavailable, since events may have been missed: consumers fill the gap
// with Read after subscribing again. The reader then reconnects with backoff;
// Subscribe fails fast with ErrUnavailable until it has.
//
// A second goroutine, the janitor, unsubscribes from the channels of hubs
// that lost their last subscription.
type fanout struct {
	// connected mirrors ps != nil, for healthy without f.mu: PublishRun asks
	// it for every event, while dispatch holds f.mu over a whole fan-out.
	connected atomic.Bool

	rdb      *redis.Client
	log      *slog.Logger
	buffer   int           // Config.SubscriberBuffer
	timeout  time.Duration // for UNSUBSCRIBE and the health-check ping
	pingIdle time.Duration // a silent connection is pinged after this
	pres     *presence

	// sem is held while a SUBSCRIBE or UNSUBSCRIBE is decided and written,
	// so that Redis receives them in the order of the decisions: otherwise an
	// UNSUBSCRIBE of a hub being retired could overtake the SUBSCRIBE of its
	// successor.
	sem chan struct{}

	mu     sync.Mutex
	ps     *redis.PubSub   // the current connection; nil while reconnecting
	hubs   map[string]*hub // by channel
	down   bool            // the last connection failed; logged once per outage
	closed bool

	idle chan struct{} // wakes the janitor
	done chan struct{} // closed by close
	wg   sync.WaitGroup
}

// hub is one watched channel of an agent. Its fields are guarded by
// fanout.mu.
type hub struct {
	agentID string
	channel string
	subs    *localSubs[*redisSub]
	// confirmed is set when Redis acknowledged the SUBSCRIBE; only then are
	// messages delivered, and Subscribe returns.
	confirmed bool
	ready     chan struct{} // closed when confirmed or gone
	gone      bool          // removed from fanout.hubs
	// seen is the seq of the newest persisted event delivered, and deletes
	// counts deletion notices: appenders wait on them (see await).
	seen    uint64
	deletes uint64
	wake    chan struct{} // closed, and cleared, when seen or deletes change
}

// redisSub is a Subscription of the Redis engine: a queue registered in
// its hub.
type redisSub struct {
	localSub
	f       *fanout
	h       *hub
	counted bool // included in presence; guarded by fanout.mu
	// onCancel is set for a cancel listener (Broker.SubscribeCancels).
	onCancel func(runID string)
}

// addLocked adds s to h's local fan-out, as a subscription or a cancel
// listener.
func (h *hub) addLocked(s *redisSub) {
	s.h = h
	if s.onCancel != nil {
		h.subs.addCanceller(s, s.onCancel)
		return
	}
	h.subs.add(s)
}

func newFanout(rdb *redis.Client, pres *presence, buffer int, timeout, pingIdle time.Duration, log *slog.Logger) *fanout {
	return &fanout{
		rdb: rdb, pres: pres, buffer: buffer, timeout: timeout, pingIdle: pingIdle, log: log,
		sem:  make(chan struct{}, 1),
		hubs: make(map[string]*hub),
		idle: make(chan struct{}, 1),
		done: make(chan struct{}),
	}
}

// start opens the first connection (lazily: go-redis dials on first use)
// before returning, so that Subscribe works right after NewRedis.
func (f *fanout) start() {
	f.setPS(f.rdb.Subscribe(context.Background()))
	f.wg.Add(2)
	go f.run(f.ps)
	go f.janitor()
}

// healthy reports whether the pub/sub connection is up (or being set up),
// for Ping and PublishRun.
func (f *fanout) healthy() bool { return f.connected.Load() }

// setPS sets the pub/sub connection (nil: none); f.mu is held, or f is not
// shared yet.
func (f *fanout) setPS(ps *redis.PubSub) {
	f.ps = ps
	f.connected.Store(ps != nil)
}

// subscribe registers a subscription and returns once Redis confirmed the
// channel's SUBSCRIBE, so that every event appended after it returns is
// delivered.
func (f *fanout) subscribe(ctx context.Context, agentID, channel string, opts SubscribeOptions, onCancel func(runID string)) (*redisSub, error) {
	s := &redisSub{localSub: localSub{Queue: NewQueue(f.buffer, opts), internal: opts.Internal}, f: f, onCancel: onCancel}
	h, err := f.attach(ctx, agentID, channel, s)
	if err != nil {
		return nil, err
	}
	select {
	case <-h.ready:
	case <-ctx.Done():
		s.Close()
		return nil, ctx.Err()
	}
	f.mu.Lock()
	confirmed := h.confirmed
	f.mu.Unlock()
	if !confirmed { // the connection failed or the engine closed meanwhile
		if _, err := s.Ended(); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("%w: pub/sub connection lost", ErrUnavailable)
	}
	return s, nil
}

// attach adds s to the channel's hub, creating the hub and sending its
// SUBSCRIBE if there is none.
func (f *fanout) attach(ctx context.Context, agentID, channel string, s *redisSub) (*hub, error) {
	f.mu.Lock()
	if h, err := f.joinLocked(channel, s); h != nil || err != nil {
		f.mu.Unlock()
		return h, err
	}
	f.mu.Unlock()

	select {
	case f.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-f.done:
		return nil, ErrClosed
	}
	defer func() { <-f.sem }()
	f.mu.Lock()
	if h, err := f.joinLocked(channel, s); h != nil || err != nil {
		f.mu.Unlock()
		return h, err
	}
	ps := f.ps
	if ps == nil {
		f.mu.Unlock()
		return nil, fmt.Errorf("%w: pub/sub connection is reconnecting", ErrUnavailable)
	}
	h := &hub{agentID: agentID, channel: channel, subs: newLocalSubs[*redisSub](), ready: make(chan struct{})}
	f.hubs[channel] = h
	h.addLocked(s)
	f.mu.Unlock()

	// The write gets its own deadline, not the caller's: a write cut short
	// leaves the shared connection unusable, and one caller's short deadline
	// must not end every subscription of the replica.
	wctx, cancel := context.WithTimeout(context.Background(), f.timeout)
	defer cancel()
	if err := ps.Subscribe(wctx, channel); err != nil {
		// The connection is broken: closing it makes the reader end every
		// hub on it, this one included, and reconnect.
		f.log.Warn("redis engine: pub/sub subscribe failed", "err", err)
		_ = ps.Close()
	}
	return h, nil
}

// joinLocked adds s to an existing hub of channel. It returns a nil hub if
// there is none.
func (f *fanout) joinLocked(channel string, s *redisSub) (*hub, error) {
	if f.closed {
		return nil, ErrClosed
	}
	h := f.hubs[channel]
	if h == nil {
		return nil, nil
	}
	h.addLocked(s)
	return h, nil
}

// markCounted records that s was added to presence, or takes it back out if
// s ended meanwhile, so that every counted subscription is uncounted exactly
// once.
func (f *fanout) markCounted(s *redisSub) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if ended, _ := s.Ended(); ended {
		f.pres.addLater(s.h.agentID, -1)
		return
	}
	s.counted = true
}

// Close implements Subscription.
func (s *redisSub) Close() {
	f := s.f
	f.mu.Lock()
	counted := s.counted
	s.counted = false
	first := f.endLocked(s, nil)
	f.mu.Unlock()
	if first && counted {
		_ = f.pres.add(s.h.agentID, -1)
	}
}

// endLocked ends s with err and unregisters it. It reports whether s was
// still registered.
func (f *fanout) endLocked(s *redisSub, err error) bool {
	s.End(err)
	h := s.h
	if !h.subs.remove(s) {
		return false
	}
	if s.counted {
		s.counted = false
		f.pres.addLater(h.agentID, -1)
	}
	if h.subs.len() == 0 {
		h.wakeLocked()
		select {
		case f.idle <- struct{}{}:
		default:
		}
	}
	return true
}

// endLocked implements subscriber: f.mu is held.
func (s *redisSub) endLocked(err error) { s.f.endLocked(s, err) }

func (h *hub) wakeLocked() {
	if h.wake != nil {
		close(h.wake)
		h.wake = nil
	}
}

// watch returns the channel's hub if local subscriptions would receive an
// event published now, and its count of deletion notices, for await.
func (f *fanout) watch(channel string) (*hub, uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if h := f.hubs[channel]; h != nil && h.confirmed && h.subs.len() > 0 {
		return h, h.deletes
	}
	return nil, 0
}

// await waits until the reader has delivered what an append (or delete)
// published, so that, as with the memory engine, local subscribers have the
// event when the call returns. The hub must have been taken by watch before
// the command was sent: its SUBSCRIBE was then processed first, so the
// message will come unless the connection fails, which ends the hub. It
// gives up when ctx ends.
func (f *fanout) await(ctx context.Context, h *hub, done func(*hub) bool) {
	if h == nil {
		return
	}
	for {
		f.mu.Lock()
		if done(h) || h.gone || h.subs.len() == 0 {
			f.mu.Unlock()
			return
		}
		if h.wake == nil {
			h.wake = make(chan struct{})
		}
		wake := h.wake
		f.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return
		}
	}
}
