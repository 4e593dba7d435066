package app_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/agentgate/agentgate/internal/apptest"
	"github.com/gorilla/websocket"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// socketFrame is a server frame of the WebSocket bridge, as a client reads it.
type socketFrame struct {
	ID       string          `json:"id"`
	Response json.RawMessage `json:"response"`
	End      bool            `json:"end"`
	Error    *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
	raw []byte
}

// TestEveryAgentMethodIsOnTheSocket walks AgentService's real descriptor:
// every unary and server-streaming method, called on /ws/agent/{id} of the
// whole server with an empty request, answers a response, a stream or an
// error of its own, never "unknown method". So a method added to the
// .proto that the socket does not reach fails here.
//
// Client-streaming and bidi methods are excluded by rule (SPEC: the socket
// is itself the duplex stream); they must be refused as such, by name, and
// not as unknown.
func TestEveryAgentMethodIsOnTheSocket(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t, nil)
	c, _ := dial(t, wsURL(srv, "walk", "subscribe=false"), nil)
	methods := agentv1.File_agent_v1_agent_proto.Services().ByName("AgentService").Methods()
	bridged := 0
	for i := range methods.Len() {
		md := methods.Get(i)
		name := string(md.Name())
		writeFrame(t, c, fmt.Sprintf(`{"id":%q,"method":%q,"request":{}}`, name, name))
		if md.IsStreamingServer() && !md.IsStreamingClient() {
			// A stream runs until cancelled; the call frame is read
			// first, so an unknown method is refused before this.
			writeFrame(t, c, fmt.Sprintf(`{"id":%q,"cancel":true}`, name))
		}
		f := answerTo(t, c, md)
		t.Logf("%s: %s", name, f.raw)
		if md.IsStreamingClient() {
			if f.Error == nil || f.Error.Code != "unimplemented" || !strings.Contains(f.Error.Message, name+" is a") ||
				strings.Contains(f.Error.Message, "unknown method") {
				t.Errorf("%s (a client or bidi stream) answered %s; want unimplemented saying the socket does not bridge it", name, f.raw)
			}
			continue
		}
		bridged++
		if f.Error != nil && (f.Error.Code == "unimplemented" || strings.Contains(f.Error.Message, "unknown method")) {
			t.Errorf("%s is not reachable on the socket: %s", name, f.raw)
		}
	}
	if bridged == 0 {
		t.Fatal("AgentService has no unary or server-streaming method; the walk proved nothing")
	}
}

func writeFrame(t *testing.T, c *websocket.Conn, frame string) {
	t.Helper()
	if err := c.WriteMessage(websocket.TextMessage, []byte(frame)); err != nil {
		t.Fatal(err)
	}
}

// answerTo reads the frames of a call named after md up to the one that
// answers it: the response of a unary call, the end of a stream (its
// responses skipped), or an error.
func answerTo(t *testing.T, c *websocket.Conn, md protoreflect.MethodDescriptor) socketFrame {
	t.Helper()
	for {
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, data, err := c.ReadMessage()
		if err != nil {
			t.Fatalf("waiting for %s's answer: %v", md.Name(), err)
		}
		f := socketFrame{raw: data}
		if err := json.Unmarshal(data, &f); err != nil {
			t.Fatalf("frame %s: %v", data, err)
		}
		switch {
		case f.ID != string(md.Name()):
			t.Fatalf("frame %s while waiting for %s's answer", data, md.Name())
		case f.Error != nil, f.End, f.Response != nil && !md.IsStreamingServer():
			return f
		}
	}
}
