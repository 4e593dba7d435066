// Command gateway is a test program: the whole gateway, configured by the
// environment as the server binary is, with tooltest.Model as its
// responder and tooltest.ServerTools as its server tools. The TypeScript
// client's and the console's tests start it (TOOL_APPROVAL=transfer makes
// transfers wait for a person; CLIENT_TOOLS lends client tools to every
// client), since they need tool calls, which the echo responder does not
// make.
package main

import (
	"fmt"
	"os"

	"github.com/agentgate/agentgate"
	"github.com/agentgate/agentgate/internal/tooltest"
	"github.com/agentgate/agentgate/tool"
)

func main() {
	tools, err := tooltest.ServerTools()
	if err != nil {
		fmt.Fprintf(os.Stderr, "gateway: %v\n", err)
		os.Exit(1)
	}
	os.Exit(agentgate.Main(agentgate.Options{Responder: tooltest.Model, Tools: []tool.Source{tools}, Version: "tooltest"}))
}
