package bridge_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"

	"connectrpc.com/connect"
	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/agentgate/agentgate/internal/apptest"
	"google.golang.org/protobuf/proto"
)

// TestObserversSeeTheSameSequence has three sockets and a Connect Subscribe
// watch one agent while two of the sockets and a Connect client send to it
// at once: all four see the same persisted events, in seq order, each once.
func TestObserversSeeTheSameSequence(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t, nil)
	ctx := testCtx(t)
	const agentID, perSender = "shared", 10
	const total = 3 * perSender * 2 // a message and a reply per send
	cc := connectClient(t, srv)

	zero := uint64(0)
	stream, err := cc.Subscribe(ctx, connect.NewRequest(&agentv1.SubscribeRequest{AgentId: agentID, AfterSeq: &zero}))
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	sockets := []*client{
		dial(t, srv, "/ws/agent/"+agentID),
		dial(t, srv, "/ws/agent/"+agentID),
		dial(t, srv, "/ws/agent/"+agentID),
	}
	seen := make([][]*agentv1.AgentEvent, 4)
	var wg sync.WaitGroup
	for i, c := range sockets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			responses := 0
			for len(seen[i]) < total || (i < 2 && responses < perSender) {
				f, err := c.tryRead()
				if err != nil {
					t.Errorf("socket %d: %v", i, err)
					return
				}
				switch {
				case f.Event != nil:
					if ev := decodeEvent(t, f.Event); ev.GetSeq() > 0 {
						seen[i] = append(seen[i], ev)
					}
				case f.Response != nil:
					responses++
				default:
					t.Errorf("socket %d: unexpected frame %s", i, f.raw)
					return
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for len(seen[3]) < total && stream.Receive() {
			if ev := stream.Msg().GetEvent(); ev.GetSeq() > 0 {
				seen[3] = append(seen[3], ev)
			}
		}
	}()

	var senders sync.WaitGroup
	for i := range 2 {
		senders.Add(1)
		go func() {
			defer senders.Done()
			for n := range perSender {
				sockets[i].call(fmt.Sprintf("s%d-%d", i, n), "SendMessage", fmt.Sprintf(`{"text":"socket %d message %d"}`, i, n))
			}
		}()
	}
	senders.Add(1)
	go func() {
		defer senders.Done()
		for n := range perSender {
			req := &agentv1.SendMessageRequest{AgentId: agentID, Text: fmt.Sprintf("connect message %d", n)}
			if _, err := cc.SendMessage(ctx, connect.NewRequest(req)); err != nil {
				t.Errorf("SendMessage: %v", err)
				return
			}
		}
	}()
	senders.Wait()
	wg.Wait()
	if t.Failed() {
		return
	}
	for i, evs := range seen {
		if len(evs) != total {
			t.Fatalf("observer %d saw %d persisted events, want %d", i, len(evs), total)
		}
		for j, ev := range evs {
			if ev.GetSeq() != uint64(j+1) {
				t.Fatalf("observer %d: event %d has seq %d; sequence %s", i, j, ev.GetSeq(), seqs(evs))
			}
			if !proto.Equal(ev, seen[0][j]) {
				t.Fatalf("observer %d saw %v at seq %d, observer 0 saw %v", i, ev, j+1, seen[0][j])
			}
		}
	}
}

// TestResumeAfterSeq reconnects with after_seq: exactly the persisted
// events after it arrive, then the live ones.
func TestResumeAfterSeq(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t, nil)
	first := dial(t, srv, "/ws/agent/resume")
	for i := range 3 {
		id := fmt.Sprint("m", i)
		first.call(id, "SendMessage", fmt.Sprintf(`{"text":"before %d"}`, i))
		sendAndCollect(t, first, id) // seq 1 … 6
	}
	first.ws.Close()

	c := dial(t, srv, "/ws/agent/resume?after_seq=2")
	replayed := c.readEventsUntil(6)
	if got := seqs(replayed); got != "3 4 5 6" {
		t.Fatalf("replay after 2 gave seqs %q, want 3 4 5 6", got)
	}
	c.call("live", "SendMessage", `{"text":"after"}`)
	res, evs := sendAndCollect(t, c, "live")
	checkSendEvents(t, evs, res)
	if res.GetMessage().GetSeq() != 7 {
		t.Fatalf("live message has seq %d, want 7", res.GetMessage().GetSeq())
	}

	// after_seq=0 replays the whole history.
	all := dial(t, srv, "/ws/agent/resume?after_seq=0")
	if got := seqs(persisted(all.readEventsUntil(8))); got != "1 2 3 4 5 6 7 8" {
		t.Fatalf("replay after 0 gave seqs %q", got)
	}
}

