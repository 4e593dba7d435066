package config

import (
	"strings"
	"time"

	"github.com/agentgate/agentgate/tool/mcp"
)

// Tools are the settings of the tools the gateway runs itself.
type Tools struct {
	// MCPServers is MCP_SERVERS: the MCP servers whose tools the model may
	// call, a JSON array or @path to a file with one (see package
	// tool/mcp). Default none.
	MCPServers []mcp.Server
	// Timeout is TOOL_TIMEOUT: the bound on one call of a server tool,
	// and on each attempt to connect an MCP server. Default 60s.
	Timeout time.Duration
	// ResultMaxBytes is TOOL_RESULT_MAX_BYTES: the longest result of a
	// server tool the model is given; a longer one is cut, with a marker.
	// Default 64 KiB.
	ResultMaxBytes int
}

func (p *parser) tools() Tools {
	return Tools{
		MCPServers:     p.mcpServers("MCP_SERVERS"),
		Timeout:        p.duration("TOOL_TIMEOUT", mcp.DefaultTimeout, 10*time.Millisecond, time.Hour),
		ResultMaxBytes: p.int("TOOL_RESULT_MAX_BYTES", mcp.DefaultMaxResultBytes, 1<<10, 16<<20),
	}
}

// mcpServers reads MCP_SERVERS; the ${NAME} references of its entries are
// read through the same lookup as every variable. An error names the
// entry; the value is shown as its @path, or not at all (it may hold
// credentials).
func (p *parser) mcpServers(name string) []mcp.Server {
	v, ok := p.get(name)
	if !ok {
		return nil
	}
	servers, err := mcp.LoadServers(v, p.get)
	if err != nil {
		shown := "[…]"
		if strings.HasPrefix(v, "@") {
			shown = v
		}
		p.fail(name, shown, err.Error())
		return nil
	}
	return servers
}
