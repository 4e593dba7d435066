package agentgate_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"

	"connectrpc.com/connect"
	"github.com/agentgate/agentgate"
	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/agentgate/agentgate/gen/agent/v1/agentv1connect"
	"github.com/agentgate/agentgate/responder"
)

// A responder is a function of the user message and the conversation
// before it. A process serves the whole gateway with it, configured by the
// environment as the agentgate server is:
//
//	os.Exit(agentgate.Main(agentgate.Options{Responder: echo}))
//
// Here Run serves it on a loopback listener, with no environment, and a
// Connect client talks to it.
func Example() {
	echo := responder.Func(func(ctx context.Context, req responder.Request, out responder.Stream) (responder.Result, error) {
		err := out.Text(fmt.Sprintf("you said %q, after %d earlier messages", req.Message.Text, len(req.History)))
		return responder.Result{FinishReason: responder.FinishStop}, err
	})
	base, stop, err := serve(agentgate.Options{Responder: echo})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer stop()

	client := agentv1connect.NewAgentServiceClient(http.DefaultClient, base)
	for _, text := range []string{"hello", "again"} {
		res, err := client.SendMessage(context.Background(), connect.NewRequest(&agentv1.SendMessageRequest{AgentId: "example", Text: text}))
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(res.Msg.GetReply().GetMessage().GetText())
	}
	// Output:
	// you said "hello", after 0 earlier messages
	// you said "again", after 2 earlier messages
}

// An error with a code becomes the run error that every client sees, in
// place of the reply.
func ExampleError() {
	quota := responder.Func(func(ctx context.Context, req responder.Request, out responder.Stream) (responder.Result, error) {
		return responder.Result{}, &responder.Error{Code: "quota_exceeded", Message: "this agent's monthly quota is used up; try again next month"}
	})
	base, stop, err := serve(agentgate.Options{Responder: quota})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer stop()

	client := agentv1connect.NewAgentServiceClient(http.DefaultClient, base)
	res, err := client.SendMessage(context.Background(), connect.NewRequest(&agentv1.SendMessageRequest{AgentId: "example", Text: "hello"}))
	if err != nil {
		fmt.Println(err)
		return
	}
	runErr := res.Msg.GetReply().GetRunError()
	fmt.Printf("%s: %s\n", runErr.GetCode(), runErr.GetMessage())
	// Output:
	// quota_exceeded: this agent's monthly quota is used up; try again next month
}

// serve runs the gateway with opts on a loopback port, without reading the
// environment or writing logs, and returns its base URL and a function that
// drains it.
func serve(opts agentgate.Options) (base string, stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	opts.Listener = ln
	opts.Lookup = func(string) (string, bool) { return "", false }
	opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- agentgate.Run(ctx, opts) }()
	return "http://" + ln.Addr().String(), func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			fmt.Println("run:", err)
		}
	}, nil
}
