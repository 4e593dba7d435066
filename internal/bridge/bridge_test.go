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
