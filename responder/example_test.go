package responder_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"net/http/httptest"

	"connectrpc.com/connect"
	"github.com/agentgate/agentgate"
	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/agentgate/agentgate/gen/agent/v1/agentv1connect"
	"github.com/agentgate/agentgate/responder"
)

// An error with a code becomes the run error that every client sees, in
// place of the reply.
func ExampleError() {
	quota := responder.Func(func(ctx context.Context, req responder.Request, out responder.Stream) (responder.Result, error) {
		return responder.Result{}, &responder.Error{Code: "quota_exceeded", Message: "this agent's monthly quota is used up; try again next month"}
	})
	gw, err := agentgate.New(agentgate.Config{Responder: quota, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		log.Fatal(err)
	}
	defer gw.Close()
	srv := httptest.NewServer(gw.Handler())
	defer srv.Close()

	client := agentv1connect.NewAgentServiceClient(srv.Client(), srv.URL)
	res, err := client.SendMessage(context.Background(), connect.NewRequest(&agentv1.SendMessageRequest{AgentId: "example", Text: "hello"}))
	if err != nil {
		log.Fatal(err)
	}
	runErr := res.Msg.GetReply().GetRunError()
	fmt.Printf("%s: %s\n", runErr.GetCode(), runErr.GetMessage())
	// Output:
	// quota_exceeded: this agent's monthly quota is used up; try again next month
}
