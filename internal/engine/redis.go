package engine

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/proto"
)

var _ Engine = (*Redis)(nil)

// maxReadLimit caps Read's limit; a log is never that long.
const maxReadLimit = 1 << 30

// RedisConfig configures NewRedis. The zero value of every field but URL is
// a documented default.
type RedisConfig struct {
	// URL locates Redis, as go-redis ParseURL reads it:
	// redis://[user:password@]host:port[/db], rediss:// for TLS, with its
	// query options (dial_timeout, pool_size, …). Required.
	URL string
	// Config holds the settings every engine shares.
	Config Config
	// ReplicaID names this replica in Redis, so that an operator can tell
	// whose subscriber counts are whose. Default: the host name.
	ReplicaID string
	// KeyPrefix starts every key and channel name, so that several
	// deployments can share one Redis. Default "agentgate:".
	KeyPrefix string
	// OperationTimeout bounds every call to Redis, even when the caller's
	// context allows longer, so that an unreachable Redis turns into
	// ErrUnavailable quickly instead of a hang. It is also the default dial,
	// read, write and pool timeout of the connections. Default 2s.
	OperationTimeout time.Duration
	// HeartbeatInterval is how often this replica renews its liveness in
	// Redis (its subscribers stop counting three intervals after it dies)
	// and how long the pub/sub connection may stay silent before it is
	// pinged (a dead one is noticed within two intervals). Default 5s.
	HeartbeatInterval time.Duration
	// Logger receives the engine's connection events. Default slog.Default().
	Logger *slog.Logger
}

