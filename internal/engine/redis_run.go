package engine

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"

	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/proto"
)

// The Redis engine's Runs: the progress of the run being written, and
// CancelRun.

// PublishRun implements Runs. It queues the event for the next pipeline
// and returns without waiting for Redis; the event reaches subscribers
// after every event appended or published before it. If Redis cannot take
// it, it is lost, as an ephemeral event may be.
// A run_started or step_started goes through a script that checks the
// lease and begins the progress anew; the run's later events are two plain
// commands, RPUSHX to the progress (which only exists while a run does)
// and PUBLISH, since a Lua script per delta cost
// Redis ten times a PUBLISH. A text or argument delta is pushed as a
// compact record, merged with the ones that follow it in the same pipeline
// (see redis_run.go), so that the list grows by the bytes written, not by
// an event per delta. An event or record of another run that lands in the
// progress (a writer whose lease was taken over) is dropped by Run, which
// returns only those of the run the progress began with.
func (r *Redis) PublishRun(ctx context.Context, lease Lease, ev *agentv1.AgentEvent) error {
	k := r.keys.agent(lease.AgentID)
	if BeginsStep(ev) {
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

// Run implements Runs. One LRANGE reads the progress as it stands, so
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

// CancelRun implements Runs: the lease holder hears the request on the
// agent's control channel, through its replier's SubscribeCancels; a paused run is
// closed by the script itself.
func (r *Redis) CancelRun(ctx context.Context, agentID, runID string) (string, error) {
	opCtx, cancel, err := r.begin(ctx)
	if err != nil {
		return "", err
	}
	defer cancel()
	k := r.keys.agent(agentID)
	var res *redis.Cmd
	err = r.pipe.do(opCtx, func(p redis.Pipeliner) {
		res = scriptCancelRun.EvalSha(opCtx, p, []string{k.run, k.meta, k.log, k.calls, k.closes},
			runID, k.channel, r.cfg.HistoryLimit, r.now(), NewEpoch(), k.control)
	})
	if err != nil {
		return "", r.fail(ctx, err)
	}
	return decodeCancel(res) // or ErrNoRun
}

// The run's progress in Redis is a list (agentKeys.run): the run id, then
// its events as published, with one exception that keeps the list small
// whatever the upstream streams: a text delta or a tool call's argument
// delta is stored as a compact record, not as an event, and the records of
// one pipeline are merged into one (see pipe.exec). Run folds the records
// back into one text_delta and one tool_call_args per call.
//
// A record starts with a byte that no encoded event starts with (a
// protobuf tag with field number 0): recText or recArgs. Then come the
// run's tag (runTag, 4 bytes), the run_seq of the newest delta in it (a
// uvarint), for arguments the tool call id (a uvarint length, then the id),
// and the deltas' bytes to the end. The tag tells a stale writer's records
// (a replica whose lease was taken over, still streaming another run) from
// the active run's, as the run id does for events.
const (
	recText = 0x00
	recArgs = 0x01
)

// runTag is the short stand-in for a run id in its records.
func runTag(runID string) uint32 {
	h := fnv.New32a()
	_, _ = h.Write([]byte(runID))
	return h.Sum32()
}

// foldPost is a delta posted as a record, which the pipe may merge with
// the records that follow it in the same pipeline (see pipe.exec).
type foldPost struct {
	key  string // the run's progress list
	head []byte // kind, tag and, for arguments, the tool call id
	seq  uint64 // run_seq of the newest delta
	data []byte // the deltas' bytes
	// merged is set on a post whose data went into an earlier one.
	merged bool
}

// newFoldPost returns the record of ev if it is a delta, or nil.
func newFoldPost(key string, ev *agentv1.AgentEvent) *foldPost {
	var head []byte
	var data string
	switch k := ev.GetKind().(type) {
	case *agentv1.AgentEvent_TextDelta:
		head = binary.BigEndian.AppendUint32([]byte{recText}, runTag(k.TextDelta.GetRunId()))
		data = k.TextDelta.GetDelta()
	case *agentv1.AgentEvent_ToolCallArgs:
		head = binary.BigEndian.AppendUint32([]byte{recArgs}, runTag(k.ToolCallArgs.GetRunId()))
		id := k.ToolCallArgs.GetToolCallId()
		head = append(binary.AppendUvarint(head, uint64(len(id))), id...)
		data = k.ToolCallArgs.GetDelta()
	default:
		return nil
	}
	return &foldPost{key: key, head: head, seq: ev.GetRunSeq(), data: []byte(data)}
}

// mergeable reports whether next, of the same list, can be folded into f:
// the same kind of record of the same run (and tool call).
func (f *foldPost) mergeable(next *foldPost) bool {
	return string(f.head) == string(next.head)
}

// record is the list element of f.
func (f *foldPost) record() []byte {
	b := make([]byte, 0, len(f.head)+binary.MaxVarintLen64+len(f.data))
	b = append(b, f.head[0])
	b = append(b, f.head[1:5]...)
	b = binary.AppendUvarint(b, f.seq)
	b = append(b, f.head[5:]...)
	return append(b, f.data...)
}

// foldRecords merges the fold posts of one pipeline: a post whose record
// can go into an earlier fold post's of the same list is marked merged,
// and the earlier one takes its data and run_seq. A call that is not a
// fold post ends every merge, so that a record never moves past a command
// of its agent that was queued after it: a reader sees every delta at
// least as soon as it would have unmerged, and the run_seq the record
// carries says how far it goes. (Fold posts of other agents in between
// do not matter: ordering is per agent.)
func foldRecords(batch []*pipeCall) {
	var open map[string]*foldPost // by list key
	for _, c := range batch {
		f := c.fold
		if f == nil {
			clear(open)
			continue
		}
		if prev := open[f.key]; prev != nil && prev.mergeable(f) {
			prev.data = append(prev.data, f.data...)
			prev.seq = f.seq
			f.merged = true
			continue
		}
		if open == nil {
			open = make(map[string]*foldPost)
		}
		open[f.key] = f
	}
}

// runFromList turns the run's progress list into what Run returns: the
// run_started, the text folded into one text_delta, then the tool call
// events with each call's arguments folded into one tool_call_args after
// its start. Events and records of another run than the list's are left
// out.
func runFromList(agentID string, vals []string) ([]*agentv1.AgentEvent, error) {
	if len(vals) < 2 {
		return nil, nil
	}
	runID := vals[0]
	tag := runTag(runID)
	var (
		started *agentv1.AgentEvent
		text    strings.Builder
		textSeq uint64
		tools   []*agentv1.AgentEvent
		args    = map[string]*redisArgs{}
		order   []*redisArgs
	)
	for _, v := range vals[1:] {
		if v != "" && (v[0] == recText || v[0] == recArgs) {
			r, err := parseRecord(v)
			if err != nil {
				return nil, err
			}
			if r.tag != tag {
				continue
			}
			if v[0] == recText {
				text.WriteString(r.data)
				textSeq = r.seq
				continue
			}
			a := args[r.id]
			if a == nil {
				a = &redisArgs{id: r.id, at: -1}
				args[r.id] = a
				order = append(order, a)
			}
			a.text.WriteString(r.data)
			a.seq = r.seq
			continue
		}
		ev, err := decodeEvent(v)
		if err != nil {
			return nil, fmt.Errorf("engine: redis: run progress: %w", err)
		}
		if RunID(ev) != runID {
			continue
		}
		if BeginsStep(ev) {
			started = ev
			continue
		}
		tools = append(tools, ev)
	}
	if started == nil {
		return nil, nil
	}
	out := []*agentv1.AgentEvent{started}
	msgID := started.GetRunStarted().GetMessageId()
	if s := started.GetStepStarted(); s != nil {
		msgID = s.GetMessageId()
	}
	if textSeq != 0 {
		out = append(out, &agentv1.AgentEvent{AgentId: agentID, CreateTime: started.GetCreateTime(), Epoch: started.GetEpoch(), RunSeq: textSeq,
			Kind: &agentv1.AgentEvent_TextDelta{TextDelta: &agentv1.TextDelta{RunId: runID, MessageId: msgID, Delta: text.String()}}})
	}
	return append(out, placeArgs(agentID, runID, started, tools, order)...), nil
}

// redisArgs is one tool call's arguments folded from records.
type redisArgs struct {
	id   string
	at   int
	text strings.Builder
	seq  uint64
}

// placeArgs inserts each call's folded arguments into tools, right after
// the call's tool_call_start, or at the end for a call that has none.
func placeArgs(agentID, runID string, started *agentv1.AgentEvent, tools []*agentv1.AgentEvent, args []*redisArgs) []*agentv1.AgentEvent {
	if len(args) == 0 {
		return tools
	}
	byID := map[string]*redisArgs{}
	for _, a := range args {
		byID[a.id] = a
	}
	argsEvent := func(a *redisArgs) *agentv1.AgentEvent {
		return &agentv1.AgentEvent{AgentId: agentID, CreateTime: started.GetCreateTime(), Epoch: started.GetEpoch(), RunSeq: a.seq,
			Kind: &agentv1.AgentEvent_ToolCallArgs{ToolCallArgs: &agentv1.ToolCallArgs{RunId: runID, ToolCallId: a.id, Delta: a.text.String()}}}
	}
	out := make([]*agentv1.AgentEvent, 0, len(tools)+len(args))
	for _, ev := range tools {
		out = append(out, ev)
		if s := ev.GetToolCallStart(); s != nil {
			if a := byID[s.GetToolCallId()]; a != nil {
				out = append(out, argsEvent(a))
				delete(byID, a.id)
			}
		}
	}
	for _, a := range args {
		if byID[a.id] != nil {
			out = append(out, argsEvent(a))
		}
	}
	return out
}

type record struct {
	tag  uint32
	seq  uint64
	id   string
	data string
}

var errBadRecord = errors.New("engine: redis: malformed run record")

func parseRecord(v string) (record, error) {
	b := []byte(v)
	if len(b) < 5 {
		return record{}, errBadRecord
	}
	r := record{tag: binary.BigEndian.Uint32(b[1:5])}
	rest := b[5:]
	seq, n := binary.Uvarint(rest)
	if n <= 0 {
		return record{}, errBadRecord
	}
	r.seq, rest = seq, rest[n:]
	if b[0] == recArgs {
		l, n := binary.Uvarint(rest)
		if n <= 0 || uint64(len(rest)-n) < l {
			return record{}, fmt.Errorf("%w: tool call id", errBadRecord)
		}
		r.id, rest = string(rest[n:n+int(l)]), rest[n+int(l):]
	}
	r.data = string(rest)
	return r, nil
}

// postFold queues f's record (unless the pipe merges it into the one
// before) and send, the delta's publish, for the next pipeline.
func (r *Redis) postFold(f *foldPost, send func(p redis.Pipeliner)) error {
	return r.pipe.postCall(&pipeCall{queue: send, fold: f})
}
