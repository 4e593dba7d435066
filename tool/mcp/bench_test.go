package mcp

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"testing"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
)

// BenchmarkCall measures what a call through a Source adds to the same
// call made directly with the SDK, on one server, over each transport:
// compare the ns/op of source and direct. The Source's log line is written
// as JSON (to io.Discard), as the gateway writes it.
func BenchmarkCall(b *testing.B) {
	args := json.RawMessage(`{"text": "hello"}`)
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	stdio := stdioServer(b, "t", "T", nil)
	for _, tr := range []struct {
		name      string
		server    func(b *testing.B) Server
		transport func(srv Server) sdk.Transport
	}{
		{"http",
			func(b *testing.B) Server { return Server{Name: "t", URL: startHTTP(b, "T", "127.0.0.1:0").URL} },
			func(srv Server) sdk.Transport { return &sdk.StreamableClientTransport{Endpoint: srv.URL} }},
		{"stdio",
			func(*testing.B) Server { return stdio },
			func(srv Server) sdk.Transport {
				cmd := exec.Command(exe)
				cmd.Env = processEnv(srv.Env)
				return &sdk.CommandTransport{Command: cmd}
			}},
	} {
		b.Run(tr.name+"/direct", func(b *testing.B) {
			srv := tr.server(b)
			client := sdk.NewClient(&sdk.Implementation{Name: "bench", Version: "1"}, nil)
			cs, err := client.Connect(context.Background(), tr.transport(srv), nil)
			if err != nil {
				b.Fatal(err)
			}
			defer cs.Close()
			for b.Loop() {
				if _, err := cs.CallTool(context.Background(), &sdk.CallToolParams{Name: "echo", Arguments: args}); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(tr.name+"/source", func(b *testing.B) {
			s := newSource(b, Config{Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))}, tr.server(b))
			s.awaitReady(b)
			for b.Loop() {
				if _, err := s.Call(context.Background(), "t__echo", args); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
