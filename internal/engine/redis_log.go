package engine

import (
	"context"
	"crypto/rand"
	"fmt"
	"strconv"

	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/proto"
)

// The Redis engine's Log: each call one script (lua/*.lua) in one round
// trip of the pipe.

// AppendUser implements Log. If this replica has subscribers of the agent,
// it returns once they have the event. Taking the lease (opts.Claim) and
// reading the work are part of the one script: no round trip of their own.
func (r *Redis) AppendUser(ctx context.Context, agentID string, ev *agentv1.AgentEvent, opts AppendOptions) (Appended, error) {
	opCtx, cancel, err := r.begin(ctx)
	if err != nil {
		return Appended{}, err
	}
	defer cancel()
	body, err := encodeForAppend(ev, agentID)
	if err != nil {
		return Appended{}, err
	}
	k := r.keys.agent(agentID)
	lease := Lease{AgentID: agentID}
	if opts.Claim.TTL > 0 {
		lease.Token = rand.Text()
	}
	runID, head, inner, err := encodeBegin(opts.Begin, agentID)
	if err != nil {
		return Appended{}, err
	}
	h, _ := r.fan.watch(k.channel)
	var res *redis.Cmd
	err = r.pipe.do(opCtx, func(p redis.Pipeliner) {
		res = scriptAppendUser.EvalSha(opCtx, p, []string{k.meta, k.log, k.idem, k.lease, r.keys.due(), r.keys.index(), k.calls, k.closes, k.run},
			body, opts.IdempotencyKey, r.cfg.HistoryLimit, r.now(), k.channel, NewEpoch(),
			agentID, lease.Token, leaseTTL(opts.Claim.TTL).Milliseconds(), opts.Claim.Context, workLimit(opts.Claim),
			runID, head, inner)
	})
	if err != nil {
		return Appended{}, r.fail(ctx, err)
	}
	var stored *agentv1.AgentEvent
	out, err := decodeLogKnown("append_user.lua", res, func(out logResult) *agentv1.AgentEvent {
		stored = out.stored(ev, agentID)
		return stored
	}, statusAppended, statusDuplicate)
	if err != nil {
		return Appended{}, err
	}
	if stored == nil {
		stored = out.stored(ev, agentID)
	}
	dup := out.status == statusDuplicate
	if !dup {
		r.fan.await(opCtx, h, func(h *hub) bool { return h.seen >= stored.GetSeq() })
	}
	w := out.workOf(lease)
	if w != nil && out.begun {
		w.Begun = begun(opts.Begin, stored)
	}
	return Appended{Event: stored, Duplicate: dup, Work: w}, nil
}

// encodeBegin encodes AppendOptions.Begin for append_user.lua, which
// assembles the run_started with the message's seq and the log's epoch:
// the run id, the event without its epoch and its run_started, and the
// run_started without reply_to_seq. A Begin that is no run_started is
// none: three empty strings.
func encodeBegin(begin *agentv1.AgentEvent, agentID string) (runID string, head, inner []byte, err error) {
	rs := begin.GetRunStarted()
	if rs == nil || rs.GetRunId() == "" {
		return "", nil, nil, nil
	}
	h := &agentv1.AgentEvent{AgentId: agentID, CreateTime: begin.GetCreateTime(), RunSeq: begin.GetRunSeq()}
	if head, err = proto.Marshal(h); err == nil {
		inner, err = proto.Marshal(&agentv1.RunStarted{RunId: rs.GetRunId(), MessageId: rs.GetMessageId()})
	}
	if err != nil {
		return "", nil, nil, fmt.Errorf("engine: encode run start: %w", err)
	}
	return rs.GetRunId(), head, inner, nil
}

// AppendReply implements Log: AppendRun of one event that ends the run.
func (r *Redis) AppendReply(ctx context.Context, agentID string, ev *agentv1.AgentEvent, answers uint64, lease Lease, next Claim) (Appended, error) {
	res, err := r.AppendRun(ctx, agentID, []*agentv1.AgentEvent{ev}, RunAppend{Lease: lease, Answers: answers, End: RunEnds, Next: next})
	if err != nil {
		return Appended{}, err
	}
	return Appended{Event: res.Events[0], Work: res.Work}, nil
}