// TestSubscribeFalse opens a socket without push: requests work, no event
// frame arrives, and the agent counts no connection for it.
func TestSubscribeFalse(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t, nil)
	c := dial(t, srv, "/ws/agent/quiet?subscribe=false")
	c.call("m", "SendMessage", `{"text":"hush"}`)
	if _, _, evs := c.awaitID("m"); len(evs) != 0 {
		t.Fatalf("%d event frames with subscribe=false", len(evs))
	}
	c.call("a", "GetAgent", "")
	final, _, evs := c.awaitID("a")
	if len(evs) != 0 {
		t.Fatalf("%d event frames with subscribe=false", len(evs))
	}
	info := new(agentv1.GetAgentResponse)
	decodeInto(t, final.Response, info)
	if n := info.GetAgent().GetConnections(); n != 0 {
		t.Fatalf("agent counts %d connections, want 0 for a socket without push", n)
	}
}

// TestDeletedAgentIsFollowedAgain deletes the socket's agent by frame: the
// socket stays open and pushes the agent's new history from seq 1.
func TestDeletedAgentIsFollowedAgain(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t, nil)
	c := dial(t, srv, "/ws/agent/phoenix")
	whole := dial(t, srv, "/ws/agent/phoenix?deltas=false")
	c.call("m1", "SendMessage", `{"text":"old life"}`)
	sendAndCollect(t, c, "m1")
	c.call("d", "DeleteAgent", "")
	if final, _, _ := c.awaitID("d"); final.Response == nil {
		t.Fatalf("DeleteAgent: %s", final.raw)
	}
	c.call("m2", "SendMessage", `{"text":"new life"}`)
	res, evs := sendAndCollect(t, c, "m2")
	if res.GetMessage().GetSeq() != 1 {
		t.Fatalf("first message after delete has seq %d, want 1", res.GetMessage().GetSeq())
	}
	// Skip anything pushed before the delete took effect.
	for len(evs) > 0 && evs[0].GetMessage().GetText() != "new life" {
		evs = evs[1:]
	}
	checkSendEvents(t, evs, res)

	// The socket without deltas follows the new history without them too.
	for {
		ev := decodeEvent(t, whole.read().Event)
		if ev.GetTextDelta() != nil {
			t.Fatalf("deltas=false socket got a delta: %v", ev)
		}
		if ev.GetMessage().GetText() == "echo: new life" {
			break
		}
	}
}

// A bridged Subscribe replays a history longer than the socket's send queue
// to a client that reads: the stream waits for the writer instead of
// overflowing the queue, and every event arrives.
func TestSubscribeReplayLongerThanTheSendQueue(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t, map[string]string{"WS_SEND_QUEUE": "4"})
	ctx := testCtx(t)
	cc := connectClient(t, srv)
	const messages = 60
	for i := range messages {
		if _, err := cc.SendMessage(ctx, connect.NewRequest(&agentv1.SendMessageRequest{AgentId: "long", Text: fmt.Sprintf("message %d", i)})); err != nil {
			t.Fatal(err)
		}
	}
	c := dial(t, srv, "/ws/agent/long?subscribe=false")
	c.call("s", "Subscribe", `{"afterSeq":"0"}`)
	for seq := uint64(1); seq <= 2*messages; seq++ {
		f := c.read()
		if f.ID != "s" || f.Response == nil {
			t.Fatalf("frame %d of the replay: %s", seq, f.raw)
		}
		var res agentv1.SubscribeResponse
		decodeInto(t, f.Response, &res)
		if got := res.GetEvent().GetSeq(); got != seq {
			t.Fatalf("replayed seq %d, want %d", got, seq)
		}
	}
	c.sendText(`{"id":"s","cancel":true}`)
	if f, _, _ := c.awaitID("s"); !f.End {
		t.Fatalf("after cancel: %s, want end", f.raw)
	}
}

