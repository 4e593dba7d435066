package mcp

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func lookupOf(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := vars[k]
		return v, ok
	}
}

func TestParseServers(t *testing.T) {
	t.Parallel()
	env := lookupOf(map[string]string{"NOTION_TOKEN": "ntn-5ecret-0123", "KEY": "k-5ecret-4567", "BLANK": "  "})
	got, err := ParseServers([]byte(`[
		{"name": "notion", "url": "https://mcp.notion.com/mcp", "headers": {"Authorization": "Bearer ${NOTION_TOKEN}", "X-Client": "agentgate"}},
		{"name": "files", "command": ["npx", "-y", "@modelcontextprotocol/server-filesystem", "/data"], "env": {"API_KEY": "${KEY}", "PRICE": "$$5 or $6"}, "tools": ["read_file"]},
		{"name": "q", "url": "http://user:pw-5ecret-89@mcp.internal:3001/mcp?key=${KEY}"}
	]`), env)
	if err != nil {
		t.Fatal(err)
	}
	want := []Server{
		{Name: "notion", URL: "https://mcp.notion.com/mcp",
			Headers: map[string]string{"Authorization": "Bearer ntn-5ecret-0123", "X-Client": "agentgate"},
			Secrets: []string{"Bearer ntn-5ecret-0123", "ntn-5ecret-0123"}},
		{Name: "files", Command: []string{"npx", "-y", "@modelcontextprotocol/server-filesystem", "/data"},
			Env: map[string]string{"API_KEY": "k-5ecret-4567", "PRICE": "$5 or $6"}, Tools: []string{"read_file"},
			Secrets: []string{"k-5ecret-4567"}},
		{Name: "q", URL: "http://user:pw-5ecret-89@mcp.internal:3001/mcp?key=k-5ecret-4567",
			Secrets: []string{"k-5ecret-4567", "pw-5ecret-89"}},
	}
	for i := range got {
		slices.Sort(got[i].Secrets)
		slices.Sort(want[i].Secrets)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("parsed\n%+v\nwant\n%+v", got, want)
	}
	if got[0].Transport() != "http" || got[1].Transport() != "stdio" {
		t.Errorf("transports %s, %s", got[0].Transport(), got[1].Transport())
	}
	if servers, err := ParseServers([]byte(` [] `), env); err != nil || len(servers) != 0 {
		t.Errorf("an empty array: %v, %v", servers, err)
	}
}

