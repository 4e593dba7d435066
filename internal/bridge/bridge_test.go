package bridge_test

import (
	"strings"
	"testing"

	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/agentgate/agentgate/internal/apptest"
)

// checkSendEvents checks the events a socket receives for one SendMessage:
// the user message, run_started, the deltas spelling the reply, the reply.
func checkSendEvents(t *testing.T, evs []*agentv1.AgentEvent, res *agentv1.SendMessageResponse) {
	t.Helper()
	if len(evs) < 4 {
		t.Fatalf("%d events, want at least 4: %v", len(evs), evs)
	}
	user, reply := res.GetMessage(), res.GetReply()
	if evs[0].GetSeq() != user.GetSeq() || evs[0].GetMessage().GetText() != user.GetMessage().GetText() {
		t.Fatalf("first event %v, want the user message %v", evs[0], user)
	}
	if evs[1].GetRunStarted().GetReplyToSeq() != user.GetSeq() {
		t.Fatalf("second event %v, want run_started for seq %d", evs[1], user.GetSeq())
	}
	var text strings.Builder
	for _, ev := range evs[2 : len(evs)-1] {
		if ev.GetTextDelta() == nil || ev.GetSeq() != 0 {
			t.Fatalf("event %v between run_started and reply, want only deltas", ev)
		}
		text.WriteString(ev.GetTextDelta().GetDelta())
	}
	last := evs[len(evs)-1]
	if last.GetSeq() != reply.GetSeq() || last.GetMessage().GetText() != reply.GetMessage().GetText() {
		t.Fatalf("last event %v, want the reply %v", last, reply)
	}
	if text.String() != reply.GetMessage().GetText() {
		t.Fatalf("deltas spell %q, want the reply %q", text.String(), reply.GetMessage().GetText())
	}
}

// sendAndCollect waits for the response to request id and for the events up
// to its reply.
func sendAndCollect(t *testing.T, c *client, id string) (*agentv1.SendMessageResponse, []*agentv1.AgentEvent) {
	t.Helper()
	final, _, evs := c.awaitID(id)
	if final.Error != nil || final.Response == nil {
		t.Fatalf("frame %s, want a response", final.raw)
	}
	res := new(agentv1.SendMessageResponse)
	decodeInto(t, final.Response, res)
	if last := len(evs); last == 0 || evs[last-1].GetSeq() < res.GetReply().GetSeq() {
		evs = append(evs, c.readEventsUntil(res.GetReply().GetSeq())...)
	}
	return res, evs
}

func TestSendMessageFrame(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t, nil)
	c := dial(t, srv, "/ws/agent/frames")
	c.call("c1", "SendMessage", `{"text":"hello there"}`)
	res, evs := sendAndCollect(t, c, "c1")
	if got := res.GetReply().GetMessage().GetText(); got != "echo: hello there" {
		t.Fatalf("reply %q, want %q", got, "echo: hello there")
	}
	if res.GetMessage().GetSeq() != 1 || res.GetReply().GetSeq() != 2 {
		t.Fatalf("seqs %d, %d; want 1, 2", res.GetMessage().GetSeq(), res.GetReply().GetSeq())
	}
	checkSendEvents(t, evs, res)
}

func TestTextShorthand(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t, nil)
	c := dial(t, srv, "/ws/agent/shorthand")
	c.sendText("just some words")
	res, evs := sendAndCollect(t, c, "")
	if got := res.GetReply().GetMessage().GetText(); got != "echo: just some words" {
		t.Fatalf("reply %q, want %q", got, "echo: just some words")
	}
	checkSendEvents(t, evs, res)
}

func TestHistoryAgentAndSubscribeByFrame(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t, nil)
	c := dial(t, srv, "/ws/agent/reads")
	c.call("m1", "SendMessage", `{"text":"one"}`)
	sendAndCollect(t, c, "m1") // seq 1, 2

	c.call("h1", "GetHistory", `{"afterSeq":"1","limit":50}`)
	final, _, _ := c.awaitID("h1")
	hist := new(agentv1.GetHistoryResponse)
	decodeInto(t, final.Response, hist)
	if got := seqs(hist.GetEvents()); got != "2" || hist.GetLastSeq() != 2 {
		t.Fatalf("history after 1 has seqs %q (last %d), want 2", got, hist.GetLastSeq())
	}

	c.call("a1", "GetAgent", "")
	final, _, _ = c.awaitID("a1")
	info := new(agentv1.GetAgentResponse)
	decodeInto(t, final.Response, info)
	if a := info.GetAgent(); a.GetAgentId() != "reads" || a.GetLastSeq() != 2 || a.GetConnections() != 1 {
		t.Fatalf("agent %v, want reads with last_seq 2 and this socket as its connection", a)
	}

	// Subscribe replays from seq 0 as streamed responses, then cancel ends it.
	c.call("s1", "Subscribe", `{"afterSeq":"0"}`)
	var streamed []*agentv1.AgentEvent
	for len(streamed) < 2 {
		f := c.read()
		if f.ID != "s1" || f.Response == nil {
			t.Fatalf("frame %s, want a response of s1", f.raw)
		}
		res := new(agentv1.SubscribeResponse)
		decodeInto(t, f.Response, res)
		streamed = append(streamed, res.GetEvent())
	}
	if got := seqs(streamed); got != "1 2" {
		t.Fatalf("Subscribe replayed seqs %q, want 1 2", got)
	}
	c.sendText(`{"id":"s1","cancel":true}`)
	final, more, _ := c.awaitID("s1")
	if !final.End || final.Error != nil || len(more) != 0 {
		t.Fatalf("after cancel: %s (and %d more responses), want end", final.raw, len(more))
	}
	// The id is free again, and canceling a finished request is harmless.
	c.sendText(`{"id":"s1","cancel":true}`)
	c.call("s1", "GetAgent", "")
	if final, _, _ := c.awaitID("s1"); final.Response == nil {
		t.Fatalf("reusing the id of a canceled stream: %s", final.raw)
	}
}

