// Command approval runs the whole gateway with two server tools written in
// Go: get_time, which the gateway runs whenever the model calls it, and
// send_email, whose calls wait for a person's yes (TOOL_APPROVAL, here
// Config.ToolApproval) before the gateway runs them. A denial reaches the
// model as the call's result.
//
// With OPENAI_MODEL (and OPENAI_BASE_URL, OPENAI_API_KEY) set, a real model
// decides which tool to call; without, a stand-in model does, so that the
// example runs as it is: it calls send_email for a message that starts
// with "email", get_time for one that mentions the time.
//
//	go run ./examples/approval
//	# The run pauses: the step's send_email call awaits approval.
//	curl -s localhost:8080/agent.v1.AgentService/SendMessage \
//	  -H 'Content-Type: application/json' -d '{"agentId":"demo","text":"email bob: lunch at noon?"}'
//	# Approve it (or "approve": false), and wait for what the model does next.
//	curl -s localhost:8080/agent.v1.AgentService/DecideToolCall \
//	  -H 'Content-Type: application/json' \
//	  -d '{"agentId":"demo","toolCallId":"mail-1","approve":true,"wait":true}'
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/agentgate/agentgate"
	"github.com/agentgate/agentgate/responder"
	"github.com/agentgate/agentgate/responder/openai"
	"github.com/agentgate/agentgate/tool"
)

// tools are the server tools: each a name, a description, the JSON Schema
// of its arguments, and the Go function the gateway calls.
func tools() (*tool.Set, error) {
	return tool.NewSet(
		tool.Tool{
			Def: tool.Def{Name: "get_time", Description: "The current time, in UTC.",
				Parameters: json.RawMessage(`{"type":"object","properties":{}}`)},
			Run: func(context.Context, json.RawMessage) (tool.Result, error) {
				return tool.Result{Output: time.Now().UTC().Format(time.RFC3339)}, nil
			},
		},
		tool.Tool{
			Def: tool.Def{Name: "send_email", Description: "Sends an email. A person approves each one.",
				Parameters: json.RawMessage(`{"type":"object","properties":{"to":{"type":"string"},"body":{"type":"string"}},"required":["to","body"]}`)},
			Run: func(_ context.Context, args json.RawMessage) (tool.Result, error) {
				var mail struct{ To, Body string }
				if err := json.Unmarshal(args, &mail); err != nil || mail.To == "" {
					return tool.Result{Output: "send_email needs a recipient (to) and a body", IsError: true}, nil
				}
				// A real one would send it here.
				return tool.Result{Output: fmt.Sprintf("sent to %s (%d bytes)", mail.To, len(mail.Body))}, nil
			},
		},
	)
}

// standIn is a stand-in model: at the first step it calls a tool if the
// message asks for one, and at the next it says what the tool returned.
func standIn(ctx context.Context, req responder.Request, out responder.Stream) (responder.Result, error) {
	if req.Step > 0 {
		c := req.Steps[len(req.Steps)-1].ToolCalls[0]
		verdict := "Done: "
		if c.IsError {
			verdict = "That did not happen: "
		}
		return responder.Result{}, out.Text(verdict + c.Result)
	}
	text := req.Message.Text
	var name, args string
	switch {
	case strings.HasPrefix(text, "email "):
		to, body, _ := strings.Cut(strings.TrimPrefix(text, "email "), ":")
		a, _ := json.Marshal(map[string]string{"to": strings.TrimSpace(to), "body": strings.TrimSpace(body)})
		name, args = "send_email", string(a)
	case strings.Contains(text, "time"):
		name, args = "get_time", "{}"
	default:
		return responder.Result{}, out.Text("Ask me the time, or to email someone (\"email bob: hi\").")
	}
	id := "mail-1"
	if name == "get_time" {
		id = "time-1"
	}
	for _, step := range []func() error{
		func() error { return out.ToolCallStart(id, name) },
		func() error { return out.ToolCallArgs(id, args) },
		func() error { return out.ToolCallEnd(id) },
	} {
		if err := step(); err != nil {
			return responder.Result{}, err
		}
	}
	return responder.Result{FinishReason: responder.FinishToolCalls}, nil
}

// config is the gateway's: the tools, which need approval, and the model.
func config(logger *slog.Logger) (agentgate.Config, error) {
	set, err := tools()
	if err != nil {
		return agentgate.Config{}, err
	}
	cfg := agentgate.Config{
		Tools:        []tool.Source{set},
		ToolApproval: []string{"send_email"},
		Responder:    responder.Func(standIn),
		Logger:       logger,
	}
	if os.Getenv("OPENAI_MODEL") != "" {
		oc, err := openai.ConfigFromEnv(os.LookupEnv)
		if err != nil {
			return agentgate.Config{}, err
		}
		if cfg.Responder, err = openai.New(oc); err != nil {
			return agentgate.Config{}, err
		}
	}
	return cfg, nil
}

func main() {
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	cfg, err := config(logger)
	if err != nil {
		logger.Error("configuration", "err", err)
		os.Exit(2)
	}
	gw, err := agentgate.New(cfg)
	if err != nil {
		logger.Error("configuration", "err", err)
		os.Exit(2)
	}
	defer gw.Close()
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	ln, err := net.Listen("tcp", ":"+port)
	if err != nil {
		logger.Error("listen", "err", err)
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := gw.Serve(ctx, ln); err != nil {
		logger.Error("serve", "err", err)
		os.Exit(1)
	}
}
