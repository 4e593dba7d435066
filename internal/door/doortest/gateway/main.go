// Command gateway is a test program: the whole gateway, configured by the
// environment as the server binary is, with doortest.Scripted as its
// responder (ECHO_DELAY paces its slow replies) and doortest.Tools as its
// server tools. The doors' Node tests start it, since they need tool calls
// and run errors, which the echo responder does not make.
package main

import (
	"fmt"
	"os"
	"time"

	"github.com/agentgate/agentgate"
	"github.com/agentgate/agentgate/internal/door/doortest"
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
		Responder: doortest.Scripted{Delay: delay}, Tools: []tool.Source{doortest.Tools()}, Version: "doortest",
	}))
}
