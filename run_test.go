package agentgate_test

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/agentgate/agentgate"
	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/agentgate/agentgate/gen/agent/v1/agentv1connect"
	"github.com/agentgate/agentgate/internal/apptest"
	"github.com/agentgate/agentgate/responder"
)

// A program with a responder of its own needs none of the RESPONDER
// variables: RESPONDER=openai without OPENAI_MODEL stops the server binary,
// but here it only earns a warning that it is ignored.
func TestOwnResponderIgnoresResponderVariables(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	serving, stop := context.WithCancel(ctx)
	var logs apptest.LogBuffer
	env := map[string]string{"RESPONDER": "openai"}
	done := make(chan error, 1)
	go func() {
		done <- agentgate.Run(serving, agentgate.Options{
			Responder: responder.Func(func(ctx context.Context, req responder.Request, out responder.Stream) (responder.Result, error) {
				return responder.Result{}, out.Text("mine: " + req.Message.Text)
			}),
			Listener: ln,
			Lookup:   func(k string) (string, bool) { v, ok := env[k]; return v, ok },
			Logger:   slog.New(slog.NewJSONHandler(&logs, nil)),
		})
	}()
	c := agentv1connect.NewAgentServiceClient(http.DefaultClient, "http://"+ln.Addr().String())
	res, err := c.SendMessage(ctx, connect.NewRequest(&agentv1.SendMessageRequest{AgentId: "own", Text: "hi"}))
	stop()
	if runErr := <-done; runErr != nil {
		t.Fatalf("Run: %v", runErr)
	}
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Msg.GetReply().GetMessage().GetText(); got != "mine: hi" {
		t.Fatalf("reply %q, want the program's own responder", got)
	}
	out := logs.String()
	if !strings.Contains(out, "RESPONDER=openai is ignored") || !strings.Contains(out, `"responder":"custom"`) {
		t.Fatalf("logs do not warn that RESPONDER is ignored, or the start line names another responder:\n%s", out)
	}
}