// TestBadServers: each mistake is one line that names the entry and says
// what is wrong, without a secret.
func TestBadServers(t *testing.T) {
	t.Parallel()
	env := lookupOf(map[string]string{"TOKEN": "tok-5ecret-0123"})
	for _, c := range []struct{ json, want string }{
		{`{"name": "a"}`, "JSON array"},
		{`[{"name": "a", "url": "http://x"`, "JSON array"},
		{`[1]`, "entry 1"},
		{`[{"name": "a", "url": "http://x", "timeout": 5}]`, `server "a" (entry 1): unknown field "timeout"`},
		{`[{"url": "http://x"}]`, "entry 1: want a name"},
		{`[{"name": "", "url": "http://x"}]`, "entry 1: want a name"},
		{`[{"name": "a b", "url": "http://x"}]`, "cannot prefix tool names"},
		{`[{"name": "a__b", "url": "http://x"}]`, "cannot prefix tool names"},
		{`[{"name": "a_", "url": "http://x"}]`, "cannot prefix tool names"},
		{`[{"name": "_a", "url": "http://x"}]`, "cannot prefix tool names"},
		{`[{"name": "` + strings.Repeat("a", 33) + `", "url": "http://x"}]`, "cannot prefix tool names"},
		{`[{"name": "a", "url": "http://x"}, {"name": "a", "command": ["x"]}]`, `server "a" (entry 2): the name is taken by entry 1`},
		{`[{"name": "a"}]`, "want a url"},
		{`[{"name": "a", "url": "http://x", "command": ["x"]}]`, "not both"},
		{`[{"name": "a", "url": "ftp://x"}]`, "http:// or https://"},
		{`[{"name": "a", "url": "mcp.example.com/mcp"}]`, "http:// or https://"},
		{`[{"name": "a", "url": "https://u:tok-5ecret-0123@/mcp"}]`, "http:// or https://"},
		{`[{"name": "a", "url": "http://x/?k=${UNSET}"}]`, "url names ${UNSET}, which is not set"},
		{`[{"name": "a", "url": "http://x", "headers": {"Authorization": "Bearer ${UNSET}"}}]`, "headers.Authorization names ${UNSET}, which is not set"},
		{`[{"name": "a", "url": "http://x", "headers": {"A": "${TOKEN"}}]`, "${ without its }"},
		{`[{"name": "a", "url": "http://x", "headers": {"A": "${1X}"}}]`, "not a variable name"},
		{`[{"name": "a", "url": "http://x", "headers": {"Bad Name": "v"}}]`, "header name"},
		{`[{"name": "a", "url": "http://x", "headers": {"A": "v\nw"}}]`, "line break"},
		{`[{"name": "a", "url": "http://x", "headers": {"A": 1}}]`, `"headers" must be an object of strings`},
		{`[{"name": "a", "url": "http://x", "env": {"A": "v"}}]`, "env is for command servers"},
		{`[{"name": "a", "command": ["x"], "headers": {"A": "v"}}]`, "headers are for url servers"},
		{`[{"name": "a", "command": "npx server"}]`, `"command" must be a list of strings`},
		{`[{"name": "a", "command": [""]}]`, "command must start with the program"},
		{`[{"name": "a", "command": ["x"], "env": {"1A": "v"}}]`, "env name"},
		{`[{"name": "a", "command": ["x"], "env": {"A": "${UNSET}"}}]`, "env.A names ${UNSET}"},
		{`[{"name": "a", "command": ["x"], "tools": []}]`, "tools is empty"},
		{`[{"name": "a", "command": ["x"], "tools": [""]}]`, "empty name"},
		{`[{"name": "a", "command": ["x"], "tools": "echo"}]`, `"tools" must be a list`},
		{`[{"name": 5, "command": ["x"]}]`, `"name" must be a string`},
	} {
		_, err := ParseServers([]byte(c.json), env)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.json, err, c.want)
			continue
		}
		if msg := err.Error(); strings.Contains(msg, "\n") || strings.Contains(msg, "5ecret") {
			t.Errorf("%s: %q is not one line without secrets", c.json, msg)
		}
	}
}

func TestLoadServersFromFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "mcp.json")
	if err := os.WriteFile(path, []byte(`[{"name": "a", "command": ["x"]}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := LoadServers(" @"+path+" ", lookupOf(nil))
	if err != nil || len(got) != 1 || got[0].Name != "a" {
		t.Fatalf("@file: %+v, %v", got, err)
	}
	big := filepath.Join(dir, "big.json")
	if err := os.WriteFile(big, make([]byte, maxFileBytes+1), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ value, want string }{
		{"@" + filepath.Join(dir, "missing.json"), "cannot read the file"},
		{"@" + dir, "regular file"},
		{"@/dev/zero", "regular file"},
		{"@" + big, "larger than"},
	} {
		if _, err := LoadServers(c.value, lookupOf(nil)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.value, err, c.want)
		}
	}
}

func TestEscapeValue(t *testing.T) {
	t.Parallel()
	for _, v := range []string{"plain", "$", "$$", "${X}", "a$${b}$", "$$$"} {
		got, err := ParseServers([]byte(`[{"name": "a", "command": ["x"], "env": {"V": "`+EscapeValue(v)+`"}}]`), lookupOf(nil))
		if err != nil || got[0].Env["V"] != v {
			t.Errorf("%q escaped reads back as %+v, %v", v, got, err)
		}
	}
}

// FuzzParseServers: any input is servers or one line of error, never a
// panic, and what parses is valid for New.
func FuzzParseServers(f *testing.F) {
	f.Add(`[{"name": "a", "url": "http://x/${K}", "headers": {"Authorization": "Bearer ${K}"}}]`)
	f.Add(`[{"name": "b", "command": ["x", "y"], "env": {"A": "$$${K}"}, "tools": ["t"]}]`)
	f.Add(`[{"name": "c", "url": "https://u:p@h:1/p?q=${K}&r"}]`)
	f.Add(`[{"name":"a","url":"http://x"},{"name":"a","command":["x"]}]`)
	f.Fuzz(func(t *testing.T, in string) {
		servers, err := ParseServers([]byte(in), lookupOf(map[string]string{"K": "value-of-k"}))
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error on two lines: %q", err)
			}
			return
		}
		if err := (Config{Servers: servers}).check(); err != nil {
			t.Fatalf("parsed %+v, refused by New: %v", servers, err)
		}
	})
}
