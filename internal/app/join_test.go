package app_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/agentgate/agentgate/internal/app"
	"github.com/agentgate/agentgate/internal/apptest"
	"github.com/agentgate/agentgate/responder"
	"github.com/gorilla/websocket"
)

// gated is a responder that writes some text and a tool call, then waits
// for the test before it writes the rest.
type gated struct {
	halfway chan struct{} // closed by the responder when the first half is out
	resume  chan struct{} // closed by the test
}

func (g gated) Respond(ctx context.Context, _ responder.Request, out responder.Stream) (responder.Result, error) {
	for _, step := range []func() error{
		func() error { return out.Text("first ") },
		func() error { return out.Text("half, ") },
		func() error { return out.ToolCallStart("t1", "search") },
		func() error { return out.ToolCallArgs("t1", `{"q":`) },
		func() error { return out.ToolCallArgs("t1", `"go"}`) },
		func() error { return out.ToolCallEnd("t1") },
	} {
		if err := step(); err != nil {
			return responder.Result{}, err
		}
	}
	close(g.halfway)
	select {
	case <-g.resume:
	case <-ctx.Done():
		return responder.Result{}, ctx.Err()
	}
	_ = out.ToolCallResult("t1", "found")
	_ = out.Text("then ")
	return responder.Result{}, out.Text("the rest")
}

// TestSubscribeJoinsMidReply: a Subscribe that starts halfway through a
// reply gets the run so far (text and tool call), then the rest, each once.
func TestSubscribeJoinsMidReply(t *testing.T) {
	t.Parallel()
	g := gated{halfway: make(chan struct{}), resume: make(chan struct{})}
	srv := apptest.Start(t, nil, func(o *app.Options) { o.Responder = g })
	ctx := testCtx(t)
	c := newClient(t, srv.URL, h2cConnect)
	done := make(chan error, 1)
	go func() {
		_, err := c.SendMessage(ctx, connect.NewRequest(&agentv1.SendMessageRequest{AgentId: "join", Text: "go"}))
		done <- err
	}()
	<-g.halfway
	stream, err := c.Subscribe(ctx, connect.NewRequest(&agentv1.SubscribeRequest{AgentId: "join"}))
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	// The message answered, then the run so far, the text and the tool
	// call's arguments each folded into one event.
	got := describeAll(collect(t, stream, 6))
	want := []string{"1 user: go", "runStarted", `text "first half, "`, "toolCallStart search", `toolCallArgs {"q":"go"}`, "toolCallEnd"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("joined mid-reply:\n got %q\nwant %q", got, want)
	}
	close(g.resume)
	got = describeAll(collect(t, stream, 4))
	want = []string{"toolCallResult found", `text "then "`, `text "the rest"`, `2 assistant: first half, then the rest [search {"q":"go"} → found]`}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("the rest:\n got %q\nwant %q", got, want)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func describeAll(evs []*agentv1.AgentEvent) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		switch k := ev.GetKind().(type) {
		case *agentv1.AgentEvent_Message:
			m := k.Message
			s := fmt.Sprintf("%d %s: %s", ev.GetSeq(), strings.ToLower(strings.TrimPrefix(m.GetRole().String(), "ROLE_")), m.GetText())
			for _, c := range m.GetToolCalls() {
				s += fmt.Sprintf(" [%s %s → %s]", c.GetName(), c.GetArguments(), c.GetResult())
			}
			out[i] = s
		case *agentv1.AgentEvent_RunStarted:
			out[i] = "runStarted"
		case *agentv1.AgentEvent_TextDelta:
			out[i] = fmt.Sprintf("text %q", k.TextDelta.GetDelta())
		case *agentv1.AgentEvent_ToolCallStart:
			out[i] = "toolCallStart " + k.ToolCallStart.GetName()
		case *agentv1.AgentEvent_ToolCallArgs:
			out[i] = "toolCallArgs " + k.ToolCallArgs.GetDelta()
		case *agentv1.AgentEvent_ToolCallEnd:
			out[i] = "toolCallEnd"
		case *agentv1.AgentEvent_ToolCallResult:
			out[i] = "toolCallResult " + k.ToolCallResult.GetContent()
		default:
			out[i] = fmt.Sprintf("%T", k)
		}
	}
	return out
}

