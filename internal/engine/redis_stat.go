package engine

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"
)

// stats describes the agents that exist among ids, in order, summing the
// subscriber counts of live replica epochs. Fields of dead epochs are
// deleted on the way, best effort.
func (r *Redis) stats(ctx context.Context, ids []string) ([]Stat, error) {
	cmds := make([]*redis.Cmd, len(ids))
	_, err := pipelined(ctx, r.rdb, func(p redis.Pipeliner) {
		for i, id := range ids {
			k := r.keys.agent(id)
			cmds[i] = scriptStat.EvalSha(ctx, p, []string{k.meta, k.log, k.subs})
		}
	})
	if err != nil {
		return nil, err
	}
	out := make([]Stat, 0, len(ids))
	subs := make([][]string, 0, len(ids))
	var epochs []string
	seen := make(map[string]bool)
	for i, cmd := range cmds {
		st, fields, ok, err := parseStat(ids[i], cmd)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		for j := 0; j < len(fields); j += 2 {
			if !seen[fields[j]] {
				seen[fields[j]] = true
				epochs = append(epochs, fields[j])
			}
		}
		out = append(out, st)
		subs = append(subs, fields)
	}
	alive, err := r.pres.alive(ctx, epochs)
	if err != nil {
		return nil, err
	}
	dead := make(map[string][]string)
	for i := range out {
		var d []string
		out[i].Subscribers, d = sumAlive(subs[i], alive)
		if len(d) > 0 {
			dead[out[i].AgentID] = d
		}
	}
	if len(dead) > 0 {
		_, _ = r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for id, fields := range dead {
				p.HDel(ctx, r.keys.agent(id).subs, fields...)
			}
			return nil
		})
	}
	return out, nil
}

// parseStat reads one stat.lua result. ok is false if the agent does not
// exist.
func parseStat(agentID string, cmd *redis.Cmd) (st Stat, subs []string, ok bool, err error) {
	res, err := decodeStat(cmd)
	if errors.Is(err, ErrNotFound) {
		return Stat{}, nil, false, nil
	}
	if err != nil {
		return Stat{}, nil, false, err
	}
	st = Stat{
		AgentID:    agentID,
		LastSeq:    res.last,
		Answered:   res.answered,
		Created:    unixNanos(res.created),
		LastActive: unixNanos(res.active),
		Epoch:      res.epoch,
	}
	if res.length > 0 {
		st.FirstSeq = res.last - res.length + 1
	}
	return st, res.subscribers, true, nil
}

// unixNanos is the time of ns Unix nanoseconds, the zero time for 0.
func unixNanos(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}
