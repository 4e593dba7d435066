package mcptest

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
)

// stdioVar, set in a process's environment, makes ServeStdioIfAsked serve
// the test server on its standard input and output; pidVar, if set, names
// a file it writes its process id to first.
const (
	stdioVar = "AGENTGATE_MCPTEST_STDIO"
	pidVar   = "AGENTGATE_MCPTEST_PIDFILE"
)

// ServeStdioIfAsked serves the test server over stdio and exits, when the
// test binary was started as its command (StdioCommand); otherwise it
// returns at once. A package whose tests use StdioCommand calls it first
// in its TestMain.
func ServeStdioIfAsked() {
	if os.Getenv(stdioVar) != "1" {
		return
	}
	if path := os.Getenv(pidVar); path != "" {
		if err := os.WriteFile(path, []byte(strconv.Itoa(os.Getpid())), 0o600); err != nil {
			fmt.Fprintln(os.Stderr, "mcptest server:", err)
			os.Exit(2)
		}
	}
	err := newServer(nil).Run(context.Background(), &sdk.StdioTransport{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "mcptest server:", err)
		os.Exit(2)
	}
	os.Exit(0)
}

// StdioCommand is the command and environment of the test server over
// stdio: the running test binary, which ServeStdioIfAsked turns into the
// server. With pidFile set, the server writes its process id there when it
// starts.
func StdioCommand(t testing.TB, pidFile string) (command []string, env map[string]string) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// GORACE: a binary built with -race waits a second before it exits,
	// unless told not to.
	env = map[string]string{stdioVar: "1", "GORACE": "atexit_sleep_ms=0"}
	if pidFile != "" {
		env[pidVar] = pidFile
	}
	return []string{exe}, env
}

// killSelf ends this process as a crash does: SIGKILL, nothing flushed.
func killSelf() {
	p, err := os.FindProcess(os.Getpid())
	if err == nil {
		_ = p.Kill()
	}
	time.Sleep(time.Minute) // until the signal lands
}
