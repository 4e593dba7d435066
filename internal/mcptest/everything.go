package mcptest

import (
	"bufio"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/agentgate/agentgate/internal/freeport"
	"github.com/agentgate/agentgate/internal/nodetest"
)

// everythingPkg is the MCP project's reference server, installed by
// scripts/setup.sh in tool/mcp/testdata/everything.
const everythingPkg = "@modelcontextprotocol/server-everything"

// Everything returns the command that runs the reference server over
// stdio: node and the server's script. Without node or the package, the
// test is skipped (failed in CI), as nodetest.Require says.
func Everything(t testing.TB) []string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot find the repository")
	}
	dir := filepath.Join(filepath.Dir(file), "..", "..", "tool", "mcp", "testdata", "everything")
	node := nodetest.Require(t, dir, everythingPkg)
	return []string{node, filepath.Join(dir, "node_modules", everythingPkg, "dist", "index.js")}
}

// EverythingHTTP runs the reference server in its streamableHttp mode on a
// free loopback port until the test ends, and returns its endpoint once it
// listens.
func EverythingHTTP(t testing.TB) string {
	t.Helper()
	command := Everything(t)
	for range 5 {
		port, err := freeport.Loopback()
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(command[0], command[1], "streamableHttp")
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
			go func() { // the rest, so that it never blocks on a full pipe
				for lines.Scan() {
				}
			}()
			return "http://127.0.0.1:" + strconv.Itoa(port) + "/mcp"
		}
		stop() // another process took the port after freeport found it
	}
	t.Fatal("the reference server did not listen on any of 5 ports")
	return ""
}

// listening reads the reference server's standard error until it says it
// listens (true), that its port is taken, or it ends (false).
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
