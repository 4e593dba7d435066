package mcp

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"go.uber.org/goleak"
)

// TestMain runs the tests, or, when the test binary is started as a stdio
// MCP server by a test (MCPTEST_SERVER=stdio in its environment), serves
// the test tools on its standard input and output.
func TestMain(m *testing.M) {
	if os.Getenv("MCPTEST_SERVER") == "stdio" {
		os.Exit(serveStdio())
	}
	goleak.VerifyTestMain(m)
}

// serveStdio is the stdio test server. MCPTEST_LABEL names it in echo's
// answers; with MCPTEST_GATE set it exits at once, status 1, unless that
// file exists (a server that is down until the test brings it up); with
// MCPTEST_STUBBORN=1 it ignores SIGTERM and stays after its input closes
// (a server that only SIGKILL stops).
func serveStdio() int {
	if gate := os.Getenv("MCPTEST_GATE"); gate != "" {
		if _, err := os.Stat(gate); err != nil {
			fmt.Fprintln(os.Stderr, "gate closed")
			return 1
		}
	}
	stubborn := os.Getenv("MCPTEST_STUBBORN") == "1"
	if stubborn {
		signal.Ignore(syscall.SIGTERM)
	}
	fmt.Fprintln(os.Stderr, "test server starting")
	s := newTestServer(os.Getenv("MCPTEST_LABEL"), nil)
	err := s.Run(context.Background(), &sdk.StdioTransport{})
	if stubborn {
		time.Sleep(time.Hour)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "test server:", err)
		return 2
	}
	return 0
}

// hooks let a test see and steer the calls of an in-process server.
type hooks struct {
	// started gets the name of each sleep call once it runs.
	started chan string

	mu sync.Mutex
	// release, closed, ends the sleep calls that run now.
	release chan struct{}
	// headers records the request headers the HTTP server got.
	headers []http.Header
}

func newHooks() *hooks {
	return &hooks{started: make(chan string, 16), release: make(chan struct{})}
}

// sleeping returns the channel whose closing ends a sleep call now.
func (h *hooks) sleeping() <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.release
}

// wake ends the sleep calls running now.
func (h *hooks) wake() {
	h.mu.Lock()
	defer h.mu.Unlock()
	close(h.release)
	h.release = make(chan struct{})
}

type textArgs struct {
	Text string `json:"text"`
}

type sleepArgs struct {
	MS int `json:"ms"`
}

type sizeArgs struct {
	N int `json:"n"`
}

type answer struct {
	Answer int    `json:"answer"`
	Unit   string `json:"unit"`
}

// newTestServer is an MCP server with the tools the tests call. label tells
// servers apart in echo's answers.
func newTestServer(label string, h *hooks) *sdk.Server {
	s := sdk.NewServer(&sdk.Implementation{Name: "test-" + label, Version: "1"}, nil)
	text := func(s string) *sdk.CallToolResult {
		return &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: s}}}
	}
	sdk.AddTool(s, &sdk.Tool{Name: "echo", Description: "Says the text back."},
		func(_ context.Context, _ *sdk.CallToolRequest, a textArgs) (*sdk.CallToolResult, any, error) {
			return text(label + ": " + a.Text), nil, nil
		})
	sdk.AddTool(s, &sdk.Tool{Name: "fail", Description: "Fails as a tool does."},
		func(context.Context, *sdk.CallToolRequest, struct{}) (*sdk.CallToolResult, any, error) {
			return &sdk.CallToolResult{IsError: true, Content: []sdk.Content{&sdk.TextContent{Text: "the disk is full"}}}, nil, nil
		})
	sdk.AddTool(s, &sdk.Tool{Name: "structured", Description: "Answers with structured content."},
		func(context.Context, *sdk.CallToolRequest, struct{}) (*sdk.CallToolResult, answer, error) {
			return nil, answer{Answer: 42, Unit: "m"}, nil
		})
	sdk.AddTool(s, &sdk.Tool{Name: "image", Description: "Draws."},
		func(context.Context, *sdk.CallToolRequest, struct{}) (*sdk.CallToolResult, any, error) {
			return &sdk.CallToolResult{Content: []sdk.Content{
				&sdk.TextContent{Text: "a dot"},
				&sdk.ImageContent{MIMEType: "image/png", Data: []byte("12345")},
			}}, nil, nil
		})
	sdk.AddTool(s, &sdk.Tool{Name: "big", Description: "Writes n bytes."},
		func(_ context.Context, _ *sdk.CallToolRequest, a sizeArgs) (*sdk.CallToolResult, any, error) {
			return text(strings.Repeat("é", a.N/2)), nil, nil
		})
	sdk.AddTool(s, &sdk.Tool{Name: "sleep", Description: "Sleeps ms milliseconds."},
		func(ctx context.Context, _ *sdk.CallToolRequest, a sleepArgs) (*sdk.CallToolResult, any, error) {
			var release <-chan struct{}
			if h != nil {
				release = h.sleeping()
				h.started <- "sleep"
			}
			t := time.NewTimer(time.Duration(a.MS) * time.Millisecond)
			defer t.Stop()
			select {
			case <-t.C:
			case <-ctx.Done():
			case <-release:
			}
			return text("slept"), nil, nil
		})
	sdk.AddTool(s, &sdk.Tool{Name: "pid", Description: "Tells its process id."},
		func(context.Context, *sdk.CallToolRequest, struct{}) (*sdk.CallToolResult, any, error) {
			return text(fmt.Sprint(os.Getpid())), nil, nil
		})
	sdk.AddTool(s, &sdk.Tool{Name: "die", Description: "Exits its process, status 3, during the call."},
		func(context.Context, *sdk.CallToolRequest, struct{}) (*sdk.CallToolResult, any, error) {
			os.Exit(3)
			return nil, nil, nil
		})
	sdk.AddTool(s, &sdk.Tool{Name: "grow", Description: "Adds the tool grown."},
		func(context.Context, *sdk.CallToolRequest, struct{}) (*sdk.CallToolResult, any, error) {
			sdk.AddTool(s, &sdk.Tool{Name: "grown", Description: "Was added."},
				func(context.Context, *sdk.CallToolRequest, struct{}) (*sdk.CallToolResult, any, error) {
					return text("grown"), nil, nil
				})
			return text("grew"), nil, nil
		})
	s.AddTool(&sdk.Tool{Name: "dotted.name", Description: "Has a dot.", InputSchema: json.RawMessage(`{"type":"object"}`)},
		func(context.Context, *sdk.CallToolRequest) (*sdk.CallToolResult, error) {
			return text("dotted"), nil
		})
	return s
}

