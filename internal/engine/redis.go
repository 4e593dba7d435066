package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
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
// Replies are fenced by the lease token inside the same script, and the
// lease is taken with the append of a user message and settled with the
// append of its reply, so that a SendMessage costs Redis three round trips:
// the message (with the lease and the work), the run's first events, and
// the reply (with the lease released). Its parts are in redis_log.go,
// redis_leases.go, redis_run.go and redis_fanout.go.
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

// NewClient makes the engine's client of rc.URL, for a caller that shares
// it with other users of the same Redis (the per-user limits) and passes
// it to NewRedisClient: the URL's options, the timeouts of
// OperationTimeout where the URL sets none, no retries. The caller closes
// it.
func NewClient(rc RedisConfig) (*redis.Client, error) {
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
	return redis.NewClient(opts), nil
}

// NewRedisClient connects an engine to Redis over rdb, a client the caller
// made (NewClient, or one with its own TLS, credentials, pool or Sentinel
// failover: redis.NewFailoverClient) and keeps: Close leaves it open. It
// loads the scripts and starts the pub/sub reader and the heartbeat, and
// fails if Redis cannot be reached within ctx and OperationTimeout: a
// replica that starts without its store is misconfigured more often than
// unlucky. RedisConfig.URL is not read. The client must
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

// Ping implements Store: Redis must answer, and the pub/sub connection must
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

// Close implements Store. It ends the subscriptions, stops the goroutines,
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
