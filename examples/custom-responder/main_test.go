package main

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/agentgate/agentgate"
	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/agentgate/agentgate/gen/agent/v1/agentv1connect"
	"github.com/agentgate/agentgate/responder"
	"github.com/gorilla/websocket"
	"go.uber.org/goleak"
	"google.golang.org/protobuf/encoding/protojson"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestCustomResponder runs the example's agent behind the whole gateway on a
// loopback socket: a Connect client gets its reply, with the conversation
// as context, and a WebSocket sees its tool call and text stream.
func TestCustomResponder(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	serving, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- agentgate.Run(serving, agentgate.Options{
			Responder: responder.Func(shout),
			Listener:  ln,
			Lookup:    func(string) (string, bool) { return "", false },
		})
	}()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	base := "http://" + ln.Addr().String()
	c := agentv1connect.NewAgentServiceClient(http.DefaultClient, base)

	ws, _, err := websocket.DefaultDialer.DialContext(ctx, "ws://"+ln.Addr().String()+"/ws/agent/ex", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()

	for i, want := range []string{"HELLO THERE (0 messages before this one)", "AGAIN (2 messages before this one)"} {
		text := []string{"hello there", "again"}[i]
		res, err := c.SendMessage(ctx, connect.NewRequest(&agentv1.SendMessageRequest{AgentId: "ex", Text: text}))
		if err != nil {
			t.Fatal(err)
		}
		m := res.Msg.GetReply().GetMessage()
		calls := m.GetToolCalls()
		if m.GetText() != want || len(calls) != 1 || calls[0].GetName() != "count_messages" || calls[0].GetResult() != []string{"0", "2"}[i] {
			t.Fatalf("reply %v; want %q with one count_messages call", m, want)
		}
	}
	// The socket saw the first exchange streamed: the tool call, then text.
	var kinds []string
	for len(kinds) == 0 || kinds[len(kinds)-1] != "reply" {
		_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, data, err := ws.ReadMessage()
		if err != nil {
			t.Fatalf("socket: %v (saw %v)", err, kinds)
		}
		var frame struct{ Event json.RawMessage }
		_ = json.Unmarshal(data, &frame)
		ev := &agentv1.AgentEvent{}
		if frame.Event == nil || protojson.Unmarshal(frame.Event, ev) != nil {
			continue
		}
		switch {
		case ev.GetToolCallStart() != nil:
			kinds = append(kinds, "toolCallStart")
		case ev.GetToolCallResult() != nil:
			kinds = append(kinds, "toolCallResult")
		case ev.GetTextDelta() != nil && (len(kinds) == 0 || kinds[len(kinds)-1] != "text"):
			kinds = append(kinds, "text")
		case ev.GetMessage().GetRole() == agentv1.Role_ROLE_ASSISTANT:
			kinds = append(kinds, "reply")
		}
	}
	if got := strings.Join(kinds, " "); got != "toolCallStart toolCallResult text reply" {
		t.Fatalf("socket events %q", got)
	}
}
