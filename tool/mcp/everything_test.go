package mcp

import (
	"bufio"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/agentgate/agentgate/internal/freeport"
	"github.com/agentgate/agentgate/internal/nodetest"
)

// everythingDir holds the reference MCP test server of the MCP project,
// @modelcontextprotocol/server-everything, installed by scripts/setup.sh.
const everythingDir = "testdata/everything"

// TestEverythingServer calls the echo and get-sum tools of the MCP
// project's reference server, a TypeScript SDK server, through a Source:
// over stdio, and over Streamable HTTP.
func TestEverythingServer(t *testing.T) {
	t.Parallel()
	node := nodetest.Require(t, everythingDir, "@modelcontextprotocol/server-everything")
	index, err := filepath.Abs(filepath.Join(everythingDir, "node_modules/@modelcontextprotocol/server-everything/dist/index.js"))
	if err != nil {
		t.Fatal(err)
	}
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
		check(t, Server{Command: []string{node, index}})
	})
	t.Run("http", func(t *testing.T) {
		t.Parallel()
		port := startEverythingHTTP(t, node, index)
		check(t, Server{URL: "http://127.0.0.1:" + strconv.Itoa(port) + "/mcp"})
	})
}

// startEverythingHTTP runs the reference server in its streamableHttp mode
// on a free port, until the test ends, and returns the port once it
// listens.
func startEverythingHTTP(t *testing.T, node, index string) int {
	t.Helper()
	for range 5 {
		port, err := freeport.Loopback()
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(node, index, "streamableHttp")
		cmd.Env = append(cmd.Environ(), "PORT="+strconv.Itoa(port))
		stderr, err := cmd.StderrPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		stop := func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
		lines := bufio.NewScanner(stderr)
		if listening(lines) {
			t.Cleanup(stop)
			go func() { // the rest, until it exits
				for lines.Scan() {
				}
			}()
			return port
		}
		stop() // the port was taken after freeport found it: another
	}
	t.Fatal("the reference server did not listen on any of 5 ports")
	return 0
}

// listening reads the reference server's standard error until it says it
// listens (true), or that its port is taken, or it ends (false).
func listening(lines *bufio.Scanner) bool {
	for lines.Scan() {
		switch line := lines.Text(); {
		case strings.Contains(line, "listening on port"):
			return true
		case strings.Contains(line, "already in use"):
			return false
		}
	}
	return false
}
