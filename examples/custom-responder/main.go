// Command custom-responder runs the whole gateway (same endpoints, same
// environment variables as the agentgate server) with an agent written in
// Go: it answers in upper case, says how long the conversation is, and
// reports a tool call, so that every client sees each kind of event.
//
//	go run ./examples/custom-responder
//	curl -s localhost:8080/agent.v1.AgentService/SendMessage \
//	  -H 'Content-Type: application/json' -d '{"agentId":"demo","text":"hello"}'
package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/agentgate/agentgate"
	"github.com/agentgate/agentgate/responder"
)

// shout is the agent: a function of the message and the conversation.
func shout(ctx context.Context, req responder.Request, out responder.Stream) (responder.Result, error) {
	if err := out.ToolCallStart("count-1", "count_messages"); err != nil {
		return responder.Result{}, err
	}
	_ = out.ToolCallArgs("count-1", `{"agent":`+fmt.Sprintf("%q", req.AgentID)+`}`)
	_ = out.ToolCallEnd("count-1")
	_ = out.ToolCallResult("count-1", fmt.Sprint(len(req.History)))
	for _, word := range strings.Fields(strings.ToUpper(req.Message.Text)) {
		if err := out.Text(word + " "); err != nil {
			return responder.Result{}, err
		}
	}
	err := out.Text(fmt.Sprintf("(%d messages before this one)", len(req.History)))
	return responder.Result{FinishReason: responder.FinishStop}, err
}

func main() {
	os.Exit(agentgate.Main(agentgate.Options{Responder: responder.Func(shout)}))
}
