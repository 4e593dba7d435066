package mcp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/agentgate/agentgate/tool"
)

// transports runs a test against the test server over each transport:
// Streamable HTTP (in this process) and stdio (this binary, again).
func transports(t *testing.T, test func(t *testing.T, srv Server, http *httpServer)) {
	t.Run("http", func(t *testing.T) {
		t.Parallel()
		h := startHTTP(t, "T", "127.0.0.1:0")
		test(t, Server{Name: "t", URL: h.URL}, h)
	})
	t.Run("stdio", func(t *testing.T) {
		t.Parallel()
		test(t, stdioServer(t, "t", "T", nil), nil)
	})
}

func TestListAndCall(t *testing.T) {
	t.Parallel()
	transports(t, func(t *testing.T, srv Server, _ *httpServer) {
		s := newSource(t, Config{}, srv)
		s.awaitReady(t)
		names := s.names()
		for _, want := range []string{"t__echo", "t__fail", "t__structured", "t__image", "t__big", "t__sleep", "t__pid", "t__grow", toolName("t", "dotted.name")} {
			if !slices.Contains(names, want) {
				t.Errorf("tools %v lack %s", names, want)
			}
		}
		if st := s.Status()[0]; st.State != Ready || st.Tools != len(names) || st.Transport != srv.Transport() {
			t.Errorf("status %+v, want ready with %d tools over %s", st, len(names), srv.Transport())
		}
		for _, d := range s.Tools(context.Background()) {
			if err := tool.ValidateDef(d); err != nil {
				t.Errorf("offered %+v: %v", d, err)
			}
			if d.Name == "t__echo" {
				var schema struct {
					Type       string         `json:"type"`
					Properties map[string]any `json:"properties"`
				}
				if err := json.Unmarshal(d.Parameters, &schema); err != nil || schema.Type != "object" || schema.Properties["text"] == nil || d.Description != "Says the text back." {
					t.Errorf("echo offered as %s %q, want the server's schema and description", d.Parameters, d.Description)
				}
			}
		}

		for _, c := range []struct {
			name string
			args any
			want tool.Result
		}{
			{"t__echo", map[string]string{"text": "hi"}, tool.Result{Output: "T: hi"}},
			{"t__fail", nil, tool.Result{Output: "the disk is full", IsError: true}},
			{"t__structured", map[string]any{}, tool.Result{Output: `{"answer":42,"unit":"m"}`}},
			{"t__image", nil, tool.Result{Output: "a dot\n[image: image/png, 5 bytes]"}},
			{toolName("t", "dotted.name"), nil, tool.Result{Output: "dotted"}},
		} {
			if got := s.mustCall(t, c.name, c.args); got != c.want {
				t.Errorf("%s: %+v, want %+v", c.name, got, c.want)
			}
			if last := s.w.lastCall(); last.Server != "t" || last.Duration <= 0 || (last.Outcome != OK && last.Outcome != ToolError) {
				t.Errorf("%s: observed %+v", c.name, last)
			}
		}
		if s.w.lastCall().Tool != "dotted.name" {
			t.Errorf("observed %+v, want the server's own name of the tool", s.w.lastCall())
		}
	})
}

func TestCallErrors(t *testing.T) {
	t.Parallel()
	h := startHTTP(t, "T", "127.0.0.1:0")
	s := newSource(t, Config{}, Server{Name: "t", URL: h.URL})
	s.awaitReady(t)
	for _, c := range []struct {
		name, args string
		kind       Outcome
	}{
		{"t__nope", `{}`, UnknownTool},
		{"other__echo", `{}`, UnknownTool},
		{"echo", `{}`, UnknownTool},
		{"", `{}`, UnknownTool},
		{"t__echo", `[1, 2]`, BadArguments},
		{"t__echo", `"text"`, BadArguments},
		{"t__echo", `{"text": `, BadArguments},
	} {
		_, err := s.Call(context.Background(), c.name, json.RawMessage(c.args))
		if kindOf(err) != c.kind {
			t.Errorf("%q(%s): %v, want a %s CallError", c.name, c.args, err, c.kind)
		}
		if c.kind == UnknownTool && !errors.Is(err, tool.ErrUnknownTool) {
			t.Errorf("%q: %v is not tool.ErrUnknownTool", c.name, err)
		}
		if got := s.w.lastCall(); got.Outcome != c.kind || (c.kind == UnknownTool && got.Tool != "") {
			t.Errorf("%q: observed %+v; an unknown name must not become a label", c.name, got)
		}
	}
	// Arguments the tool's schema refuses: the server's protocol error,
	// for the model to read.
	_, err := s.Call(context.Background(), "t__echo", json.RawMessage(`{"text": 5}`))
	if kindOf(err) != Rejected && err != nil {
		t.Errorf("echo with a number: %v, want a rejection or an error result", err)
	}
	for _, args := range []string{``, `null`, ` {} `} {
		if res, err := s.Call(context.Background(), "t__fail", json.RawMessage(args)); err != nil || !res.IsError {
			t.Errorf("fail(%q): %+v, %v; want the tool's error result", args, res, err)
		}
	}
}

