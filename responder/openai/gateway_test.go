package openai_test

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/agentgate/agentgate"
	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/agentgate/agentgate/responder/openai"
	"github.com/gorilla/websocket"
	"google.golang.org/protobuf/encoding/protojson"
)

// TestGatewayWithOllama runs the whole gateway with RESPONDER=openai in
// front of a real model server (Ollama and its tiny model, as TestOllama
// does): a WebSocket client sees the reply stream as deltas, and the
// persisted reply carries finish reasons stop and length and the usage.
func TestGatewayWithOllama(t *testing.T) {
	bin, gguf := os.Getenv("OLLAMA_BIN"), os.Getenv("OLLAMA_TINY_GGUF")
	if bin == "" || gguf == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("OLLAMA_BIN or OLLAMA_TINY_GGUF is not set; scripts/test.sh sets both from scripts/ollama.sh")
		}
		t.Skip("OLLAMA_BIN and OLLAMA_TINY_GGUF are not set: run eval \"$(scripts/ollama.sh)\" to run this test")
	}
	base := openai.StartOllama(t, bin)
	openai.CreateModel(t, bin, base, gguf, 12)

	env := map[string]string{
		"RESPONDER": "openai", "OPENAI_BASE_URL": base + "/v1", "OPENAI_MODEL": "tiny",
		"OPENAI_TEMPERATURE": "0", "CONTEXT_MESSAGES": "0", "LOG_LEVEL": "warn",
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- agentgate.Run(ctx, agentgate.Options{Listener: ln, Lookup: func(k string) (string, bool) { v, ok := env[k]; return v, ok }})
	}()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})

	ws, _, err := websocket.DefaultDialer.Dial("ws://"+ln.Addr().String()+"/ws/agent/ollama", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	for _, c := range []struct {
		prompt string
		finish agentv1.FinishReason
	}{{"hi", agentv1.FinishReason_FINISH_REASON_STOP}, {"hello", agentv1.FinishReason_FINISH_REASON_LENGTH}} {
		if err := ws.WriteMessage(websocket.TextMessage, []byte(c.prompt)); err != nil {
			t.Fatal(err)
		}
		var deltas strings.Builder
		for {
			ev := readEvent(t, ws)
			if d := ev.GetTextDelta(); d != nil {
				deltas.WriteString(d.GetDelta())
			}
			if ev.GetRunError() != nil {
				t.Fatalf("%q: run error %v", c.prompt, ev.GetRunError())
			}
			m := ev.GetMessage()
			if m.GetRole() != agentv1.Role_ROLE_ASSISTANT {
				continue
			}
			if m.GetText() == "" || m.GetText() != deltas.String() || m.GetFinishReason() != c.finish {
				t.Fatalf("%q: reply %q, finish %v, after deltas %q; want the deltas' text, finish %v", c.prompt, m.GetText(), m.GetFinishReason(), deltas.String(), c.finish)
			}
			if u := m.GetUsage(); u.GetModel() != "tiny" || u.GetInputTokens() <= 0 || u.GetOutputTokens() <= 0 {
				t.Fatalf("%q: usage %v", c.prompt, u)
			}
			break
		}
	}
}

// readEvent returns the next pushed event of the socket.
func readEvent(t *testing.T, ws *websocket.Conn) *agentv1.AgentEvent {
	t.Helper()
	for {
		_ = ws.SetReadDeadline(time.Now().Add(60 * time.Second))
		_, data, err := ws.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		var frame struct{ Event json.RawMessage }
		if json.Unmarshal(data, &frame) != nil || frame.Event == nil {
			continue
		}
		ev := &agentv1.AgentEvent{}
		if err := protojson.Unmarshal(frame.Event, ev); err != nil {
			t.Fatal(err)
		}
		return ev
	}
}
