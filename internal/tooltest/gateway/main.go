// Command gateway is a test program: the whole gateway, configured by the
// environment as the server binary is, with tooltest.Responder as its
// responder and tooltest.ServerTools as its server tools, since the Node
// tests need tool calls, runs of several steps, run errors and slow
// replies, which the echo responder does not make. ECHO_DELAY paces the
// slow replies (default 50ms); TOOL_APPROVAL=transfer makes transfers wait
// for a person; CLIENT_TOOLS lends client tools to every client.
package main

import (
	"fmt"
	"os"
	"time"

	"github.com/agentgate/agentgate"
	"github.com/agentgate/agentgate/internal/tooltest"
	"github.com/agentgate/agentgate/tool"
)

func main() {
	// A program with its own responder reads no responder variable, so
	// ECHO_DELAY is read here.
	var delay time.Duration
	if v, ok := os.LookupEnv("ECHO_DELAY"); ok {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			fmt.Fprintf(os.Stderr, "gateway: invalid ECHO_DELAY=%q: want a duration such as 100ms\n", v)
			os.Exit(2)
		}
		delay = d
	}
	os.Exit(agentgate.Main(agentgate.Options{
		Responder: tooltest.Responder{Delay: delay}, Tools: []tool.Source{tooltest.ServerTools()}, Version: "tooltest",
	}))
}