func TestAllowList(t *testing.T) {
	t.Parallel()
	transports(t, func(t *testing.T, srv Server, _ *httpServer) {
		srv.Tools = []string{"echo", "dotted.name", "absent"}
		s := newSource(t, Config{}, srv)
		s.awaitReady(t)
		want := []string{"t__echo", toolName("t", "dotted.name")}
		if got := s.names(); !slices.Equal(got, want) && !slices.Equal(got, []string{want[1], want[0]}) {
			t.Fatalf("tools %v, want %v", got, want)
		}
		if _, err := s.call(t, "t__fail", nil); kindOf(err) != UnknownTool {
			t.Errorf("a tool left out by the allow-list: %v, want unknown_tool", err)
		}
		if got := s.mustCall(t, "t__echo", map[string]string{"text": "x"}); got.Output != "T: x" {
			t.Errorf("echo: %+v", got)
		}
		if !strings.Contains(s.log.String(), "absent") {
			t.Errorf("no warning about the allowed tool the server lacks:\n%s", s.log)
		}
	})
}

// TestServersDoNotCollide: two servers with the same tools, one over each
// transport; each name reaches its own server.
func TestServersDoNotCollide(t *testing.T) {
	t.Parallel()
	h := startHTTP(t, "A", "127.0.0.1:0")
	s := newSource(t, Config{}, Server{Name: "a", URL: h.URL}, stdioServer(t, "b", "B", nil))
	s.awaitReady(t)
	names := s.names()
	seen := map[string]bool{}
	for _, n := range names {
		if seen[n] {
			t.Errorf("%s offered twice", n)
		}
		seen[n] = true
	}
	for server, label := range map[string]string{"a": "A", "b": "B"} {
		if got := s.mustCall(t, server+"__echo", map[string]string{"text": "x"}); got.Output != label+": x" {
			t.Errorf("%s__echo: %q, want %s's answer", server, got.Output, label)
		}
	}
}

// TestToolListChanged: a server that adds a tool says so, and the tool is
// offered; one that removes a tool says so, and it is no longer callable.
func TestToolListChanged(t *testing.T) {
	t.Parallel()
	transports(t, func(t *testing.T, srv Server, h *httpServer) {
		s := newSource(t, Config{}, srv)
		s.awaitReady(t)
		before := s.Status()[0].Tools
		s.mustCall(t, "t__grow", nil)
		s.await(t, "the grown tool", func(st []Status) bool { return st[0].Tools == before+1 })
		if !slices.Contains(s.names(), "t__grown") {
			t.Fatalf("tools %v lack t__grown", s.names())
		}
		if got := s.mustCall(t, "t__grown", nil); got.Output != "grown" {
			t.Errorf("grown: %+v", got)
		}
		if h == nil {
			return
		}
		h.mcp.RemoveTools("echo")
		s.await(t, "echo removed", func(st []Status) bool { return st[0].Tools == before })
		if _, err := s.call(t, "t__echo", map[string]string{"text": "x"}); kindOf(err) != UnknownTool || !strings.Contains(err.Error(), "no longer") {
			t.Errorf("a removed tool: %v, want unknown_tool saying it is gone", err)
		}
	})
}

