package userlimit

import (
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

var _ Limiter = (*Redis)(nil)

// RedisConfig configures NewRedis. The zero value of every field is a
// documented default.
type RedisConfig struct {
	// KeyPrefix starts every key, as the engine's does, so that several
	// deployments can share one Redis. Default "agentgate:".
	KeyPrefix string
	// OperationTimeout bounds every call to Redis (when the client has
	// ContextTimeoutEnabled, as the engine's own client has; otherwise
	// the client's read and write timeouts do). Past it the call is
	// decided without Redis (see Redis). Default 1s.
	OperationTimeout time.Duration
	// HeartbeatInterval is how often this replica renews its open
	// connections in Redis. A connection counts for three intervals
	// after its last renewal: that is how long the connections of a
	// replica that died keep counting. Default 5s (so 15s).
	HeartbeatInterval time.Duration
	// ManualHeartbeat leaves the renewals to the caller, who calls
	// Heartbeat at least once per HeartbeatInterval: for tests that
	// drive the clock.
	ManualHeartbeat bool
	// Now is the clock of the limits. Default (nil): Redis's own (TIME),
	// read inside each script, so that replicas whose clocks drift apart
	// still share one allowance and one set of deadlines. A test sets its
	// own clock here.
	Now func() time.Time
	// Logger receives a line when Redis stops answering and one when it
	// answers again. Default slog.Default().
	Logger *slog.Logger
}

func (c RedisConfig) withDefaults() RedisConfig {
	if c.KeyPrefix == "" {
		c.KeyPrefix = "agentgate:"
	}
	if c.OperationTimeout <= 0 {
		c.OperationTimeout = time.Second
	}
	if c.HeartbeatInterval <= 0 {
		c.HeartbeatInterval = 5 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Redis is the Limiter of replicas that share one Redis: a user's
// allowance and connections are counted once for all of them.
//
// A subject's allowance is one key holding its GCRA time (lua/allow.lua),
// which expires once the allowance is full again. GCRA rather than a
// sliding window: one number per subject instead of one entry per message,
// exact rather than approximated, and the time to retry falls out of it.
// Each call is one script, one round trip.
//
// A subject's connections are a sorted set of connection ids, each with a
// deadline (lua/conns.lua): this replica renews its own every
// HeartbeatInterval, so the connections of a replica that died stop
// counting within three intervals (15s by default) of its last heartbeat,
// and the key expires with the latest deadline. Releasing removes the id,
// so releasing twice is harmless, and Close removes every id of the
// replica at once. The replica keeps its open ids itself too: they are
// the truth its heartbeat writes back, so a connection Redis lost (a
// restart) or never saw (an outage) counts again from the next heartbeat.
// A heartbeat costs one script per subject with connections here (in
// pipelines of a few hundred), nothing on a replica without any.
//
// When Redis cannot be reached, both limits fail open to this replica's
// own counts: a message is decided by a Memory limiter of this process,
// and a connection by this replica's open ids, with the same limits. So
// a Redis blip refuses no one who was within the limits, and a flood gets
// at most the limits once per replica, not more, until Redis answers
// again. (Failing closed would turn every outage into refusing every
// user; failing wide open would let a script spend the bill while Redis is
// down.) For a second after a failure, calls do not wait for Redis at all;
// then one call tries it again while the others still go without, and
// every heartbeat tries too.
//
// The client is the caller's and is never closed. A retried command does
// no harm here: entering, renewing and releasing are idempotent, and a
// retried Allow at worst counts one message twice.
type Redis struct {
	rdb    *redis.Client
	cfg    RedisConfig
	ttl    time.Duration // how long a connection counts without a heartbeat
	prefix string        // of this limiter's connection ids
	seq    atomic.Uint64 // the last connection id's number
	local  *Memory       // decides messages while Redis does not answer
	down   outage

	// mu guards open and the change of closed.
	mu     sync.Mutex
	open   map[string]map[string]struct{} // subject -> ids open here, never empty
	closed atomic.Bool

	stop      context.CancelFunc // the heartbeat's
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// NewRedis keeps the limits in Redis through rdb, which it does not close.
// It does not wait for Redis: until Redis answers, each replica keeps the
// limits on its own (see Redis).
func NewRedis(rdb *redis.Client, cfg RedisConfig) (*Redis, error) {
	if rdb == nil {
		return nil, errors.New("userlimit: the redis client is nil")
	}
	cfg = cfg.withDefaults()
	r := &Redis{
		rdb:    rdb,
		cfg:    cfg,
		ttl:    3 * cfg.HeartbeatInterval,
		prefix: rand.Text()[:12] + ":",
		local:  NewMemory(cfg.Now),
		down:   outage{log: cfg.Logger},
		open:   make(map[string]map[string]struct{}),
		stop:   func() {},
	}
	if !cfg.ManualHeartbeat {
		var ctx context.Context
		ctx, r.stop = context.WithCancel(context.Background())
		r.wg.Add(1)
		go r.loop(ctx)
	}
	return r, nil
}

func (r *Redis) rateKey(subject string) string  { return r.cfg.KeyPrefix + "user-rate:" + subject }
func (r *Redis) connsKey(subject string) string { return r.cfg.KeyPrefix + "user-conns:" + subject }

// now is the scripts' ARGV[1]: the configured clock in microseconds, or
// empty for Redis's own (see lua/clock.lua).
func (r *Redis) now() string {
	if r.cfg.Now == nil {
		return ""
	}
	return strconv.FormatInt(r.cfg.Now().UnixMicro(), 10)
}

// usable refuses a call on a closed limiter or with a finished context.
func (r *Redis) usable(ctx context.Context) error {
	if r.closed.Load() {
		return ErrClosed
	}
	return ctx.Err()
}

// ended is the caller's context's error once it ended, or its deadline
// passed: the network may notice a deadline before the context does. A
// call that failed for that reason says nothing about Redis.
func ended(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
		return context.DeadlineExceeded
	}
	return nil
}

// Allow implements Limiter.
func (r *Redis) Allow(ctx context.Context, subject string, rate Rate) (bool, time.Duration, error) {
	if err := r.usable(ctx); err != nil {
		return false, 0, err
	}
	if r.down.skip() {
		return r.local.Allow(ctx, subject, rate)
	}
	opCtx, cancel := context.WithTimeout(ctx, r.cfg.OperationTimeout)
	defer cancel()
	every := max(rate.Every.Microseconds(), 1)
	cmd := scriptAllow.Run(opCtx, r.rdb, []string{r.rateKey(subject)}, r.now(), every, rate.Burst)
	ok, retry, err := decodeAllow(cmd)
	if err != nil {
		if err := ended(ctx); err != nil {
			return false, 0, err
		}
		r.down.failed(err)
		return r.local.Allow(ctx, subject, rate)
	}
	r.down.answered()
	return ok, retry, nil
}

// Enter implements Limiter.
func (r *Redis) Enter(ctx context.Context, subject string, max int) (func(), bool, error) {
	if err := r.usable(ctx); err != nil {
		return nil, false, err
	}
	id := r.prefix + strconv.FormatUint(r.seq.Add(1), 36)
	if !r.down.skip() {
		opCtx, cancel := context.WithTimeout(ctx, r.cfg.OperationTimeout)
		cmd := scriptEnter.Run(opCtx, r.rdb, []string{r.connsKey(subject)}, r.now(), r.ttl.Milliseconds(), max, id)
		ok, err := decodeEnter(cmd)
		cancel()
		switch {
		case err == nil:
			r.down.answered()
			if !ok {
				return nil, false, nil
			}
			if !r.hold(subject, id, -1) {
				r.unregister(map[string][]string{subject: {id}})
				return nil, false, ErrClosed
			}
			return r.releaser(subject, id), true, nil
		case ended(ctx) != nil:
			// The script may have run: the id expires unrenewed.
			return nil, false, ended(ctx)
		}
		r.down.failed(err)
	}
	// Without Redis: this replica's own count decides, and the next
	// heartbeat that reaches Redis registers the connection.
	if !r.hold(subject, id, max) {
		if r.closed.Load() {
			return nil, false, ErrClosed
		}
		return nil, false, nil
	}
	return r.releaser(subject, id), true, nil
}

// hold records id as open here, unless the limiter is closed or, if max
// is not negative, subject holds max connections here already.
func (r *Redis) hold(subject, id string, max int) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	ids := r.open[subject]
	if r.closed.Load() || (max >= 0 && len(ids) >= max) {
		return false
	}
	if ids == nil {
		ids = make(map[string]struct{})
		r.open[subject] = ids
	}
	ids[id] = struct{}{}
	return true
}

// releaser is Enter's release of id: the first call forgets it here and
// removes it from Redis; later calls find it gone and do nothing.
func (r *Redis) releaser(subject, id string) func() {
	return func() {
		r.mu.Lock()
		ids := r.open[subject]
		_, held := ids[id]
		delete(ids, id)
		if len(ids) == 0 {
			delete(r.open, subject)
		}
		r.mu.Unlock()
		// After Close, Close removed it.
		if held && !r.closed.Load() {
			r.unregister(map[string][]string{subject: {id}})
		}
	}
}

// unregister removes connection ids from Redis, with its own deadline
// (the caller's connection has ended, and its context with it). While
// Redis does not answer it does not try: the ids expire unrenewed.
func (r *Redis) unregister(ids map[string][]string) {
	if len(ids) == 0 || r.down.skip() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.cfg.OperationTimeout)
	defer cancel()
	_, err := r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for subject, list := range ids {
			members := make([]any, len(list))
			for i, id := range list {
				members[i] = id
			}
			p.ZRem(ctx, r.connsKey(subject), members...)
		}
		return nil
	})
	if err != nil {
		r.down.failed(err)
		return
	}
	r.down.answered()
}

