package agui

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/agentgate/agentgate/internal/nodetest"
)

// schemaDir holds the pinned @ag-ui/core 1.0.0 that the responder's test
// upstream uses (scripts/setup.sh installs it).
const schemaDir = "../../responder/agui/testdata/upstream"

// TestFixturesAreAGUI1 checks the fixtures of the round-trip tests, and
// what the types write when a writer leaves everything optional out,
// against the official AG-UI 1.0 schemas of @ag-ui/core, each event against
// the schema of its type made strict: so the JSON the types read and write
// is AG-UI's, field names, shapes and required fields included.
func TestFixturesAreAGUI1(t *testing.T) {
	t.Parallel()
	node := nodetest.Require(t, schemaDir, "@ag-ui/core")
	script, err := os.ReadFile("testdata/validate.mjs")
	if err != nil {
		t.Fatal(err)
	}
	var stdin bytes.Buffer
	var names []string
	add := func(kind string, value []byte) {
		line, err := json.Marshal(map[string]any{"kind": kind, "value": json.RawMessage(value)})
		if err != nil {
			t.Fatal(err)
		}
		stdin.Write(append(line, '\n'))
		names = append(names, string(value))
	}
	for _, line := range eventFixtures(t) {
		add("event", line)
	}
	add("input", inputFixture(t))
	add("input", encode(t, RunAgentInput{ThreadID: "t", RunID: "r"}))
	add("event", encode(t, ToolCallResult{Type: TypeToolCallResult, MessageID: "m", ToolCallID: "c"}))

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "--input-type=module", "-e", string(script))
	cmd.Dir = schemaDir // where @ag-ui/core resolves from
	cmd.Stdin = &stdin
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, stderr.String())
	}
	verdicts := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(verdicts) != len(names) {
		t.Fatalf("%d verdicts for %d values:\n%s", len(verdicts), len(names), out)
	}
	for i, v := range verdicts {
		if v != "ok" {
			t.Errorf("the AG-UI 1.0 schema refused %s: %s", names[i], v)
		}
	}
}
