package engine

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"

	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/redis/go-redis/v9"
)

// The Redis engine's paused runs: what a run waits for is the calls hash,
// its closing events the closes hash (see keyspace), written by
// append_run.lua, answered by answer_call.lua, closed by append_user.lua
// and cancel_run.lua.

// pendingArgs appends to args what append_run.lua takes of a pause: the
// number of pending answers, then for each its key, its PendingCall as
// JSON and its two closing results (see closeBody), then the closing
// message.
func pendingArgs(args []any, agentID string, opts RunAppend) ([]any, error) {
	args = append(args, len(opts.Pending))
	for _, p := range opts.Pending {
		call, err := json.Marshal(p.Call)
		if err != nil {
			return nil, fmt.Errorf("engine: encode pending call: %w", err)
		}
		moved, err := closeBody(p.MovedOn, agentID)
		if err != nil {
			return nil, err
		}
		cancelled, err := closeBody(p.Cancelled, agentID)
		if err != nil {
			return nil, err
		}
		args = append(args, p.Key, call, moved, cancelled)
	}
	closing, err := closeBody(opts.Closing, agentID)
	if err != nil {
		return nil, err
	}
	return append(args, closing), nil
}

// closeBody is a closing event as closes keeps it: encoded for append
// without its create_time, which the closing stamps (see close in
// lua/log.lua); nothing for nil.
func closeBody(ev *agentv1.AgentEvent, agentID string) ([]byte, error) {
	if ev == nil {
		return []byte{}, nil
	}
	c := cloneEvent(ev)
	c.CreateTime = nil
	return encodeForAppend(c, agentID)
}

// PendingCall implements Runs: one HGET.
func (r *Redis) PendingCall(ctx context.Context, agentID, key string) (PendingCall, bool, error) {
	opCtx, cancel, err := r.begin(ctx)
	if err != nil {
		return PendingCall{}, false, err
	}
	defer cancel()
	var res *redis.StringCmd
	err = r.pipe.do(opCtx, func(p redis.Pipeliner) {
		res = p.HGet(opCtx, r.keys.agent(agentID).calls, key)
	})
	if err != nil {
		return PendingCall{}, false, r.fail(ctx, err)
	}
	v, err := res.Result()
	if errors.Is(err, redis.Nil) {
		return PendingCall{}, false, nil
	}
	if err != nil {
		return PendingCall{}, false, r.fail(ctx, err)
	}
	var pc PendingCall
	if err := json.Unmarshal([]byte(v), &pc); err != nil {
		return PendingCall{}, false, fmt.Errorf("engine: redis: pending call %q: %w", key, err)
	}
	return pc, true, nil
}

// AnswerCall implements Runs, in one script (answer_call.lua). Like the
// appends, it returns once this replica's subscribers have the events.
func (r *Redis) AnswerCall(ctx context.Context, agentID string, a Answer) (Answered, error) {
	opCtx, cancel, err := r.begin(ctx)
	if err != nil {
		return Answered{}, err
	}
	defer cancel()
	k := r.keys.agent(agentID)
	lease := Lease{AgentID: agentID}
	if a.Claim.TTL > 0 {
		lease.Token = rand.Text()
	}
	args := []any{a.Key, string(a.Kind), a.ApprovalID, r.cfg.HistoryLimit, r.now(), k.channel, NewEpoch(),
		agentID, lease.Token, leaseTTL(a.Claim.TTL).Milliseconds(), a.Claim.Context, workLimit(a.Claim), len(a.Events)}
	for _, ev := range a.Events {
		body, err := encodeForAppend(ev, agentID)
		if err != nil {
			return Answered{}, err
		}
		args = append(args, body)
	}
	h, _ := r.fan.watch(k.channel)
	var res *redis.Cmd
	err = r.pipe.do(opCtx, func(p redis.Pipeliner) {
		res = scriptAnswerCall.EvalSha(opCtx, p, []string{k.meta, k.log, k.calls, k.closes, k.lease, r.keys.due()}, args...)
	})
	if err != nil {
		return Answered{}, r.fail(ctx, err)
	}
	out, err := decodeLog("answer_call.lua", res, statusAnswered)
	if err != nil {
		return Answered{}, err // ErrNotPending, ErrAwaitsResult, ErrAwaitsDecision, ErrApprovalMismatch
	}
	stored, err := out.storedAll(a.Events, agentID)
	if err != nil {
		return Answered{}, err
	}
	if n := len(stored); n > 0 {
		last := stored[n-1].GetSeq()
		r.fan.await(opCtx, h, func(h *hub) bool { return h.seen >= last })
	}
	return Answered{Events: stored, Resumed: out.resumed, Work: out.workOf(lease)}, nil
}
