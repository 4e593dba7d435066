package mcp

import (
	"testing"

	"github.com/agentgate/agentgate/internal/mcptest"
)

// TestEverythingServer calls the echo and get-sum tools of the MCP
// project's reference server, a TypeScript SDK server, through a Source:
// over stdio, and over Streamable HTTP.
func TestEverythingServer(t *testing.T) {
	t.Parallel()
	check := func(t *testing.T, srv Server) {
		srv.Name, srv.Tools = "everything", []string{"echo", "get-sum"}
		s := newSource(t, Config{}, srv)
		s.awaitReady(t)
		if got := s.names(); len(got) != 2 {
			t.Fatalf("tools %v, want the allowed echo and get-sum", got)
		}
		if got := s.mustCall(t, "everything__echo", map[string]string{"message": "hello"}); got.Output != "Echo: hello" || got.IsError {
			t.Errorf("echo: %+v", got)
		}
		if got := s.mustCall(t, "everything__get-sum", map[string]int{"a": 2, "b": 3}); got.Output != "The sum of 2 and 3 is 5." || got.IsError {
			t.Errorf("get-sum: %+v", got)
		}
		res, err := s.call(t, "everything__get-sum", map[string]string{"a": "two"})
		if err == nil && !res.IsError {
			t.Errorf("get-sum of a word: %+v, want an error", res)
		}
	}
	t.Run("stdio", func(t *testing.T) {
		t.Parallel()
		check(t, Server{Command: mcptest.Everything(t)})
	})
	t.Run("http", func(t *testing.T) {
		t.Parallel()
		check(t, Server{URL: mcptest.EverythingHTTP(t)})
	})
}
