package mcp

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/agentgate/agentgate/tool"
)

func TestToolName(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 70)
	for _, c := range []struct{ server, tool, want string }{
		{"files", "read_file", "files__read_file"},
		{"gh", "get-issue", "gh__get-issue"},
		{"a", "_b", "a___b"},
		{"files", "read.file", "files__read_file_" + hash("read.file")},
		{"files", "read_file!", "files__read_file__" + hash("read_file!")},
		{"w", "météo", "w__m_t_o_" + hash("météo")},
		{"s", "", "s___" + hash("")},
		{"s", long, "s__" + long[:64-3-9] + "_" + hash(long)},
		{strings.Repeat("n", 32), strings.Repeat("t", 30), strings.Repeat("n", 32) + "__" + strings.Repeat("t", 30)},
		{strings.Repeat("n", 32), strings.Repeat("t", 31), strings.Repeat("n", 32) + "__" + strings.Repeat("t", 21) + "_" + hash(strings.Repeat("t", 31))},
	} {
		got := toolName(c.server, c.tool)
		if got != c.want {
			t.Errorf("toolName(%q, %q) = %q, want %q", c.server, c.tool, got, c.want)
		}
		if !tool.ValidName(got) {
			t.Errorf("%q is not a valid tool name", got)
		}
		if server, _ := serverOf(got); server != c.server {
			t.Errorf("%q reads as server %q, want %q", got, server, c.server)
		}
	}
	// Names that sanitize alike stay apart.
	if toolName("s", "a.b") == toolName("s", "a_b") || toolName("s", "a.b") == toolName("s", "a:b") {
		t.Error("names that differ by a replaced character collide")
	}
}

// hash is the suffix a changed name gets: 8 hex digits of the SHA-256 of
// the server's name of the tool.
func hash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:4])
}
