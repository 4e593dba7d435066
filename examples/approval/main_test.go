package main

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
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestApproval runs the example's gateway on a loopback socket: get_time
// runs at once; send_email pauses the run until a person decides, and the
// stand-in model reads the tool's result, or the denial.
func TestApproval(t *testing.T) {
	t.Setenv("OPENAI_MODEL", "") // the stand-in, whatever the environment
	cfg, err := config(slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	gw, err := agentgate.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	serving, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- gw.Serve(serving, ln) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		_ = gw.Close()
	}()
	c := agentv1connect.NewAgentServiceClient(http.DefaultClient, "http://"+ln.Addr().String())

	res, err := c.SendMessage(ctx, connect.NewRequest(&agentv1.SendMessageRequest{AgentId: "t", Text: "what time is it?"}))
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Msg.GetReply().GetMessage().GetText(); !strings.HasPrefix(got, "Done: 20") || len(res.Msg.GetEvents()) != 2 {
		t.Fatalf("get_time: %q in %d steps", got, len(res.Msg.GetEvents()))
	}

	for _, approve := range []bool{true, false} {
		res, err := c.SendMessage(ctx, connect.NewRequest(&agentv1.SendMessageRequest{AgentId: "e", Text: "email bob: lunch?"}))
		if err != nil {
			t.Fatal(err)
		}
		call := res.Msg.GetReply().GetMessage().GetToolCalls()[0]
		if call.GetState() != agentv1.ToolCallState_TOOL_CALL_STATE_AWAITING_APPROVAL {
			t.Fatalf("send_email: %v; want it awaiting approval", call)
		}
		dec, err := c.DecideToolCall(ctx, connect.NewRequest(&agentv1.DecideToolCallRequest{
			AgentId: "e", ToolCallId: call.GetToolCallId(), Approve: approve, Reason: "not now", Wait: true,
		}))
		if err != nil {
			t.Fatal(err)
		}
		want := "Done: sent to bob (6 bytes)"
		if !approve {
			want = "That did not happen: denied: the user did not approve this call: not now"
		}
		if got := dec.Msg.GetReply().GetMessage().GetText(); got != want {
			t.Fatalf("approve %v: %q, want %q", approve, got, want)
		}
	}
}