func TestSeveralRequestsInFlight(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t, map[string]string{"ECHO_DELAY": "5ms"})
	c := dial(t, srv, "/ws/agent/inflight?subscribe=false")
	// From seq 0: a stream without after_seq could start after m1 is sent.
	c.call("live", "Subscribe", `{"afterSeq":"0"}`)
	c.call("m1", "SendMessage", `{"text":"first"}`)
	c.call("m2", "SendMessage", `{"text":"second","clientMessageId":"k2"}`)
	c.call("g1", "ListAgents", "")
	got := map[string]frame{}
	var live []*agentv1.AgentEvent
	for len(got) < 3 || len(persisted(live)) < 4 {
		f := c.read()
		switch {
		case f.Event != nil:
			t.Fatalf("event frame %s on a socket with subscribe=false", f.raw)
		case f.ID == "live" && f.Response != nil:
			res := new(agentv1.SubscribeResponse)
			decodeInto(t, f.Response, res)
			live = append(live, res.GetEvent())
		case f.ID == "live":
			t.Fatalf("stream ended early: %s", f.raw)
		default:
			if _, dup := got[f.ID]; dup {
				t.Fatalf("second final frame for %q: %s", f.ID, f.raw)
			}
			got[f.ID] = f
		}
	}
	for _, id := range []string{"m1", "m2", "g1"} {
		if got[id].Response == nil {
			t.Fatalf("%s: %s, want a response", id, got[id].raw)
		}
	}
	if s := seqs(persisted(live)); s != "1 2 3 4" {
		t.Fatalf("the live stream saw seqs %q, want 1 2 3 4", s)
	}
	c.sendText(`{"id":"live","cancel":true}`)
	if final, _, _ := c.awaitID("live"); !final.End {
		t.Fatalf("cancel: %s, want end", final.raw)
	}
}

// TestBadFramesKeepTheSocket sends every kind of bad frame; each gets an
// error frame saying what was wrong, and the socket stays usable.
func TestBadFramesKeepTheSocket(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t, nil)
	c := dial(t, srv, "/ws/agent/strict")
	for _, tc := range []struct {
		frame, id, code, says string
	}{
		{`{"id":"1","method":"SendMessage","request":{"txt":"hi"}}`, "1", "invalid_argument", `unknown field "txt"`},
		{`{"id":"2","method":"SendMessage","request":{"text":5}}`, "2", "invalid_argument", "text"},
		{`{"id":"3","method":"GetHistory","request":{"limit":"many"}}`, "3", "invalid_argument", "limit"},
		{`{"id":"4","method":"SendMessage","request":{"text":"hi"}`, "", "invalid_argument", "not valid JSON"},
		{`{"id":"5","metod":"SendMessage"}`, "", "invalid_argument", `"metod"`},
		{`{"id":"6","method":"NoSuchMethod"}`, "6", "unimplemented", "NoSuchMethod"},
		{`{"id":"7","method":"Converse","request":{}}`, "7", "unimplemented", "Converse"},
		{`{"id":8,"method":"GetAgent"}`, "", "invalid_argument", "id must be a string"},
		{`{"id":"9"}`, "9", "invalid_argument", "method is required"},
		{`{"cancel":true}`, "", "invalid_argument", "cancel needs the id"},
		{`{"id":"10","method":"GetHistory","request":[1]}`, "10", "invalid_argument", "request must be a JSON object"},
		{`{"id":"11","method":"GetHistory","request":{"agentId":"someone-else"}}`, "11", "permission_denied", "someone-else"},
		{`{"method":"Subscribe"}`, "", "invalid_argument", "give the frame an id"},
		{`{"id":"13","method":"SendMessage","request":{"text":""}}`, "13", "invalid_argument", "text is required"},
		{`{} {}`, "", "invalid_argument", "one object per frame"},
	} {
		c.sendText(tc.frame)
		f := c.read()
		if f.Error == nil || f.ID != tc.id || f.Error.Code != tc.code || !strings.Contains(f.Error.Message, tc.says) {
			t.Errorf("%s\n got %s\nwant id %q, code %s, message saying %q", tc.frame, f.raw, tc.id, tc.code, tc.says)
		}
	}
	// The request may name the socket's own agent.
	c.call("ok", "SendMessage", `{"agentId":"strict","text":"still here"}`)
	res, _ := sendAndCollect(t, c, "ok")
	if res.GetReply().GetMessage().GetText() != "echo: still here" {
		t.Fatalf("reply %v after bad frames", res.GetReply())
	}
}
