// Command server runs the agent gateway: the typed agent API (Connect, gRPC,
// gRPC-Web), the WebSocket bridge, the AG-UI and AI SDK doors, the console,
// metrics and the health probes, on one port.
//
// It is configured by environment variables only (see README.md); a bad value
// is reported in one line naming the variable, with exit status 2. The
// agents' logic is the responder RESPONDER chooses; to run the gateway with
// your own, see package agentgate.
package main

import (
	"os"
	"runtime/debug"

	"github.com/agentgate/agentgate"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = ""

func main() {
	os.Exit(agentgate.Main(agentgate.Options{Version: buildVersion()}))
}

// buildVersion is the -ldflags version, or the module version and VCS
// revision recorded by the Go toolchain.
func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				return s.Value
			}
		}
		if bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			return bi.Main.Version
		}
	}
	return "dev"
}