// TestDeltasFalse: a socket with ?deltas=false, and a Connect Subscribe
// with skip_deltas, get every event of a reply but its text deltas, which a
// socket with the defaults gets.
func TestDeltasFalse(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t, nil)
	ctx := testCtx(t)
	const agentID = "whole"
	// Both sockets follow the agent once the upgrade is done.
	whole := dial(t, srv, "/ws/agent/"+agentID+"?deltas=false")
	full := dial(t, srv, "/ws/agent/"+agentID+"?deltas=true")
	zero := uint64(0)
	stream, err := connectClient(t, srv).Subscribe(ctx, connect.NewRequest(&agentv1.SubscribeRequest{AgentId: agentID, AfterSeq: &zero, SkipDeltas: true}))
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	exchange := func(id, text string, last uint64) []*agentv1.AgentEvent {
		whole.call(id, "SendMessage", `{"text":"`+text+`"}`)
		_, _, evs := whole.awaitID(id)
		if n := len(persisted(evs)); n == 0 || persisted(evs)[n-1].GetSeq() < last {
			evs = append(evs, whole.readEventsUntil(last)...)
		}
		return evs
	}
	receive := func(last uint64) (evs []*agentv1.AgentEvent) {
		for stream.Receive() {
			ev := stream.Msg().GetEvent()
			evs = append(evs, ev)
			if ev.GetSeq() >= last {
				return evs
			}
		}
		t.Fatalf("Subscribe ended: %v", stream.Err())
		return nil
	}
	// The first exchange reaches the stream by replay if not live: once it
	// has, the stream follows the agent.
	exchange("m1", "first", 2)
	full.readEventsUntil(2)
	receive(2)

	kinds := func(evs []*agentv1.AgentEvent) (deltas int, list []string) {
		for _, ev := range evs {
			switch {
			case ev.GetTextDelta() != nil:
				deltas++
			case ev.GetRunStarted() != nil:
				list = append(list, "run started")
			case ev.GetMessage() != nil:
				list = append(list, fmt.Sprint(ev.GetMessage().GetRole(), " ", ev.GetSeq()))
			}
		}
		return deltas, list
	}
	want := fmt.Sprint([]string{"ROLE_USER 3", "run started", "ROLE_ASSISTANT 4"})
	if d, got := kinds(exchange("m2", "several words to stream", 4)); d != 0 || fmt.Sprint(got) != want {
		t.Fatalf("deltas=false: %d deltas and %v, want none and %s", d, got, want)
	}
	if d, got := kinds(full.readEventsUntil(4)); d == 0 || fmt.Sprint(got) != want {
		t.Fatalf("deltas=true: %d deltas and %v, want some and %s", d, got, want)
	}
	// The stream may have replayed the first exchange before its live
	// events came: what came live of it (run started) precedes seq 3.
	streamed := receive(4)
	for len(streamed) > 0 && streamed[0].GetSeq() != 3 {
		streamed = streamed[1:]
	}
	if d, got := kinds(streamed); d != 0 || fmt.Sprint(got) != want {
		t.Fatalf("Subscribe with skip_deltas: %d deltas and %v, want none and %s", d, got, want)
	}
}

// TestBatchTrue: a socket opened with ?batch=true gets the same frames, in
// the same order, several to a WebSocket message, one a line: the replay
// of its first turn leaves in messages of up to eight lines. Without it,
// every message is one frame. Responses and errors are lines like any
// other.
func TestBatchTrue(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t, nil)
	ctx := testCtx(t)
	cc := connectClient(t, srv)
	for i := range 5 {
		if _, err := cc.SendMessage(ctx, connect.NewRequest(&agentv1.SendMessageRequest{AgentId: "lines", Text: fmt.Sprint("message ", i)})); err != nil {
			t.Fatal(err)
		}
	}
	messages := func(c *client, n int) [][]frame {
		var out [][]frame
		for seen := 0; seen < n; {
			_ = c.ws.SetReadDeadline(c.expires)
			_, data, err := c.ws.ReadMessage()
			if err != nil {
				t.Fatal(err)
			}
			var lines []frame
			for line := range strings.SplitSeq(string(data), "\n") {
				f := frame{raw: line}
				if err := json.Unmarshal([]byte(line), &f); err != nil {
					t.Fatalf("line %q of a message is not a frame: %v", line, err)
				}
				lines = append(lines, f)
			}
			out = append(out, lines)
			seen += len(lines)
		}
		return out
	}
	sizes := func(msgs [][]frame) (sizes []int, seqs []uint64) {
		for _, m := range msgs {
			sizes = append(sizes, len(m))
			for _, f := range m {
				seqs = append(seqs, decodeEvent(t, f.Event).GetSeq())
			}
		}
		return sizes, seqs
	}
	want := fmt.Sprint([]uint64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10})
	batched := dial(t, srv, "/ws/agent/lines?after_seq=0&batch=true")
	if n, s := sizes(messages(batched, 10)); fmt.Sprint(n) != "[8 2]" || fmt.Sprint(s) != want {
		t.Fatalf("batch=true: messages of %v lines, seqs %v; want [8 2] and %s", n, s, want)
	}
	plain := dial(t, srv, "/ws/agent/lines?after_seq=0")
	if n, s := sizes(messages(plain, 10)); fmt.Sprint(n) != "[1 1 1 1 1 1 1 1 1 1]" || fmt.Sprint(s) != want {
		t.Fatalf("without batch: messages of %v lines, seqs %v; want one frame each and %s", n, s, want)
	}

	batched.call("h", "GetHistory", `{"afterSeq":"8"}`)
	batched.call("bad", "NoSuchMethod", `{}`)
	got := map[string]frame{}
	for len(got) < 2 {
		for _, m := range messages(batched, 1) {
			for _, f := range m {
				if f.ID != "" {
					got[f.ID] = f
				}
			}
		}
	}
	var h agentv1.GetHistoryResponse
	decodeInto(t, got["h"].Response, &h)
	if len(h.GetEvents()) != 2 || got["bad"].Error == nil {
		t.Fatalf("GetHistory: %s; NoSuchMethod: %s", got["h"].raw, got["bad"].raw)
	}
}
