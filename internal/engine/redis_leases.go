package engine

import (
	"context"
	"crypto/rand"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// The Redis engine's Leases. A lease is a key holding a random token, with
// a time to live, so that it expires by itself if its holder dies; the
// agents whose messages wait are a sorted set, the due index (see
// keyspace.due), by the time their work began.

// AcquireLease implements Leases with SET NX PX: the lease is a key holding a
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

// RenewLease implements Leases.
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

// ReleaseLease implements Leases.
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

// Settle implements Leases.
func (r *Redis) Settle(ctx context.Context, lease Lease, seen uint64, next Claim) (*Work, error) {
	opCtx, cancel, err := r.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer cancel()
	k := r.keys.agent(lease.AgentID)
	var res *redis.Cmd
	err = r.pipe.do(opCtx, func(p redis.Pipeliner) {
		res = scriptSettle.EvalSha(opCtx, p, []string{k.meta, k.log, k.lease, r.keys.due()},
			lease.Token, strconv.FormatUint(seen, 10), lease.AgentID, leaseTTL(next.TTL).Milliseconds(), next.Context, workLimit(next))
	})
	if err != nil {
		return nil, r.fail(ctx, err)
	}
	out, err := decodeLog("settle.lua", res, statusSettled)
	if err != nil {
		return nil, err // ErrLeaseLost
	}
	return out.workOf(lease), nil
}

// Due implements Leases: the oldest entries of the due index, less those
// whose lease someone holds. (An entry whose messages were all answered
// meanwhile is listed until a replier, finding nothing, settles it.)
func (r *Redis) Due(ctx context.Context, limit int) ([]string, error) {
	if limit <= 0 {
		return nil, nil
	}
	opCtx, cancel, err := r.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer cancel()
	var oldest *redis.StringSliceCmd
	err = r.pipe.do(opCtx, func(p redis.Pipeliner) {
		oldest = p.ZRange(opCtx, r.keys.due(), 0, int64(limit-1))
	})
	if err != nil {
		return nil, r.fail(ctx, err)
	}
	ids, err := oldest.Result()
	if err != nil {
		return nil, r.fail(ctx, err)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	held := make([]*redis.IntCmd, len(ids))
	err = r.pipe.do(opCtx, func(p redis.Pipeliner) {
		for i, id := range ids {
			held[i] = p.Exists(opCtx, r.keys.agent(id).lease)
		}
	})
	if err != nil {
		return nil, r.fail(ctx, err)
	}
	out := ids[:0]
	for i, id := range ids {
		if held[i].Val() == 0 {
			out = append(out, id)
		}
	}
	return out, nil
}