// httpServer is a test MCP server over Streamable HTTP on a loopback port.
type httpServer struct {
	URL   string
	addr  string
	mcp   *sdk.Server
	hooks *hooks
	srv   *http.Server
	done  chan struct{}
}

// startHTTP serves a test server on addr ("127.0.0.1:0" for any port),
// until the test ends or kill.
func startHTTP(t testing.TB, label, addr string) *httpServer {
	t.Helper()
	h := newHooks()
	s := &httpServer{mcp: newTestServer(label, h), hooks: h}
	s.serve(t, addr)
	t.Cleanup(s.kill)
	return s
}

func (s *httpServer) serve(t testing.TB, addr string) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen on %s: %v", addr, err)
	}
	handler := sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return s.mcp }, nil)
	s.addr = ln.Addr().String()
	s.URL = "http://" + s.addr + "/mcp"
	s.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hooks.mu.Lock()
		s.hooks.headers = append(s.hooks.headers, r.Header.Clone())
		s.hooks.mu.Unlock()
		handler.ServeHTTP(w, r)
	})}
	s.done = make(chan struct{})
	go func() {
		defer close(s.done)
		_ = s.srv.Serve(ln)
	}()
}

// kill stops the server at once, as a crash does: its listener and every
// connection close, and its sessions end (their tools still running are
// woken, as a process that died has none).
func (s *httpServer) kill() {
	if s.srv == nil {
		return
	}
	_ = s.srv.Close()
	<-s.done
	s.hooks.wake()
	for ss := range s.mcp.Sessions() {
		_ = ss.Close()
	}
	s.srv = nil
}

// restart serves again on the same address.
func (s *httpServer) restart(t testing.TB) {
	t.Helper()
	s.serve(t, s.addr)
}

// sawHeader reports whether a request arrived with header k set to v.
func (s *httpServer) sawHeader(k, v string) bool {
	s.hooks.mu.Lock()
	defer s.hooks.mu.Unlock()
	for _, h := range s.hooks.headers {
		if h.Get(k) == v {
			return true
		}
	}
	return false
}

// stdioServer is the test server as a command: this test binary again.
func stdioServer(t testing.TB, name, label string, env map[string]string) Server {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// GORACE: a binary built with -race waits 1s before it exits, unless
	// told not to.
	e := map[string]string{"MCPTEST_SERVER": "stdio", "MCPTEST_LABEL": label, "GORACE": "atexit_sleep_ms=0"}
	for k, v := range env {
		e[k] = v
	}
	return Server{Name: name, Command: []string{exe}, Env: e}
}
