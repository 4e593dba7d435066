package engine

import (
	"context"
	"embed"
	"fmt"

	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/proto"
)

// The Redis engine's Lua scripts are the files of lua/, embedded in the
// binary. Each file's header says its KEYS, its ARGV and what it returns.
// Every script returns a flat list of name/value pairs (a list, not a Lua
// table with named keys, which Redis would drop on the way: the pairs read
// the same over RESP2 and RESP3 and on every Redis version). Most start
// with a status word; this file decodes each script's pairs into a struct,
// and its statuses into the engine's errors, in one place.
//
//go:embed lua/*.lua
var luaFiles embed.FS

// The scripts, built once from the embedded files and never changed.
var (
	scriptAppendUser = luaScript("log.lua", "append_user.lua")
	scriptAppendRun  = luaScript("log.lua", "append_run.lua")
	scriptAnswerCall = luaScript("log.lua", "answer_call.lua")
	scriptSettle     = luaScript("log.lua", "settle.lua")
	scriptRead       = luaScript("log.lua", "read.lua")
	scriptStat       = luaScript("stat.lua")
	scriptDelete     = luaScript("delete.lua")
	scriptRenew      = luaScript("renew_lease.lua")
	scriptRelease    = luaScript("release_lease.lua")
	scriptCount      = luaScript("count_subscribers.lua")
	scriptBeginRun   = luaScript("begin_run.lua")
	scriptCancelRun  = luaScript("log.lua", "cancel_run.lua")
)

// allScripts are loaded at start and again after Redis forgot them (a
// restart), since pipelined EVALSHA cannot fall back to EVAL by itself.
func allScripts() []*redis.Script {
	return []*redis.Script{
		scriptAppendUser, scriptAppendRun, scriptAnswerCall, scriptSettle, scriptRead, scriptStat,
		scriptDelete, scriptRenew, scriptRelease, scriptCount,
		scriptBeginRun, scriptCancelRun,
	}
}

// luaScript joins the named files of lua/ into one script. The names are
// fixed at build time, so a missing file is a bug that every test of the
// package finds at once.
func luaScript(names ...string) *redis.Script {
	var src []byte
	for _, name := range names {
		b, err := luaFiles.ReadFile("lua/" + name)
		if err != nil {
			panic(fmt.Sprintf("engine: embedded script %s: %v", name, err))
		}
		src = append(append(src, b...), '\n')
	}
	return redis.NewScript(string(src))
}

func loadScripts(ctx context.Context, rdb *redis.Client) error {
	_, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, s := range allScripts() {
			s.Load(ctx, p)
		}
		return nil
	})
	return err
}

// The statuses the scripts return; checkStatus turns the refusals into the
// engine's errors.
const (
	statusAppended        = "appended"
	statusDuplicate       = "duplicate"
	statusSettled         = "settled"
	statusFound           = "found"
	statusDeleted         = "deleted"
	statusRenewed         = "renewed"
	statusCancelled       = "cancelled"
	statusAnswered        = "answered"
	statusLeaseLost       = "lease_lost"
	statusNotFound        = "not_found"
	statusAlreadyAnswered = "already_answered"
	statusNoRun           = "no_run"
	// The refusals of answer_call.lua.
	statusNotPending       = "not_pending"
	statusAwaitsResult     = "awaits_result"
	statusAwaitsDecision   = "awaits_decision"
	statusApprovalMismatch = "approval_mismatch"
)

// checkStatus returns nil for one of the statuses ok, the engine's error
// for a refusal, and an error naming the script for anything else.
func checkStatus(script, status string, ok ...string) error {
	for _, s := range ok {
		if status == s {
			return nil
		}
	}
	switch status {
	case statusLeaseLost:
		return ErrLeaseLost
	case statusNotFound:
		return ErrNotFound
	case statusAlreadyAnswered:
		return ErrAlreadyAnswered
	case statusNoRun:
		return ErrNoRun
	case statusNotPending:
		return ErrNotPending
	case statusAwaitsResult:
		return ErrAwaitsResult
	case statusAwaitsDecision:
		return ErrAwaitsDecision
	case statusApprovalMismatch:
		return ErrApprovalMismatch
	}
	return fmt.Errorf("engine: redis: %s returned status %q", script, status)
}