func TestConcurrentCalls(t *testing.T) {
	t.Parallel()
	h := startHTTP(t, "A", "127.0.0.1:0")
	s := newSource(t, Config{}, Server{Name: "a", URL: h.URL}, stdioServer(t, "b", "B", nil))
	s.awaitReady(t)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 64 {
		wg.Go(func() {
			server, label := "a", "A"
			if i%2 == 1 {
				server, label = "b", "B"
			}
			text := fmt.Sprint("call ", i)
			res, err := s.call(t, server+"__echo", map[string]string{"text": text})
			if err == nil && res.Output != label+": "+text {
				err = fmt.Errorf("%s__echo(%q) = %q", server, text, res.Output)
			}
			if err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestCallLogLine: one line per call, with server, tool, duration and
// outcome, and nothing of the arguments or the result, at any level.
func TestCallLogLine(t *testing.T) {
	t.Parallel()
	transports(t, func(t *testing.T, srv Server, _ *httpServer) {
		s := newSource(t, Config{}, srv)
		s.awaitReady(t)
		s.mustCall(t, "t__echo", map[string]string{"text": "private-words-of-the-user"})
		s.mustCall(t, "t__fail", nil)
		_, _ = s.call(t, "t__missing", nil)
		lines := s.log.lines("mcp call")
		if len(lines) != 3 {
			t.Fatalf("%d call lines, want 3:\n%s", len(lines), s.log)
		}
		for i, want := range []struct{ tool, outcome string }{{"echo", "ok"}, {"fail", "tool_error"}, {"", "unknown_tool"}} {
			l := lines[i]
			if l["mcp_server"] != "t" || l["tool"] != want.tool || l["outcome"] != want.outcome || l["level"] != "INFO" {
				t.Errorf("line %v, want tool %q outcome %s at info", l, want.tool, want.outcome)
			}
			if d, ok := l["duration_ms"].(float64); !ok || d <= 0 {
				t.Errorf("line %v has no duration_ms", l)
			}
		}
		if log := s.log.String(); strings.Contains(log, "private-words") || strings.Contains(log, "disk is full") {
			t.Errorf("the log shows arguments or results:\n%s", log)
		}
	})
}

// TestHeadersAndSecrets: header values from environment variables reach
// the server, never another host a redirect leads to, and never the log
// or the status.
func TestHeadersAndSecrets(t *testing.T) {
	t.Parallel()
	target := startHTTP(t, "T", "127.0.0.1:0")
	// A front server that sends everything to the target, at another
	// host (another port).
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	front := &http.Server{Handler: http.RedirectHandler(target.URL, http.StatusTemporaryRedirect)}
	go func() { _ = front.Serve(ln) }()
	t.Cleanup(func() { _ = front.Close() })

	const token = "tok-5ecret-value-0123"
	lookup := func(k string) (string, bool) {
		v, ok := map[string]string{"MCP_TOKEN": token}[k]
		return v, ok
	}
	servers, err := ParseServers([]byte(fmt.Sprintf(`[
		{"name": "direct", "url": %q, "headers": {"Authorization": "Bearer ${MCP_TOKEN}", "X-Trace": "plain"}},
		{"name": "moved", "url": "http://%s/mcp?key=${MCP_TOKEN}", "headers": {"Authorization": "Bearer ${MCP_TOKEN}"}}
	]`, target.URL, ln.Addr())), lookup)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(servers[0].Secrets, token) || slices.Contains(servers[0].Secrets, "plain") {
		t.Errorf("secrets %q: want the token, not the plain header", servers[0].Secrets)
	}
	s := newSource(t, Config{}, servers...)
	s.awaitReady(t)
	if !target.sawHeader("Authorization", "Bearer "+token) || !target.sawHeader("X-Trace", "plain") {
		t.Errorf("the server did not get the configured headers")
	}
	target.hooks.mu.Lock()
	for _, h := range target.hooks.headers {
		if h.Get("Authorization") == "" && h.Get("X-Trace") == "" {
			continue
		}
		// The direct server's requests carry X-Trace; a redirected one
		// must carry no Authorization.
		if h.Get("X-Trace") == "" {
			t.Errorf("a redirected request carried the header Authorization to another host")
		}
	}
	target.hooks.mu.Unlock()
	s.mustCall(t, "moved__echo", map[string]string{"text": "x"})

	status, _ := json.Marshal(s.Status())
	for _, leak := range []string{token, ln.Addr().String(), target.addr} {
		if strings.Contains(string(status), leak) {
			t.Errorf("status %s shows %q", status, leak)
		}
	}
	target.kill()
	_, _ = s.call(t, "direct__echo", map[string]string{"text": "x"})
	s.awaitState(t, "direct", Down)
	if strings.Contains(s.log.String(), token) {
		t.Errorf("the log shows the token:\n%s", s.log)
	}
}