// TestConverseResumesWithEpoch: a Converse stream that resumes from a log
// that was made anew starts with a history_reset and replays the new log;
// with the current epoch it replays only what follows; epoch in a later
// request is refused.
func TestConverseResumesWithEpoch(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t, nil)
	ctx := testCtx(t)
	c := newClient(t, srv.URL, h2cConnect)
	old := send(ctx, t, c, "conv-ep", "before").GetReply().GetEpoch()
	if _, err := c.DeleteAgent(ctx, connect.NewRequest(&agentv1.DeleteAgentRequest{AgentId: "conv-ep"})); err != nil {
		t.Fatal(err)
	}
	cur := send(ctx, t, c, "conv-ep", "after").GetReply().GetEpoch()
	send(ctx, t, c, "conv-ep", "again")

	converse := func(epoch string, n int) ([]string, *connect.BidiStreamForClient[agentv1.ConverseRequest, agentv1.ConverseResponse]) {
		stream := c.Converse(ctx)
		after := uint64(2)
		if err := stream.Send(&agentv1.ConverseRequest{AgentId: "conv-ep", AfterSeq: &after, Epoch: epoch}); err != nil {
			t.Fatal(err)
		}
		var got []string
		for len(got) < n {
			res, err := stream.Receive()
			if err != nil {
				t.Fatal(err)
			}
			ev := res.GetEvent()
			switch {
			case ev.GetHistoryReset() != nil:
				got = append(got, "reset:"+ev.GetHistoryReset().GetEpoch())
			case ev.GetSeq() != 0:
				got = append(got, fmt.Sprint(ev.GetSeq()))
			}
		}
		return got, stream
	}
	got, s1 := converse(old, 5)
	if want := "reset:" + cur + " 1 2 3 4"; strings.Join(got, " ") != want {
		t.Fatalf("resume with the old epoch: %v, want %s", got, want)
	}
	_ = s1.CloseRequest()
	_ = s1.CloseResponse()
	got, s2 := converse(cur, 2)
	if strings.Join(got, " ") != "3 4" {
		t.Fatalf("resume with the current epoch: %v, want 3 4", got)
	}
	if err := s2.Send(&agentv1.ConverseRequest{Epoch: cur, Text: "x"}); err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := s2.Receive(); err != nil {
			if connect.CodeOf(err) != connect.CodeInvalidArgument {
				t.Fatalf("epoch in a later request: %v, want invalid_argument", err)
			}
			break
		}
	}
	_ = s2.CloseRequest()
	_ = s2.CloseResponse()
}

// TestClosedSocketGivesItsPlaceBackMidReply: a socket closed while the
// reply to its SendMessage is being written gives its place back at once,
// since the call returns without waiting for the run, so that a client
// that reconnects at MAX_CONNECTIONS is let in; and the reply is written
// all the same, for the new socket to see.
func TestClosedSocketGivesItsPlaceBackMidReply(t *testing.T) {
	t.Parallel()
	g := gated{halfway: make(chan struct{}), resume: make(chan struct{})}
	srv := apptest.Start(t, map[string]string{"MAX_CONNECTIONS": "1"}, func(o *app.Options) { o.Responder = g })
	first, _ := dial(t, wsURL(srv, "place", ""), nil)
	writeFrame(t, first, `{"id":"s","method":"SendMessage","request":{"text":"go"}}`)
	<-g.halfway
	if err := first.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	// The server ends the socket on its own time: dial until it has, or
	// until the reply, still held, would be the only way it could.
	deadline := time.Now().Add(5 * time.Second)
	var again *websocket.Conn
	for again == nil {
		c, res := dial(t, wsURL(srv, "place", "after_seq=0"), nil)
		switch {
		case c != nil:
			again = c
		case res.StatusCode != http.StatusServiceUnavailable:
			t.Fatalf("a new socket after the first closed: %d; want 101, or 503 until the place is back", res.StatusCode)
		case time.Now().After(deadline):
			t.Fatal("the closed socket's place is still taken 5 s later: its SendMessage waits for the run")
		}
	}
	close(g.resume)
	s := &sock{t: t, c: again}
	reply := s.events(func(ev *agentv1.AgentEvent) bool { return ev.GetMessage().GetRole() == agentv1.Role_ROLE_ASSISTANT })
	if got := reply[len(reply)-1].GetMessage().GetText(); got != "first half, then the rest" {
		t.Fatalf("the reply the new socket sees: %q", got)
	}
}

// TestCancelFrameAnswersSendMessageAtOnce: a cancel frame for a
// SendMessage whose reply is being written is answered at once with
// canceled, while the responder still holds the run; the id is free for
// the next call at once; and the reply is written whole all the same,
// for the socket's push to deliver.
func TestCancelFrameAnswersSendMessageAtOnce(t *testing.T) {
	t.Parallel()
	g := gated{halfway: make(chan struct{}), resume: make(chan struct{})}
	srv := apptest.Start(t, nil, func(o *app.Options) { o.Responder = g })
	s := openSock(t, wsURL(srv, "cancel-frame", ""))
	writeFrame(t, s.c, `{"id":"s","method":"SendMessage","request":{"text":"go"}}`)
	<-g.halfway
	writeFrame(t, s.c, `{"id":"s","cancel":true}`)
	// The responder is held until the test resumes it: only the socket
	// can answer now.
	var f *socketFrame
	for f == nil || f.ID != "s" {
		f = s.read()
	}
	if f.Error == nil || f.Error.Code != "canceled" {
		t.Fatalf("the canceled SendMessage: %s; want an error frame with code canceled", f.raw)
	}
	if got := s.call("s", "GetAgent", `{}`); got.Error != nil || got.Response == nil {
		t.Fatalf("a call that reuses the canceled call's id: %s; want its response", got.raw)
	}
	close(g.resume)
	reply := s.events(func(ev *agentv1.AgentEvent) bool { return ev.GetMessage().GetRole() == agentv1.Role_ROLE_ASSISTANT })
	if got := reply[len(reply)-1].GetMessage().GetText(); got != "first half, then the rest" {
		t.Fatalf("the reply the socket sees: %q", got)
	}
}
