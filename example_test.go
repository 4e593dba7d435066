package agentgate_test

import (
	"context"
	"log"
	"os"

	"github.com/agentgate/agentgate"
)

// A responder is a function of the user message and the conversation
// before it; Main serves the whole gateway with it, configured by the
// environment as the agentgate server is.
func Example() {
	echo := agentgate.ResponderFunc(func(ctx context.Context, req agentgate.Request, out agentgate.Stream) (agentgate.Result, error) {
		for _, m := range req.History {
			log.Printf("earlier, %s said %q", m.Role, m.Text)
		}
		err := out.Text("you said: " + req.Message.Text)
		return agentgate.Result{FinishReason: agentgate.FinishStop}, err
	})
	os.Exit(agentgate.Main(agentgate.Options{Responder: echo}))
}

// An error with a code becomes the run error that every client sees, in
// place of the reply.
func ExampleError() {
	_ = agentgate.ResponderFunc(func(ctx context.Context, req agentgate.Request, out agentgate.Stream) (agentgate.Result, error) {
		return agentgate.Result{}, &agentgate.Error{Code: "quota_exceeded", Message: "this agent's monthly quota is used up; try again next month"}
	})
}
