package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"testing"

	"connectrpc.com/connect"
	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/agentgate/agentgate/internal/app"
	"github.com/agentgate/agentgate/internal/apptest"
	"github.com/agentgate/agentgate/responder"
	"github.com/agentgate/agentgate/responder/respondertest"
	"github.com/agentgate/agentgate/tool"
)

// benchModel answers "plain" with text at once; "client" with a call of
// the client tool lookup, "server" with a call of the server tool now, and
// the step after either with text: a model that costs nothing, so that
// what is measured is the gateway's own work.
func benchModel(req responder.Request) respondertest.Turn {
	if req.Step > 0 || req.Message.Text == "plain" {
		return respondertest.Turn{Text: "ok"}
	}
	name := "lookup"
	if req.Message.Text == "server" {
		name = "now"
	}
	return respondertest.Turn{Calls: []respondertest.Call{{ID: "c1", Name: name, Arguments: "{}"}}}
}

// BenchmarkToolStep measures what a tool step costs the gateway, against a
// plain reply, with 64 concurrent callers each on its own agent, over h2c:
//
//	plain    SendMessage answered in one step;
//	server   SendMessage whose run calls a server tool (Go, answering at
//	         once) and writes a second step;
//	client   SendMessage whose run pauses for a client tool, then
//	         SubmitToolResult with wait, answered at once, and the second
//	         step: two calls of the client.
//
// ns/op is one whole exchange; the difference from plain is the step.
func BenchmarkToolStep(b *testing.B) {
	set, err := tool.NewSet(tool.Tool{Def: tool.Def{Name: "now", Description: "Now."},
		Run: func(context.Context, json.RawMessage) (tool.Result, error) { return tool.Result{Output: "12:00"}, nil }})
	if err != nil {
		b.Fatal(err)
	}
	for name, env := range engines(b) {
		env = copyEnv(env)
		env["CLIENT_TOOLS"] = `[{"name":"lookup","description":"Looks up.","parameters":{"type":"object"}}]`
		srv := apptest.Start(b, env, apptest.Quiet(), func(o *app.Options) {
			o.Responder = respondertest.Model(benchModel)
			o.Tools = []tool.Source{set}
		})
		c := newClient(b, srv.URL, h2cConnect)
		for _, mode := range []string{"plain", "server", "client"} {
			b.Run(name+"/"+mode, func(b *testing.B) {
				var n atomic.Int64
				b.SetParallelism(32) // 64 callers on 2 cores
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					agentID := fmt.Sprintf("bench-%s-%d", mode, n.Add(1))
					ctx := context.Background()
					for pb.Next() {
						res, err := c.SendMessage(ctx, connect.NewRequest(&agentv1.SendMessageRequest{AgentId: agentID, Text: mode}))
						if err != nil {
							b.Error(err)
							return
						}
						if mode != "client" {
							continue
						}
						call := res.Msg.GetReply().GetMessage().GetToolCalls()[0]
						done, err := c.SubmitToolResult(ctx, connect.NewRequest(&agentv1.SubmitToolResultRequest{AgentId: agentID,
							ToolCallId: call.GetToolCallId(), Wait: true, Result: &agentv1.SubmitToolResultRequest_Output{Output: "found"}}))
						if err != nil || done.Msg.GetReply().GetMessage().GetText() != "ok" {
							b.Errorf("the client tool's answer: %v, %v", done, err)
							return
						}
					}
				})
			})
		}
	}
}

func copyEnv(env map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range env {
		out[k] = v
	}
	return out
}
