// Package mcptest runs MCP servers for the tests of the gateway's server
// tools: a server built with the official Go SDK, over Streamable HTTP in
// the test's process or over stdio as the test binary run again, whose
// tools let a test steer faults (a call that waits until the test
// releases it, a huge result, a process that dies mid-call); and the MCP
// project's reference server, @modelcontextprotocol/server-everything,
// over stdio and Streamable HTTP. The model that calls their tools in
// those tests is tooltest.OpenAI.
package mcptest

import (
	"context"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
)

// The tools of the test server:
//
//	echo {text}   answers "echo: " and the text;
//	wait {label}  waits until the test calls Release, the call is
//	              cancelled or the server killed (in the test's process
//	              only: Started and Ended tell the test), then answers
//	              "released " and the label;
//	big {n}       answers n bytes of text;
//	crash {}      kills its own process with SIGKILL during the call
//	              (over stdio only: in the test's process, it fails).
type (
	textArgs struct {
		Text string `json:"text"`
	}
	labelArgs struct {
		Label string `json:"label"`
	}
	sizeArgs struct {
		N int `json:"n"`
	}
)

// hooks are what the test learns of the calls of wait, and steers.
type hooks struct {
	started chan string
	ended   chan string
	// mu guards release, killed and calls.
	mu      sync.Mutex
	release chan struct{}
	// killed is closed when the server is killed: a dead server runs no
	// call.
	killed chan struct{}
	calls  map[string]int
}

func newHooks() *hooks {
	return &hooks{started: make(chan string, 64), ended: make(chan string, 64), release: make(chan struct{}), killed: make(chan struct{}), calls: map[string]int{}}
}

func (h *hooks) called(name string) {
	if h == nil {
		return
	}
	h.mu.Lock()
	h.calls[name]++
	h.mu.Unlock()
}

// newServer is the test MCP server; h is nil over stdio.
func newServer(h *hooks) *sdk.Server {
	s := sdk.NewServer(&sdk.Implementation{Name: "agentgate-mcptest", Version: "1"}, nil)
	text := func(s string) *sdk.CallToolResult {
		return &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: s}}}
	}
	sdk.AddTool(s, &sdk.Tool{Name: "echo", Description: "Says the text back."},
		func(_ context.Context, _ *sdk.CallToolRequest, a textArgs) (*sdk.CallToolResult, any, error) {
			h.called("echo")
			return text("echo: " + a.Text), nil, nil
		})
	sdk.AddTool(s, &sdk.Tool{Name: "wait", Description: "Waits until it is released."},
		func(ctx context.Context, _ *sdk.CallToolRequest, a labelArgs) (*sdk.CallToolResult, any, error) {
			h.called("wait")
			if h == nil {
				<-ctx.Done()
				return text("cancelled"), nil, nil
			}
			h.mu.Lock()
			release, killed := h.release, h.killed
			h.mu.Unlock()
			h.started <- a.Label
			select {
			case <-release:
				h.ended <- a.Label + " released"
				return text("released " + a.Label), nil, nil
			case <-ctx.Done():
				h.ended <- a.Label + " cancelled"
				return text("cancelled"), nil, nil
			case <-killed:
				h.ended <- a.Label + " killed"
				return text("killed"), nil, nil
			}
		})
	sdk.AddTool(s, &sdk.Tool{Name: "big", Description: "Writes n bytes."},
		func(_ context.Context, _ *sdk.CallToolRequest, a sizeArgs) (*sdk.CallToolResult, any, error) {
			h.called("big")
			return text(strings.Repeat("x", a.N)), nil, nil
		})
	sdk.AddTool(s, &sdk.Tool{Name: "crash", Description: "Kills its own process during the call."},
		func(context.Context, *sdk.CallToolRequest, struct{}) (*sdk.CallToolResult, any, error) {
			h.called("crash")
			if h != nil {
				return &sdk.CallToolResult{IsError: true, Content: []sdk.Content{&sdk.TextContent{Text: "not over stdio: nothing to kill"}}}, nil, nil
			}
			killSelf()
			return nil, nil, nil
		})
	return s
}

// Server is the test MCP server over Streamable HTTP on a loopback port.
type Server struct {
	// URL is its endpoint, http://127.0.0.1:port/mcp.
	URL   string
	addr  string
	mcp   *sdk.Server
	hooks *hooks
	srv   *http.Server
	done  chan struct{}
}

// StartHTTP serves the test server on a loopback port until the test ends.
func StartHTTP(t testing.TB) *Server {
	t.Helper()
	h := newHooks()
	s := &Server{mcp: newServer(h), hooks: h}
	s.serve(t, "127.0.0.1:0")
	t.Cleanup(s.Kill)
	return s
}

func (s *Server) serve(t testing.TB, addr string) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen on %s: %v", addr, err)
	}
	s.addr = ln.Addr().String()
	s.URL = "http://" + s.addr + "/mcp"
	s.srv = &http.Server{Handler: sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return s.mcp }, nil)}
	s.done = make(chan struct{})
	go func() {
		defer close(s.done)
		_ = s.srv.Serve(ln)
	}()
}

// Kill stops the server at once, as a crash does: its listener and every
// connection close, the calls of wait running now end (Ended says
// "label killed"), and its sessions end. It does nothing to a server
// already stopped.
func (s *Server) Kill() {
	if s.srv == nil {
		return
	}
	_ = s.srv.Close()
	<-s.done
	s.hooks.mu.Lock()
	close(s.hooks.killed)
	s.hooks.mu.Unlock()
	// A session's Close waits for its calls, which killed ended.
	for ss := range s.mcp.Sessions() {
		_ = ss.Close()
	}
	s.srv = nil
}

// Restart serves again on the address it had.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.hooks.mu.Lock()
	s.hooks.killed = make(chan struct{})
	s.hooks.mu.Unlock()
	s.serve(t, s.addr)
}

// Started returns the label of the next call of wait to start, once it
// has.
func (s *Server) Started() <-chan string { return s.hooks.started }

// Ended returns "label released" or "label cancelled" for each call of
// wait that ends.
func (s *Server) Ended() <-chan string { return s.hooks.ended }

// Release ends the calls of wait that run now.
func (s *Server) Release() {
	s.hooks.mu.Lock()
	defer s.hooks.mu.Unlock()
	close(s.hooks.release)
	s.hooks.release = make(chan struct{})
}

// Calls is how many calls of the tool the server took.
func (s *Server) Calls(tool string) int {
	s.hooks.mu.Lock()
	defer s.hooks.mu.Unlock()
	return s.hooks.calls[tool]
}
