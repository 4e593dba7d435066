package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/agentgate/agentgate/internal/agent"
	"github.com/agentgate/agentgate/tool"
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
	// A client's longer result is refused. Default 64 KiB.
	ResultMaxBytes int
	// Client is CLIENT_TOOLS: client tools every client lends, a JSON
	// array of AG-UI Tools ({"name", "description", "parameters"}), or
	// @path to a file with one. Default none.
	Client []tool.Def
	// Approval is TOOL_APPROVAL: a comma list of the server tools whose
	// calls wait for a person's decision, or * for all. Default none.
	Approval []string
	// MaxSteps is MAX_STEPS: how many times one run may call the model.
	// Default agent.DefaultMaxSteps.
	MaxSteps int
	// ContextTokens is CONTEXT_TOKENS: the most tokens of context a step
	// sends the model, estimated at four bytes a token; 0 for no bound
	// beyond MAX_CONTEXT_BYTES. Default 0.
	ContextTokens int
}

func (p *parser) tools() Tools {
	return Tools{
		MCPServers:     p.mcpServers("MCP_SERVERS"),
		Timeout:        p.duration("TOOL_TIMEOUT", tool.DefaultTimeout, 10*time.Millisecond, time.Hour),
		ResultMaxBytes: p.int("TOOL_RESULT_MAX_BYTES", tool.DefaultMaxResultBytes, 1<<10, 16<<20),
		Client:         p.clientTools("CLIENT_TOOLS"),
		Approval:       p.toolNames("TOOL_APPROVAL"),
		MaxSteps:       p.int("MAX_STEPS", agent.DefaultMaxSteps, 1, 1000),
		ContextTokens:  p.int("CONTEXT_TOKENS", 0, 0, 100_000_000),
	}
}

// clientTools reads CLIENT_TOOLS: inline JSON, or @path to a file of it.
// Each tool is checked as a client's are (agent.ValidateDef), and names
// must be distinct.
func (p *parser) clientTools(name string) []tool.Def {
	v, ok := p.get(name)
	if !ok {
		return nil
	}
	shown, raw := v, []byte(v)
	if path, isFile := strings.CutPrefix(v, "@"); isFile {
		b, err := os.ReadFile(path)
		if err != nil {
			p.fail(name, shown, fmt.Sprintf("cannot read the file: %v", err))
			return nil
		}
		raw = b
	} else if len(shown) > 60 {
		shown = shown[:60] + "…"
	}
	var defs []tool.Def
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&defs); err != nil {
		p.fail(name, shown, fmt.Sprintf(`want a JSON array of tools such as [{"name": "get_location", "description": "…", "parameters": {"type": "object"}}], or @path to a file of one: %v`, err))
		return nil
	}
	if len(defs) > agent.MaxClientTools {
		p.fail(name, shown, fmt.Sprintf("%d tools; the limit is %d", len(defs), agent.MaxClientTools))
		return nil
	}
	seen := map[string]bool{}
	for _, d := range defs {
		if err := agent.ValidateDef(d); err != nil {
			p.fail(name, shown, err.Error())
			return nil
		}
		if seen[d.Name] {
			p.fail(name, shown, fmt.Sprintf("tool %q is defined twice", d.Name))
			return nil
		}
		seen[d.Name] = true
	}
	return defs
}

// toolNames reads a comma list of tool names, or *.
func (p *parser) toolNames(name string) []string {
	list := p.list(name)
	for _, n := range list {
		if n != "*" && !tool.ValidName(n) {
			p.fail(name, n, "want a comma list of tool names (a-z A-Z 0-9 _ -, as the model sees them), or * for every server tool")
			return nil
		}
	}
	return list
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
