package userlimit

import (
	"context"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"
)

// refreshBatch bounds the ids of one refresh.lua call (Lua's unpack takes
// a few thousand values at most) and the calls of one pipeline, so that
// one round trip stays short however many users a replica serves.
const refreshBatch = 500

// loop renews the connections every HeartbeatInterval until Close, which
// cancels ctx.
func (r *Redis) loop(ctx context.Context) {
	defer r.wg.Done()
	tick := time.NewTicker(r.cfg.HeartbeatInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			_ = r.Heartbeat(ctx) // a failure is logged once, by outage
		}
	}
}

// Heartbeat renews this replica's open connections in Redis, adding those
// Redis does not know; the limiter calls it every HeartbeatInterval unless
// RedisConfig.ManualHeartbeat is set. A connection released while the
// renewal was on its way is removed again after it, so that the renewal
// does not bring it back.
func (r *Redis) Heartbeat(ctx context.Context) error {
	if r.closed.Load() {
		return ErrClosed
	}
	r.mu.Lock()
	held := r.snapshotLocked()
	r.mu.Unlock()
	if len(held) == 0 {
		return nil
	}
	if err := r.refresh(ctx, held); err != nil {
		if ended(ctx) == nil {
			r.down.failed(err)
		}
		return err
	}
	r.down.answered()
	r.unregister(r.releasedSince(held))
	return nil
}

// refresh runs refresh.lua for every subject's ids, in pipelines of at
// most refreshBatch calls, each with its own OperationTimeout.
func (r *Redis) refresh(ctx context.Context, held map[string][]string) error {
	type call struct {
		subject string
		ids     []string
	}
	var calls []call
	for subject, ids := range held {
		for chunk := range slices.Chunk(ids, refreshBatch) {
			calls = append(calls, call{subject, chunk})
		}
	}
	now, ttl := r.now(), r.ttl.Milliseconds()
	for batch := range slices.Chunk(calls, refreshBatch) {
		send := func(ctx context.Context) error {
			_, err := r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
				for _, c := range batch {
					args := make([]any, 0, 2+len(c.ids))
					args = append(args, now, ttl)
					for _, id := range c.ids {
						args = append(args, id)
					}
					scriptRefresh.EvalSha(ctx, p, []string{r.connsKey(c.subject)}, args...)
				}
				return nil
			})
			return err
		}
		if err := r.withScript(ctx, scriptRefresh, send); err != nil {
			return err
		}
	}
	return nil
}

// withScript runs send, which pipelines EVALSHA of script, within
// OperationTimeout. Pipelined EVALSHA cannot fall back to EVAL by itself,
// so when Redis forgot the script (it restarted), the script is loaded
// and send runs once more; the calls that failed with NOSCRIPT had no
// effect.
func (r *Redis) withScript(ctx context.Context, script *redis.Script, send func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.OperationTimeout)
	defer cancel()
	err := send(ctx)
	if err == nil || !redis.HasErrorPrefix(err, "NOSCRIPT") {
		return err
	}
	if err := script.Load(ctx, r.rdb).Err(); err != nil {
		return err
	}
	return send(ctx)
}

// releasedSince lists the ids of held that are no longer open here.
func (r *Redis) releasedSince(held map[string][]string) map[string][]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var gone map[string][]string
	for subject, ids := range held {
		for _, id := range ids {
			if _, open := r.open[subject][id]; !open {
				if gone == nil {
					gone = make(map[string][]string)
				}
				gone[subject] = append(gone[subject], id)
			}
		}
	}
	return gone
}
