package config

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/agentgate/agentgate/responder"
	"github.com/agentgate/agentgate/tool"
)

func TestToolsDefaults(t *testing.T) {
	t.Parallel()
	c, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Tools.MCPServers != nil || c.Tools.Timeout != 60*time.Second || c.Tools.ResultMaxBytes != 64<<10 {
		t.Fatalf("defaults: %+v", c.Tools)
	}
	// The defaults are the ones the tool loop, the MCP source and the
	// responders apply to a zero field, stated once.
	if c.Tools.Timeout != tool.DefaultTimeout || c.Tools.ResultMaxBytes != tool.DefaultMaxResultBytes ||
		c.Responder.MaxEventBytes != responder.DefaultMaxEventBytes {
		t.Fatalf("the environment's defaults %+v, %d differ from the packages'", c.Tools, c.Responder.MaxEventBytes)
	}
}

func TestTools(t *testing.T) {
	t.Parallel()
	c, err := Load(env(map[string]string{
		"MCP_SERVERS":           `[{"name": "notion", "url": "https://mcp.notion.com/mcp", "headers": {"Authorization": "Bearer ${NOTION_TOKEN}"}}]`,
		"NOTION_TOKEN":          "ntn-5ecret-0123",
		"TOOL_TIMEOUT":          "5s",
		"TOOL_RESULT_MAX_BYTES": "4096",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Tools.MCPServers) != 1 || c.Tools.MCPServers[0].Headers["Authorization"] != "Bearer ntn-5ecret-0123" ||
		c.Tools.Timeout != 5*time.Second || c.Tools.ResultMaxBytes != 4096 {
		t.Fatalf("parsed %+v", c.Tools)
	}
	if !slices.Contains(c.Secrets(), "ntn-5ecret-0123") {
		t.Errorf("Secrets() = %q lacks the token a header names", c.Secrets())
	}
	// A program with its own responder has server tools too.
	if c, err := LoadWith(env(map[string]string{"MCP_SERVERS": `[{"name": "a", "command": ["x"]}]`}), Options{OwnResponder: true}); err != nil || len(c.Tools.MCPServers) != 1 {
		t.Errorf("with its own responder: %+v, %v", c.Tools, err)
	}
}

func TestToolsFromFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "mcp.json")
	if err := os.WriteFile(path, []byte(`[{"name": "a", "command": ["x"], "env": {"K": "${K}"}}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(env(map[string]string{"MCP_SERVERS": "@" + path, "K": "k-5ecret-4567"}))
	if err != nil || len(c.Tools.MCPServers) != 1 || c.Tools.MCPServers[0].Env["K"] != "k-5ecret-4567" {
		t.Fatalf("@file: %+v, %v", c.Tools, err)
	}
	_, err = Load(env(map[string]string{"MCP_SERVERS": "@" + path}))
	if cerr, ok := errors.AsType[*Error](err); !ok || cerr.Var != "MCP_SERVERS" || cerr.Value != "@"+path || !strings.Contains(err.Error(), "${K}") {
		t.Errorf("an unset variable in the file: %v", err)
	}
}

func TestToolsErrors(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ name, value, want string }{
		{"MCP_SERVERS", `{"name": "a"}`, "JSON array"},
		{"MCP_SERVERS", `[{"name": "a", "url": "https://u:pw-5ecret@mcp/x", "command": ["x"]}]`, `server "a" (entry 1): set url or command, not both`},
		{"MCP_SERVERS", `[{"name": "a", "url": "http://x", "headers": {"Authorization": "${UNSET_TOKEN}"}}]`, "UNSET_TOKEN"},
		{"MCP_SERVERS", `[{"name": "a", "url": "ftp://u:pw-5ecret@mcp/x"}]`, "http:// or https://"},
		{"MCP_SERVERS", "@/nonexistent/mcp.json", "cannot read the file"},
		{"TOOL_TIMEOUT", "soon", "duration"},
		{"TOOL_TIMEOUT", "2h", "duration"},
		{"TOOL_RESULT_MAX_BYTES", "100", "whole number"},
	} {
		_, err := Load(env(map[string]string{c.name: c.value}))
		cerr, ok := errors.AsType[*Error](err)
		if !ok || cerr.Var != c.name || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s=%s: %v, want an error naming %s with %q", c.name, c.value, err, c.name, c.want)
			continue
		}
		if msg := err.Error(); strings.Contains(msg, "\n") || strings.Contains(msg, "5ecret") {
			t.Errorf("%s=%s: %q is not one line without secrets", c.name, c.value, msg)
		}
	}
}