// Close implements Limiter: it stops the heartbeat and removes this
// replica's connections from Redis, so that they stop counting at once
// rather than when they expire.
func (r *Redis) Close() error {
	r.closeOnce.Do(func() {
		r.mu.Lock()
		r.closed.Store(true)
		open := r.snapshotLocked()
		clear(r.open)
		r.mu.Unlock()
		r.stop()
		r.wg.Wait()
		r.down.reset()
		r.unregister(open)
		_ = r.local.Close()
	})
	return nil
}

// snapshotLocked lists the ids open here, by subject.
func (r *Redis) snapshotLocked() map[string][]string {
	out := make(map[string][]string, len(r.open))
	for subject, ids := range r.open {
		list := make([]string, 0, len(ids))
		for id := range ids {
			list = append(list, id)
		}
		out[subject] = list
	}
	return out
}

// outage tracks whether Redis answers, and logs when that changes. Its
// clock is the process's, whatever clock the limits use.
type outage struct {
	log *slog.Logger
	// since is when the latest call failed, in Unix nanoseconds; 0 while
	// Redis answers.
	since atomic.Int64
}

// retryAfterFailure is how long after a failure calls are decided
// without Redis before one tries it again: short, since each failed try
// costs only the one call that makes it.
const retryAfterFailure = time.Second

// skip reports whether a call should not wait for Redis: one failed
// within retryAfterFailure. Past that, the first caller to ask tries
// Redis again, and the others keep skipping it until that call ends.
func (o *outage) skip() bool {
	at := o.since.Load()
	if at == 0 {
		return false
	}
	if time.Since(time.Unix(0, at)) < retryAfterFailure {
		return true
	}
	return !o.since.CompareAndSwap(at, time.Now().UnixNano())
}

func (o *outage) failed(err error) {
	if o.since.Swap(time.Now().UnixNano()) == 0 {
		o.log.Warn("user limits: redis does not answer; each replica keeps the limits on its own until it does", "err", err)
	}
}

func (o *outage) answered() {
	if o.since.Load() != 0 && o.since.Swap(0) != 0 {
		o.log.Info("user limits: redis answers again; the limits are shared by the replicas")
	}
}

// reset forgets a failure without a log line, so that Close tries Redis.
// (A failure of Close itself is then logged.)
func (o *outage) reset() { o.since.Store(0) }