// eachPair calls f with every name/value pair of a script's result.
func eachPair(script string, cmd *redis.Cmd, f func(name string, v any) error) error {
	vals, err := cmd.Slice()
	if err != nil {
		return err
	}
	if len(vals)%2 != 0 {
		return fmt.Errorf("engine: redis: %s returned %d values, not name/value pairs", script, len(vals))
	}
	for i := 0; i < len(vals); i += 2 {
		name, ok := vals[i].(string)
		if !ok {
			return fmt.Errorf("engine: redis: %s returned a %T where a name belongs", script, vals[i])
		}
		if err := f(name, vals[i+1]); err != nil {
			return fmt.Errorf("engine: redis: %s returned a bad %s: %w", script, name, err)
		}
	}
	return nil
}

// logResult is what the scripts of the log return (append_user.lua,
// append_run.lua, answer_call.lua, settle.lua, read.lua): a status (none
// for read.lua); a duplicate's original event, or the seq (seqs) of the
// events stored; whether a pause was closed at once, or a run resumed;
// whether the caller's lease was kept with work ("taken") or "released";
// and a page of the log (see page in lua/log.lua).
type logResult struct {
	status  string
	event   *agentv1.AgentEvent
	seq     uint64
	seqs    []uint64
	closed  bool
	resumed bool
	work    string
	begun   bool
	page    Page
}

// decodeLog decodes a log script's result, and its status: nil for one
// of ok (or no status, for read.lua), the engine's error for a refusal
// (ErrLeaseLost, ErrNotFound, ErrAlreadyAnswered).
func decodeLog(script string, cmd *redis.Cmd, ok ...string) (logResult, error) {
	return decodeLogKnown(script, cmd, nil, ok...)
}

// decodeLogKnown is decodeLog for a caller that has one of the page's
// events already: known, given the result, returns it (nil for none),
// and the page holds it rather than a decoded copy of its stored bytes.
// An append that takes the lease gets its own message back in the
// Work's page, and so decodes nothing.
func decodeLogKnown(script string, cmd *redis.Cmd, known func(logResult) *agentv1.AgentEvent, ok ...string) (logResult, error) {
	var res logResult
	var events any
	err := eachPair(script, cmd, func(name string, v any) error {
		var err error
		switch name {
		case "status":
			res.status, err = asString(v)
		case "event":
			res.event, err = decodeEvent(v)
		case "seq":
			res.seq, err = asUint(v)
		case "seqs":
			res.seqs, err = asList(v, asUint)
		case "closed":
			var n uint64
			n, err = asUint(v)
			res.closed = n == 1
		case "resumed":
			var n uint64
			n, err = asUint(v)
			res.resumed = n == 1
		case "work":
			res.work, err = asString(v)
		case "begun":
			var n uint64
			n, err = asUint(v)
			res.begun = n == 1
		case "first":
			res.page.FirstSeq, err = asUint(v)
		case "last":
			res.page.LastSeq, err = asUint(v)
		case "answered":
			res.page.Answered, err = asUint(v)
		case "resume":
			res.page.Resume, err = asUint(v)
		case "epoch":
			res.page.Epoch, err = asString(v)
		case "events":
			events = v
		}
		return err
	})
	if err != nil {
		return logResult{}, err
	}
	if len(ok) > 0 {
		if err := checkStatus(script, res.status, ok...); err != nil {
			return logResult{}, err
		}
	}
	if events != nil {
		var k *agentv1.AgentEvent
		if known != nil {
			k = known(res)
		}
		if res.page.Events, err = decodeStoredEvents(events, k); err != nil {
			return logResult{}, fmt.Errorf("engine: redis: %s returned bad events: %w", script, err)
		}
	}
	return res, nil
}

// decodeStoredEvents decodes a list of stored events; one whose seq is
// known's is known itself. The stored bytes begin with the seq (see
// lua/log.lua), read without decoding the rest.
func decodeStoredEvents(v any, known *agentv1.AgentEvent) ([]*agentv1.AgentEvent, error) {
	if known == nil {
		return decodeEvents(v)
	}
	return asList(v, func(v any) (*agentv1.AgentEvent, error) {
		if s, ok := v.(string); ok && len(s) > 1 && s[0] == seqTag {
			if seq, n := uvarint(s[1:]); n > 0 && seq == known.GetSeq() {
				return known, nil
			}
		}
		return decodeEvent(v)
	})
}

// seqTag is the tag byte an append script writes the seq with, first in
// the stored bytes: field 1, varint (see encodeForAppend).
const seqTag = 0x08