// AppendRun implements Log, in one script (append_run.lua). Like
// AppendUser, it returns once this replica's subscribers have the events;
// settling the lease (opts.Next) is part of its script.
func (r *Redis) AppendRun(ctx context.Context, agentID string, evs []*agentv1.AgentEvent, opts RunAppend) (RunAppended, error) {
	opCtx, cancel, err := r.begin(ctx)
	if err != nil {
		return RunAppended{}, err
	}
	defer cancel()
	ttl := int64(0) // leaves the lease unsettled
	if opts.Next.TTL > 0 {
		ttl = leaseTTL(opts.Next.TTL).Milliseconds()
	}
	k := r.keys.agent(agentID)
	args := []any{opts.Lease.Token, strconv.FormatUint(opts.Answers, 10), runEndArg(opts.End), r.cfg.HistoryLimit, r.now(), k.channel, NewEpoch(),
		agentID, ttl, opts.Next.Context, workLimit(opts.Next), opts.RunID, len(evs)}
	for _, ev := range evs {
		body, err := encodeForAppend(ev, agentID)
		if err != nil {
			return RunAppended{}, err
		}
		args = append(args, body)
	}
	if opts.End == RunPauses {
		if args, err = pendingArgs(args, agentID, opts); err != nil {
			return RunAppended{}, err
		}
	}
	h, _ := r.fan.watch(k.channel)
	var res *redis.Cmd
	err = r.pipe.do(opCtx, func(p redis.Pipeliner) {
		res = scriptAppendRun.EvalSha(opCtx, p, []string{k.meta, k.log, k.lease, k.run, r.keys.due(), k.calls, k.closes}, args...)
	})
	if err != nil {
		return RunAppended{}, r.fail(ctx, err)
	}
	out, err := decodeLog("append_run.lua", res, statusAppended)
	if err != nil {
		return RunAppended{}, err // ErrLeaseLost, ErrNotFound, ErrAlreadyAnswered
	}
	stored, err := out.storedAll(evs, agentID)
	if err != nil {
		return RunAppended{}, err
	}
	if n := len(stored); n > 0 {
		last := stored[n-1].GetSeq()
		r.fan.await(opCtx, h, func(h *hub) bool { return h.seen >= last })
	}
	return RunAppended{Events: stored, Closed: out.closed, Work: out.workOf(opts.Lease)}, nil
}

// runEndArg is an End as append_run.lua takes it.
func runEndArg(e RunEnd) string {
	switch e {
	case RunEnds:
		return "end"
	case RunPauses:
		return "pause"
	}
	return "on"
}

// workLimit is how many events the Work of c carries at most.
func workLimit(c Claim) int { return max(c.Context, 0) + WorkEvents }

// Read implements Log.
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
	out, err := decodeLog("read.lua", res)
	return out.page, err
}

// Stat implements Log.
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

// List implements Log. It pages the agents index in id order, which the
// scripts keep with the agents (append_user.lua adds an agent with its
// first message, delete.lua removes it), and skips an entry whose agent
// Redis lost without a delete.
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

// Delete implements Log. If this replica has subscribers or cancel
// listeners of the agent, it returns once they have ended.
func (r *Redis) Delete(ctx context.Context, agentID string) error {
	opCtx, cancel, err := r.begin(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	k := r.keys.agent(agentID)
	h, deletes := r.fan.watch(k.channel)
	hc, cdeletes := r.fan.watch(k.control)
	var res *redis.Cmd
	_, err = pipelined(opCtx, r.rdb, func(p redis.Pipeliner) {
		res = scriptDelete.EvalSha(opCtx, p, []string{k.meta, k.log, k.idem, k.lease, k.run, r.keys.due(), r.keys.index(), k.calls, k.closes}, k.channel, agentID, k.control)
	})
	if err != nil {
		return r.fail(ctx, err)
	}
	if err := decodeStatus("delete.lua", res, statusDeleted); err != nil {
		return err // ErrNotFound
	}
	r.fan.await(opCtx, h, func(h *hub) bool { return h.deletes > deletes })
	r.fan.await(opCtx, hc, func(h *hub) bool { return h.deletes > cdeletes })
	return nil
}
