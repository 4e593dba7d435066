package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/agentgate/agentgate/gen/agent/v1/agentv1connect"
	"github.com/agentgate/agentgate/internal/app"
	"github.com/agentgate/agentgate/internal/apptest"
	"github.com/agentgate/agentgate/internal/mcptest"
	"github.com/agentgate/agentgate/responder"
	"github.com/agentgate/agentgate/responder/respondertest"
	"github.com/agentgate/agentgate/tool"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
)

// mcpBenchModel calls the tool its message names (t__echo, or the Go tool
// now) in the first step, and writes "ok" in the next: a model that costs
// nothing, so that what is measured is the gateway and the tool.
func mcpBenchModel(req responder.Request) respondertest.Turn {
	if req.Step > 0 {
		return respondertest.Turn{Text: "ok"}
	}
	return respondertest.Turn{Calls: []respondertest.Call{{ID: "c1", Name: req.Message.Text, Arguments: `{"text":"hello"}`}}}
}

// BenchmarkMCPCall measures what the gateway adds to a call of an MCP
// server's tool, over each transport, with one caller at a time:
//
//	direct   CallTool of echo with the SDK's client, on a session of
//	         its own to the same server: the call alone;
//	go       a SendMessage whose run calls a Go tool that answers at
//	         once, then writes a second step: the loop without MCP;
//	mcp      the same run calling the server's echo (t__echo).
//
// ns/op of mcp minus go is what a call of an MCP tool costs inside a run;
// minus direct, what the gateway adds to the call itself. mcp also reports
// call-ns/op, the call's own time as the loop measured it (the duration
// each call carries in the run's events).
func BenchmarkMCPCall(b *testing.B) {
	for _, transport := range []string{"http", "stdio"} {
		srv, direct := mcpBenchGateway(b, transport)
		c := newClient(b, srv.URL, h2cConnect)
		args := json.RawMessage(`{"text":"hello"}`)
		b.Run(transport+"/direct", func(b *testing.B) {
			for b.Loop() {
				if _, err := direct.CallTool(context.Background(), &sdk.CallToolParams{Name: "echo", Arguments: args}); err != nil {
					b.Fatal(err)
				}
			}
		})
		for _, mode := range []string{"go", "mcp"} {
			b.Run(transport+"/"+mode, func(b *testing.B) {
				name := map[string]string{"go": "now", "mcp": "t__echo"}[mode]
				var calls time.Duration
				for b.Loop() {
					calls += mcpBenchSend(b, c, "latency-"+transport+"-"+mode, name)
				}
				if mode == "mcp" {
					b.ReportMetric(float64(calls.Nanoseconds())/float64(b.N), "call-ns/op")
				}
			})
		}
	}
}

// BenchmarkMCPToolStep measures runs with an MCP tool's step, with 64
// concurrent callers each on its own agent (on 2 cores), over each
// transport: ns/op is one run of two steps (the call, then the answer);
// 1e9/ns_op is tool steps per second.
func BenchmarkMCPToolStep(b *testing.B) {
	for _, transport := range []string{"http", "stdio"} {
		srv, _ := mcpBenchGateway(b, transport)
		c := newClient(b, srv.URL, h2cConnect)
		b.Run(transport, func(b *testing.B) {
			var n atomic.Int64
			b.SetParallelism(32) // 64 callers on 2 cores
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				agentID := fmt.Sprintf("steps-%s-%d", transport, n.Add(1))
				for pb.Next() {
					mcpBenchSend(b, c, agentID, "t__echo")
				}
			})
		})
	}
}

// mcpBenchGateway starts a quiet gateway with the scripted model, the Go
// tool now and the test MCP server t over transport, and a session of
// the SDK's own to the same server.
func mcpBenchGateway(b *testing.B, transport string) (*apptest.Server, *sdk.ClientSession) {
	b.Helper()
	set, err := tool.NewSet(tool.Tool{Def: tool.Def{Name: "now", Description: "Now."},
		Run: func(context.Context, json.RawMessage) (tool.Result, error) {
			return tool.Result{Output: "echo: hello"}, nil
		}})
	if err != nil {
		b.Fatal(err)
	}
	var entry string
	var tr sdk.Transport
	if transport == "http" {
		s := mcptest.StartHTTP(b)
		entry = fmt.Sprintf(`[{"name":"t","url":%q}]`, s.URL)
		tr = &sdk.StreamableClientTransport{Endpoint: s.URL}
	} else {
		command, env := mcptest.StdioCommand(b, "")
		js, _ := json.Marshal([]map[string]any{{"name": "t", "command": command, "env": env}})
		entry = string(js)
		cmd := exec.Command(command[0])
		cmd.Env = cmd.Environ()
		for k, v := range env {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		tr = &sdk.CommandTransport{Command: cmd}
	}
	srv := apptest.Start(b, map[string]string{"MCP_SERVERS": entry}, apptest.Quiet(), func(o *app.Options) {
		o.Responder = respondertest.Model(mcpBenchModel)
		o.Tools = []tool.Source{set}
	})
	awaitMCP(b, srv, "t", "ready")
	cs, err := sdk.NewClient(&sdk.Implementation{Name: "bench", Version: "1"}, nil).Connect(context.Background(), tr, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = cs.Close() })
	return srv, cs
}

// mcpBenchSend sends one message whose run calls the tool name, checks
// that it ran, and returns how long the call took, as the loop measured.
func mcpBenchSend(b *testing.B, c agentv1connect.AgentServiceClient, agentID, name string) time.Duration {
	res, err := c.SendMessage(context.Background(), connect.NewRequest(&agentv1.SendMessageRequest{AgentId: agentID, Text: name}))
	if err != nil {
		b.Error(err)
		return 0
	}
	evs := res.Msg.GetEvents()
	if len(evs) != 2 || evs[0].GetMessage().GetToolCalls()[0].GetResult() != "echo: hello" {
		b.Errorf("the run: %v", evs)
		return 0
	}
	return evs[0].GetMessage().GetToolCalls()[0].GetDuration().AsDuration()
}