// stored is the event an append script stored: ev with the agent id, and
// the seq and epoch the script gave it, as the stored bytes decode (see
// encodeForAppend), made without decoding them; a duplicate's original as
// the script returned it.
func (res logResult) stored(ev *agentv1.AgentEvent, agentID string) *agentv1.AgentEvent {
	if res.event != nil {
		return res.event
	}
	c := cloneEvent(ev)
	c.AgentId, c.Seq, c.Epoch = agentID, res.seq, res.page.Epoch
	return c
}

// storedAll is evs as an append script stored them, in order (see
// stored).
func (res logResult) storedAll(evs []*agentv1.AgentEvent, agentID string) ([]*agentv1.AgentEvent, error) {
	if len(res.seqs) != len(evs) {
		return nil, fmt.Errorf("engine: redis: %d seqs for %d events appended", len(res.seqs), len(evs))
	}
	out := make([]*agentv1.AgentEvent, len(evs))
	for i, ev := range evs {
		c := cloneEvent(ev)
		c.AgentId, c.Seq, c.Epoch = agentID, res.seqs[i], res.page.Epoch
		out[i] = c
	}
	return out, nil
}

// workOf is the Work a log script handed over with lease, nil if none.
func (res logResult) workOf(lease Lease) *Work {
	if res.work != "taken" {
		return nil
	}
	return &Work{Lease: lease, Page: res.page}
}

// statResult is what stat.lua returns of an agent that exists.
type statResult struct {
	last, answered uint64
	created        int64 // Unix nanoseconds, 0 if unknown
	active         int64
	length         uint64   // of the retained log
	subscribers    []string // the subs hash: replica epoch, count, ...
	epoch          string
}

// decodeStat decodes what stat.lua returns; an unknown agent is
// ErrNotFound.
func decodeStat(cmd *redis.Cmd) (statResult, error) {
	var res statResult
	var status string
	err := eachPair("stat.lua", cmd, func(name string, v any) error {
		var err error
		switch name {
		case "status":
			status, err = asString(v)
		case "last":
			res.last, err = asUint(v)
		case "answered":
			res.answered, err = asUint(v)
		case "created":
			res.created, err = asNanos(v)
		case "active":
			res.active, err = asNanos(v)
		case "length":
			res.length, err = asUint(v)
		case "subscribers":
			res.subscribers, err = asStrings(v)
		case "epoch":
			res.epoch, err = asString(v)
		}
		return err
	})
	if err != nil {
		return statResult{}, err
	}
	return res, checkStatus("stat.lua", status, statusFound)
}

// decodeStatus decodes the result of a script that returns a status only
// (delete.lua, renew_lease.lua): nil for
// one of ok, the engine's error for a refusal.
func decodeStatus(script string, cmd *redis.Cmd, ok ...string) error {
	var status string
	err := eachPair(script, cmd, func(name string, v any) error {
		var err error
		if name == "status" {
			status, err = asString(v)
		}
		return err
	})
	if err != nil {
		return err
	}
	return checkStatus(script, status, ok...)
}

// decodeCancel decodes what cancel_run.lua returns: the id of the run
// asked to stop (or closed), or ErrNoRun.
func decodeCancel(cmd *redis.Cmd) (string, error) {
	var status, runID string
	err := eachPair("cancel_run.lua", cmd, func(name string, v any) error {
		var err error
		switch name {
		case "status":
			status, err = asString(v)
		case "run_id":
			runID, err = asString(v)
		}
		return err
	})
	if err != nil {
		return "", err
	}
	return runID, checkStatus("cancel_run.lua", status, statusCancelled)
}

// encodeForAppend encodes ev as the append scripts store it, but without
// its seq and epoch, which they write in front of it (see lua/log.lua):
// the seq as field 1, a varint (tag byte 0x08), the epoch as field 4,
// length-delimited (tag byte 0x22). So the stored bytes decode with
// proto.Unmarshal to the event with both: protobuf allows fields in any
// order, and these two are not in the body, which proto3 leaves zero
// fields out of. TestAppendScriptsEncodeSeqAndEpoch checks the field
// numbers against the descriptor and decodes what the scripts store. The
// caller's event is not modified.
func encodeForAppend(ev *agentv1.AgentEvent, agentID string) ([]byte, error) {
	c := cloneEvent(ev)
	c.Seq = 0
	c.Epoch = ""
	c.AgentId = agentID
	b, err := proto.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("engine: encode event: %w", err)
	}
	return b, nil
}