func (c RedisConfig) withDefaults() RedisConfig {
	c.Config = c.Config.WithDefaults()
	if c.ReplicaID == "" {
		c.ReplicaID, _ = os.Hostname()
		if c.ReplicaID == "" {
			c.ReplicaID = "replica"
		}
	}
	if c.KeyPrefix == "" {
		c.KeyPrefix = "agentgate:"
	}
	if c.OperationTimeout <= 0 {
		c.OperationTimeout = 2 * time.Second
	}
	if c.HeartbeatInterval <= 0 {
		c.HeartbeatInterval = 5 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Redis is the engine for several replicas: agents' logs, idempotency keys,
// leases and subscriber counts live in Redis, and live events reach every
// replica through Redis pub/sub.
//
// Each agent's log is a Redis list of protobuf-encoded events plus a hash of
// counters (see keyspace). Lua scripts (lua/*.lua; see redis_scripts.go)
// do every multi-step change, appending, trimming, storing the idempotency
// key and publishing in one atomic step, so seqs are gap-free and published
// in seq order whichever replica appends.
// Replies are fenced by the lease token inside the same script.
//
// Calls fail with an error wrapping ErrUnavailable when Redis cannot be
// reached within OperationTimeout (or the caller's deadline, if earlier);
// go-redis retries are off, because a retried append could be applied twice.
// PublishRun is the exception: it does not wait for Redis, and fails at once
// only when an outage is known (see postEvent); otherwise an ephemeral event
// that Redis did not take is lost without an error.
// After an outage everything resumes by itself: commands use fresh
// connections, and the pub/sub reader reconnects with backoff.
//
// A subscription may also receive events published just before Subscribe
// returned, by a concurrent call or another replica: "before" has no exact
// meaning across replicas. Consumers tell them apart by seq, as they must
// after Read anyway.
type Redis struct {
	cfg     Config
	timeout time.Duration
	rdb     *redis.Client
	keys    keyspace
	fan     *fanout
	pres    *presence
	pipe    *pipe // the short commands

	closed    atomic.Bool
	closeOnce sync.Once

	// borrowed: rdb is the caller's (NewRedisClient), and Close leaves it
	// open.
	borrowed bool
}

// NewRedis connects to Redis, loads the scripts and starts the pub/sub
// reader and the heartbeat. It fails if Redis cannot be reached within ctx
// and OperationTimeout: a replica that starts without its store is
// misconfigured more often than unlucky.
func NewRedis(ctx context.Context, rc RedisConfig) (*Redis, error) {
	if rc.URL == "" {
		return nil, errors.New("engine: redis URL is empty")
	}
	rc = rc.withDefaults()
	opts, err := redis.ParseURL(rc.URL)
	if err != nil {
		return nil, fmt.Errorf("engine: redis URL: %w", err)
	}
	if opts.DialTimeout == 0 {
		opts.DialTimeout = rc.OperationTimeout
	}
	if opts.ReadTimeout == 0 {
		opts.ReadTimeout = rc.OperationTimeout
	}
	if opts.WriteTimeout == 0 {
		opts.WriteTimeout = rc.OperationTimeout
	}
	if opts.PoolTimeout == 0 {
		opts.PoolTimeout = rc.OperationTimeout
	}
	if opts.MaxRetries == 0 {
		opts.MaxRetries = -1 // scripts are not idempotent: see Redis
	}
	opts.ContextTimeoutEnabled = true

	rdb := redis.NewClient(opts)
	r, err := openRedis(ctx, rdb, rc)
	if err != nil {
		_ = rdb.Close()
		return nil, err
	}
	return r, nil
}

// NewRedisClient is NewRedis over a client the caller made (with its own
// TLS, credentials, pool or Sentinel failover: redis.NewFailoverClient) and
// keeps: Close leaves it open. RedisConfig.URL is not read. The client must
// not retry commands (MaxRetries -1; see CheckRedisClient), and its own
// timeouts bound each command; OperationTimeout still bounds each call
// when the client has ContextTimeoutEnabled.
func NewRedisClient(ctx context.Context, rdb *redis.Client, rc RedisConfig) (*Redis, error) {
	if err := CheckRedisClient(rdb); err != nil {
		return nil, err
	}
	r, err := openRedis(ctx, rdb, rc.withDefaults())
	if err != nil {
		return nil, err
	}
	r.borrowed = true
	return r, nil
}

// CheckRedisClient says why the engine cannot use rdb, if it cannot: a
// client that retries commands (go-redis retries 3 times unless
// Options.MaxRetries is -1) could apply a script twice, appending a message
// twice, when a reply is lost on the way.
func CheckRedisClient(rdb *redis.Client) error {
	if rdb == nil {
		return errors.New("engine: the redis client is nil")
	}
	// NewClient stores MaxRetries -1 as 0, and its default as 3.
	if n := rdb.Options().MaxRetries; n > 0 {
		return fmt.Errorf("engine: the redis client retries commands (MaxRetries %d): set MaxRetries to -1, since a retried script could append an event twice", n)
	}
	return nil
}

// openRedis starts the engine over rdb; rc has its defaults.
func openRedis(ctx context.Context, rdb *redis.Client, rc RedisConfig) (*Redis, error) {
	keys := keyspace{prefix: rc.KeyPrefix}
	pres := newPresence(rdb, keys, rc.ReplicaID, rc.HeartbeatInterval, rc.OperationTimeout, rc.Logger)
	r := &Redis{
		cfg:     rc.Config,
		timeout: rc.OperationTimeout,
		rdb:     rdb,
		keys:    keys,
		pres:    pres,
		fan:     newFanout(rdb, pres, rc.Config.SubscriberBuffer, rc.OperationTimeout, rc.HeartbeatInterval, rc.Logger),
	}
	sctx, cancel := context.WithTimeout(ctx, rc.OperationTimeout)
	defer cancel()
	if err := loadScripts(sctx, rdb); err != nil {
		return nil, fmt.Errorf("%w: connect to redis: %w", ErrUnavailable, err)
	}
	if err := pres.start(sctx); err != nil {
		return nil, fmt.Errorf("%w: connect to redis: %w", ErrUnavailable, err)
	}
	r.pipe = newPipe(rdb, rc.OperationTimeout)
	r.fan.start()
	return r, nil
}

// AppendUser implements Engine. If this replica has subscribers of the
// agent, it returns once they have the event.
func (r *Redis) AppendUser(ctx context.Context, agentID string, ev *agentv1.AgentEvent, idemKey string) (*agentv1.AgentEvent, bool, error) {
	opCtx, cancel, err := r.begin(ctx)
	if err != nil {
		return nil, false, err
	}
	defer cancel()
	body, err := encodeForAppend(ev, agentID)
	if err != nil {
		return nil, false, err
	}
	k := r.keys.agent(agentID)
	h, _ := r.fan.watch(k.channel)
	var res *redis.Cmd
	// The index entry is added after the script, and Delete removes it
	// before its script: whatever the interleaving, an agent that exists is
	// listed (at worst a deleted one lingers in the index, and List skips it).
	err = r.pipe.do(opCtx, func(p redis.Pipeliner) {
		res = scriptAppendUser.EvalSha(opCtx, p, []string{k.meta, k.log, k.idem},
			body, idemKey, r.cfg.HistoryLimit, r.now(), k.channel, NewEpoch())
		p.ZAdd(opCtx, r.keys.index(), redis.Z{Member: agentID})
	})
	if err != nil {
		return nil, false, r.fail(ctx, err)
	}
	appended, err := decodeAppend("append_user.lua", res)
	if err != nil {
		return nil, false, err
	}
	stored := appended.event
	if !appended.duplicate {
		r.fan.await(opCtx, h, func(h *hub) bool { return h.seen >= stored.GetSeq() })
	}
	return stored, appended.duplicate, nil
}

// AppendReply implements Engine. Like AppendUser, it returns once this
// replica's subscribers have the event.
func (r *Redis) AppendReply(ctx context.Context, agentID string, ev *agentv1.AgentEvent, answers uint64, lease Lease) (*agentv1.AgentEvent, error) {
	opCtx, cancel, err := r.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer cancel()
	body, err := encodeForAppend(ev, agentID)
	if err != nil {
		return nil, err
	}
	k := r.keys.agent(agentID)
	h, _ := r.fan.watch(k.channel)
	var res *redis.Cmd
	err = r.pipe.do(opCtx, func(p redis.Pipeliner) {
		res = scriptAppendReply.EvalSha(opCtx, p, []string{k.meta, k.log, k.lease, k.run},
			body, lease.Token, strconv.FormatUint(answers, 10), r.cfg.HistoryLimit, r.now(), k.channel, NewEpoch())
	})
	if err != nil {
		return nil, r.fail(ctx, err)
	}
	appended, err := decodeAppend("append_reply.lua", res)
	if err != nil {
		return nil, err // ErrLeaseLost, ErrNotFound, ErrAlreadyAnswered
	}
	stored := appended.event
	r.fan.await(opCtx, h, func(h *hub) bool { return h.seen >= stored.GetSeq() })
	return stored, nil
}

// PublishRun implements Engine. It queues the event for the next pipeline
// and returns without waiting for Redis; the event reaches subscribers
// after every event appended or published before it. If Redis cannot take
// it, it is lost, as an ephemeral event may be.
// A run_started goes through a script that checks the lease; the run's
// later events are two plain commands, RPUSHX to the progress (which only
// exists while a run does) and PUBLISH, since a Lua script per delta cost
// Redis ten times a PUBLISH. A text or argument delta is pushed as a
// compact record, merged with the ones that follow it in the same pipeline
// (see redis_run.go), so that the list grows by the bytes written, not by
// an event per delta. An event or record of another run that lands in the
// progress (a writer whose lease was taken over) is dropped by Run, which
// returns only those of the run the progress began with.
func (r *Redis) PublishRun(ctx context.Context, lease Lease, ev *agentv1.AgentEvent) error {
	k := r.keys.agent(lease.AgentID)
	if ev.GetRunStarted() != nil {
		return r.post(ctx, ev, func(p redis.Pipeliner, msg []byte) {
			scriptBeginRun.EvalSha(context.Background(), p, []string{k.lease, k.run},
				lease.Token, msg, RunID(ev), k.channel)
		})
	}
	if f := newFoldPost(k.run, ev); f != nil {
		return r.postEvent(ctx, ev, func(msg []byte) error {
			return r.postFold(f, func(p redis.Pipeliner) { p.Publish(context.Background(), k.channel, msg) })
		})
	}
	return r.post(ctx, ev, func(p redis.Pipeliner, msg []byte) {
		bg := context.Background()
		p.RPushX(bg, k.run, msg[1:])
		p.Publish(bg, k.channel, msg)
	})
}

// post encodes an ephemeral event as a channel message and queues send
// with it for the next pipeline. Not waited for: a reply streamed in many
// deltas would otherwise wait a round trip per delta. The event still
// reaches Redis before anything this caller sends after it, the reply
// among them.
func (r *Redis) post(ctx context.Context, ev *agentv1.AgentEvent, send func(p redis.Pipeliner, msg []byte)) error {
	return r.postEvent(ctx, ev, func(msg []byte) error {
		return r.pipe.post(func(p redis.Pipeliner) { send(p, msg) })
	})
}

// postEvent encodes ev as a channel message and hands it to queue.
func (r *Redis) postEvent(ctx context.Context, ev *agentv1.AgentEvent, queue func(msg []byte) error) error {
	if err := r.open(ctx); err != nil {
		return err
	}
	if !r.fan.healthy() {
		// This replica lost its pub/sub connection, most likely to an
		// outage: fail at once, as the calls that wait do. (Subscribers on
		// other replicas miss this event; an ephemeral event may be lost.)
		return fmt.Errorf("%w: pub/sub connection down", ErrUnavailable)
	}
	b, err := proto.Marshal(ev)
	if err != nil {
		return fmt.Errorf("engine: encode event: %w", err)
	}
	msg := append([]byte{msgEvent}, b...)
	if err := queue(msg); err != nil {
		return r.fail(ctx, err)
	}
	return nil
}

// Run implements Engine. One LRANGE reads the progress as it stands, so
// records and events are a consistent prefix of the run.
func (r *Redis) Run(ctx context.Context, agentID string) ([]*agentv1.AgentEvent, error) {
	opCtx, cancel, err := r.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer cancel()
	var res *redis.StringSliceCmd
	err = r.pipe.do(opCtx, func(p redis.Pipeliner) {
		res = p.LRange(opCtx, r.keys.agent(agentID).run, 0, -1)
	})
	if err != nil {
		return nil, r.fail(ctx, err)
	}
	vals, err := res.Result()
	if err != nil {
		return nil, r.fail(ctx, err)
	}
	return runFromList(agentID, vals)
}

// CancelRun implements Engine: the lease holder hears the request on the
// agent's channel, through its reply worker's SubscribeCancels.
func (r *Redis) CancelRun(ctx context.Context, agentID, runID string) (string, error) {
	opCtx, cancel, err := r.begin(ctx)
	if err != nil {
		return "", err
	}
	defer cancel()
	k := r.keys.agent(agentID)
	var res *redis.Cmd
	err = r.pipe.do(opCtx, func(p redis.Pipeliner) {
		res = scriptCancelRun.EvalSha(opCtx, p, []string{k.run}, runID, k.channel)
	})
	if err != nil {
		return "", r.fail(ctx, err)
	}
	return decodeCancel(res) // or ErrNoRun
}

// Read implements Engine.
func (r *Redis) Read(ctx context.Context, agentID string, after uint64, limit int) (Page, error) {
	opCtx, cancel, err := r.begin(ctx)
	if err != nil {
		return Page{}, err
	}
	defer cancel()
	k := r.keys.agent(agentID)
	// Lua prints numbers of 15 digits and more in exponent notation, which
	// LRANGE refuses: keep the limit well below.
	limit = min(max(limit, 0), maxReadLimit)
	var res *redis.Cmd
	err = r.pipe.do(opCtx, func(p redis.Pipeliner) {
		res = scriptRead.EvalSha(opCtx, p, []string{k.meta, k.log}, strconv.FormatUint(after, 10), limit)
	})
	if err != nil {
		return Page{}, r.fail(ctx, err)
	}
	return decodeRead(res)
}

// Subscribe implements Engine. It returns once Redis confirmed the
// subscription, so every event appended after it returns is delivered.
func (r *Redis) Subscribe(ctx context.Context, agentID string, opts SubscribeOptions) (Subscription, error) {
	return r.subscribe(ctx, agentID, opts, nil)
}

// SubscribeCancels implements Engine: CancelRun reaches it on the agent's
// channel, whichever replica calls it.
func (r *Redis) SubscribeCancels(ctx context.Context, agentID string, onCancel func(runID string)) (Subscription, error) {
	return r.subscribe(ctx, agentID, SubscribeOptions{Internal: true}, onCancel)
}

// subscribe registers a subscription: one that hears cancels only if
// onCancel is set.
func (r *Redis) subscribe(ctx context.Context, agentID string, opts SubscribeOptions, onCancel func(runID string)) (Subscription, error) {
	opCtx, cancel, err := r.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer cancel()
	s, err := r.fan.subscribe(opCtx, agentID, r.keys.agent(agentID).channel, opts, onCancel)
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

// Stat implements Engine.
func (r *Redis) Stat(ctx context.Context, agentID string) (Stat, error) {
	opCtx, cancel, err := r.begin(ctx)
	if err != nil {
		return Stat{}, err
	}
	defer cancel()
	stats, err := r.stats(opCtx, []string{agentID})
	if err != nil {
		return Stat{}, r.fail(ctx, err)
	}
	if len(stats) == 0 {
		return Stat{}, ErrNotFound
	}
	return stats[0], nil
}

// List implements Engine. It pages the agents index in id order and skips
// entries whose agent is gone (see AppendUser).
func (r *Redis) List(ctx context.Context, after string, limit int) ([]Stat, error) {
	opCtx, cancel, err := r.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer cancel()
	out := make([]Stat, 0, max(min(limit, 1000), 0))
	for len(out) < limit {
		want := limit - len(out)
		lo := "-"
		if after != "" {
			lo = "(" + after
		}
		ids, err := r.rdb.ZRangeByLex(opCtx, r.keys.index(), &redis.ZRangeBy{Min: lo, Max: "+", Count: int64(want)}).Result()
		if err != nil {
			return nil, r.fail(ctx, err)
		}
		if len(ids) == 0 {
			break
		}
		stats, err := r.stats(opCtx, ids)
		if err != nil {
			return nil, r.fail(ctx, err)
		}
		out = append(out, stats...)
		if len(ids) < want {
			break
		}
		after = ids[len(ids)-1]
	}
	return out, nil
}

// Delete implements Engine. If this replica has subscribers of the agent, it
// returns once their subscriptions have ended.
func (r *Redis) Delete(ctx context.Context, agentID string) error {
	opCtx, cancel, err := r.begin(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	k := r.keys.agent(agentID)
	h, deletes := r.fan.watch(k.channel)
	var res *redis.Cmd
	_, err = pipelined(opCtx, r.rdb, func(p redis.Pipeliner) {
		p.ZRem(opCtx, r.keys.index(), agentID) // first: see AppendUser
		res = scriptDelete.EvalSha(opCtx, p, []string{k.meta, k.log, k.idem, k.lease, k.run}, k.channel)
	})
	if err != nil {
		return r.fail(ctx, err)
	}
	if err := decodeStatus("delete.lua", res, statusDeleted); err != nil {
		return err // ErrNotFound
	}
	r.fan.await(opCtx, h, func(h *hub) bool { return h.deletes > deletes })
	return nil
}

// AcquireLease implements Engine with SET NX PX: the lease is a key holding a
// random token, which expires by itself if its holder dies.
func (r *Redis) AcquireLease(ctx context.Context, agentID string, ttl time.Duration) (Lease, bool, error) {
	opCtx, cancel, err := r.begin(ctx)
	if err != nil {
		return Lease{}, false, err
	}
	defer cancel()
	token := rand.Text()
	var res *redis.BoolCmd
	err = r.pipe.do(opCtx, func(p redis.Pipeliner) {
		res = p.SetNX(opCtx, r.keys.agent(agentID).lease, token, leaseTTL(ttl))
	})
	if err != nil {
		return Lease{}, false, r.fail(ctx, err)
	}
	ok, err := res.Result()
	if err != nil {
		return Lease{}, false, r.fail(ctx, err)
	}
	if !ok {
		return Lease{}, false, nil
	}
	return Lease{AgentID: agentID, Token: token}, true, nil
}

// RenewLease implements Engine.
func (r *Redis) RenewLease(ctx context.Context, lease Lease, ttl time.Duration) error {
	opCtx, cancel, err := r.begin(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	var res *redis.Cmd
	err = r.pipe.do(opCtx, func(p redis.Pipeliner) {
		k := r.keys.agent(lease.AgentID)
		res = scriptRenew.EvalSha(opCtx, p, []string{k.lease, k.run},
			lease.Token, leaseTTL(ttl).Milliseconds())
	})
	if err != nil {
		return r.fail(ctx, err)
	}
	return decodeStatus("renew_lease.lua", res, statusRenewed) // or ErrLeaseLost
}

// ReleaseLease implements Engine.
func (r *Redis) ReleaseLease(ctx context.Context, lease Lease) error {
	opCtx, cancel, err := r.begin(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	err = r.pipe.do(opCtx, func(p redis.Pipeliner) {
		scriptRelease.EvalSha(opCtx, p, []string{r.keys.agent(lease.AgentID).lease}, lease.Token)
	})
	if err != nil {
		return r.fail(ctx, err)
	}
	return nil
}

// Ping implements Engine: Redis must answer, and the pub/sub connection must
// not be between a failure and its reconnection.
func (r *Redis) Ping(ctx context.Context) error {
	opCtx, cancel, err := r.begin(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	if !r.fan.healthy() {
		return fmt.Errorf("%w: pub/sub connection is reconnecting", ErrUnavailable)
	}
	if err := r.rdb.Ping(opCtx).Err(); err != nil {
		return r.fail(ctx, err)
	}
	return nil
}

// Close implements Engine. It ends the subscriptions, stops the goroutines,
// retires this replica's subscriber counts and closes the connections.
func (r *Redis) Close() error {
	r.closeOnce.Do(func() {
		r.closed.Store(true)
		r.pipe.close()
		r.fan.close()
		r.pres.close()
		if !r.borrowed {
			_ = r.rdb.Close()
		}
	})
	return nil
}
