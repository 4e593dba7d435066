package engine

import (
	"io/fs"
	"strconv"
	"strings"
	"testing"
	"time"

	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/agentgate/agentgate/internal/redistest"
	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// The append scripts write an event's seq and epoch in front of the body
// that encodeForAppend made, as protobuf fields 1 (varint) and 4
// (length-delimited): the descriptor must agree, and what the scripts
// store must decode with proto.Unmarshal to the event with its seq and
// epoch, for seqs and epochs whose varints take one byte or several.
func TestAppendScriptsEncodeSeqAndEpoch(t *testing.T) {
	fields := (&agentv1.AgentEvent{}).ProtoReflect().Descriptor().Fields()
	for _, f := range []struct {
		name   protoreflect.Name
		number protoreflect.FieldNumber
		kind   protoreflect.Kind
	}{{"seq", 1, protoreflect.Uint64Kind}, {"epoch", 4, protoreflect.StringKind}} {
		fd := fields.ByName(f.name)
		if fd == nil || fd.Number() != f.number || fd.Kind() != f.kind {
			t.Fatalf("AgentEvent.%s is %v; lua/log.lua writes it as field %d of kind %v", f.name, fd, f.number, f.kind)
		}
	}

	srv := redistest.Start(t)
	rdb := newTestClient(t, srv)
	ctx := t.Context()
	ev := &agentv1.AgentEvent{
		AgentId:    "ignored: the engine sets it",
		Seq:        99, // ignored too: the script assigns it
		Epoch:      "ignored",
		CreateTime: timestamppb.New(time.Unix(1700000000, 123)),
		RunSeq:     3,
		Kind: &agentv1.AgentEvent_Message{Message: &agentv1.Message{
			Role: agentv1.Role_ROLE_USER, Text: "héllo, wörld", RunId: "r1",
		}},
	}
	cases := []struct {
		seq   uint64 // the seq the script assigns
		epoch string // the log's epoch
	}{
		{1, "e"},
		{127, strings.Repeat("x", 127)},
		{128, strings.Repeat("y", 128)},
		{300, NewEpoch()},
		{1 << 40, strings.Repeat("z", 300)},
	}
	for i, c := range cases {
		agentID := "enc" + strconv.Itoa(i)
		k := keyspace{prefix: "test:"}.agent(agentID)
		if c.seq > 1 {
			// An agent whose log is older: the next seq and its epoch.
			if err := rdb.HSet(ctx, k.meta, "last", c.seq-1, "epoch", c.epoch).Err(); err != nil {
				t.Fatal(err)
			}
		}
		fresh := c.epoch // used only by the agent that has none yet
		if c.seq > 1 {
			fresh = "not used"
		}
		want := cloneEvent(ev)
		want.AgentId, want.Seq, want.Epoch = agentID, c.seq, c.epoch

		body, err := encodeForAppend(ev, agentID)
		if err != nil {
			t.Fatal(err)
		}
		due := keyspace{prefix: "test:"}.due()
		res := scriptAppendUser.Run(ctx, rdb, []string{k.meta, k.log, k.idem, k.lease, due, "test:agents", k.calls, k.closes, k.run},
			body, "", 10, "1", k.channel, fresh, agentID, "", 0, 0, WorkEvents, "", "", "")
		got, err := decodeLog("append_user.lua", res, statusAppended)
		if err != nil {
			t.Fatalf("seq %d: append_user.lua: %v", c.seq, err)
		}
		// What the engine returns without decoding the stored bytes is
		// what they decode to.
		stored := unmarshalNewest(t, rdb, k.log)
		if returned := got.stored(ev, agentID); !proto.Equal(stored, want) || !proto.Equal(returned, want) {
			t.Fatalf("seq %d, epoch of %d bytes: stored %v, returned %v, want %v", c.seq, len(c.epoch), stored, returned, want)
		}
		// The stored bytes begin with the seq, which decodeStoredEvents
		// reads without decoding the rest.
		raw, err := rdb.LIndex(ctx, k.log, -1).Result()
		if err != nil {
			t.Fatal(err)
		}
		if seq, n := uvarint(raw[1:]); raw[0] != seqTag || n == 0 || seq != c.seq {
			t.Fatalf("seq %d: stored bytes begin % x", c.seq, raw[:min(len(raw), 12)])
		}

		// append_run.lua, under a lease, stores the next seq likewise.
		if err := rdb.Set(ctx, k.lease, "token", time.Minute).Err(); err != nil {
			t.Fatal(err)
		}
		res = scriptAppendRun.Run(ctx, rdb, []string{k.meta, k.log, k.lease, k.run, due, k.calls, k.closes},
			"token", strconv.FormatUint(c.seq, 10), "end", 10, "2", k.channel, "not used", agentID, 0, 0, WorkEvents, "", 1, body)
		got, err = decodeLog("append_run.lua", res, statusAppended)
		if err != nil {
			t.Fatalf("seq %d: append_run.lua: %v", c.seq, err)
		}
		want.Seq++
		all, err := got.storedAll([]*agentv1.AgentEvent{ev}, agentID)
		if stored := unmarshalNewest(t, rdb, k.log); err != nil || !proto.Equal(stored, want) || !proto.Equal(all[0], want) {
			t.Fatalf("reply after seq %d: stored %v, returned %v (%v), want %v", c.seq, stored, all, err, want)
		}
	}
}

// append_user.lua assembles the run_started it begins a run with from
// encodeBegin's pieces, the message's seq and the log's epoch: the run's
// progress holds what begun makes without decoding, for seqs and epochs
// whose varints take one byte or several.
func TestAppendUserEncodesTheRunStart(t *testing.T) {
	srv := redistest.Start(t)
	rdb := newTestClient(t, srv)
	ctx := t.Context()
	begin := &agentv1.AgentEvent{
		AgentId: "ignored", Seq: 5, Epoch: "ignored", CreateTime: timestamppb.New(time.Unix(1700000000, 456)), RunSeq: 1,
		Kind: &agentv1.AgentEvent_RunStarted{RunStarted: &agentv1.RunStarted{RunId: "run-1", MessageId: "msg-1", ReplyToSeq: 99}},
	}
	for i, c := range []struct {
		seq   uint64
		epoch string
	}{{1, "e"}, {200, strings.Repeat("y", 130)}} {
		agentID := "begin" + strconv.Itoa(i)
		k := keyspace{prefix: "test:"}.agent(agentID)
		if c.seq > 1 {
			if err := rdb.HSet(ctx, k.meta, "last", c.seq-1, "answered", c.seq-1, "epoch", c.epoch).Err(); err != nil {
				t.Fatal(err)
			}
		}
		body, err := encodeForAppend(userEventForTest(), agentID)
		if err != nil {
			t.Fatal(err)
		}
		runID, head, inner, err := encodeBegin(begin, agentID)
		if err != nil {
			t.Fatal(err)
		}
		res := scriptAppendUser.Run(ctx, rdb, []string{k.meta, k.log, k.idem, k.lease, "test:due", "test:agents", k.calls, k.closes, k.run},
			body, "", 10, "1", k.channel, c.epoch, agentID, "token", 60000, 0, WorkEvents, runID, head, inner)
		got, err := decodeLog("append_user.lua", res, statusAppended)
		if err != nil || !got.begun {
			t.Fatalf("seq %d: begun %v, %v; want the run begun", c.seq, got.begun, err)
		}
		progress, err := rdb.LRange(ctx, k.run, 0, -1).Result()
		if err != nil || len(progress) != 2 || progress[0] != "run-1" {
			t.Fatalf("seq %d: progress %q, %v", c.seq, progress, err)
		}
		stored := &agentv1.AgentEvent{}
		if err := proto.Unmarshal([]byte(progress[1]), stored); err != nil {
			t.Fatal(err)
		}
		want := begun(begin, got.stored(userEventForTest(), agentID))
		if !proto.Equal(stored, want) || want.GetRunStarted().GetReplyToSeq() != c.seq || want.GetEpoch() != c.epoch {
			t.Fatalf("seq %d: stored %v, want %v", c.seq, stored, want)
		}
		if begin.GetRunStarted().GetReplyToSeq() != 99 || begin.GetEpoch() != "ignored" {
			t.Fatalf("begun modified its begin: %v", begin)
		}
	}
}

func userEventForTest() *agentv1.AgentEvent {
	return &agentv1.AgentEvent{Kind: &agentv1.AgentEvent_Message{Message: &agentv1.Message{Role: agentv1.Role_ROLE_USER, Text: "hi"}}}
}

// unmarshalNewest decodes the newest element of a log with
// proto.Unmarshal, as any protobuf reader would.
func unmarshalNewest(t *testing.T, rdb *redis.Client, log string) *agentv1.AgentEvent {
	t.Helper()
	raw, err := rdb.LIndex(t.Context(), log, -1).Bytes()
	if err != nil {
		t.Fatal(err)
	}
	ev := &agentv1.AgentEvent{}
	if err := proto.Unmarshal(raw, ev); err != nil {
		t.Fatalf("proto.Unmarshal of the stored event: %v", err)
	}
	return ev
}

// Every file of lua/ is a script the engine uses, and its header says what
// the script takes and returns.
func TestLuaFilesAreUsedAndDocumented(t *testing.T) {
	files, err := fs.Glob(luaFiles, "lua/*.lua")
	if err != nil || len(files) == 0 {
		t.Fatalf("no embedded scripts: %v", err)
	}
	for _, path := range files {
		name := strings.TrimPrefix(path, "lua/")
		src, err := luaFiles.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(string(src), "-- "+name+":") && !strings.HasPrefix(string(src), "-- "+name+" (") {
			t.Errorf("%s does not start with a header comment naming it", name)
		}
		used := false
		for _, s := range allScripts() {
			h := s.Hash()
			used = used || h == luaScript(name).Hash() || h == luaScript("log.lua", name).Hash()
		}
		if !used && name != "log.lua" {
			t.Errorf("%s is in no script of allScripts", name)
		}
		if name == "log.lua" {
			continue // a part of the log's scripts, with their KEYS and ARGV
		}
		for _, part := range []string{"-- KEYS[1]", "Returns"} {
			if !strings.Contains(string(src), part) {
				t.Errorf("%s: the header does not say %q", name, part)
			}
		}
	}
}
