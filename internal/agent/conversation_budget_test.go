package agent

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/agentgate/agentgate/responder"
)

// TestWithinBudget: the newest messages that fit are kept, oldest left out
// first; a newest message larger than the budget is cut, text first, then
// its tool calls' arguments and results, each cut on a UTF-8 boundary and
// marked, to weigh no more than the budget.
func TestWithinBudget(t *testing.T) {
	t.Parallel()
	msg := func(text string) responder.Message { return responder.Message{Role: responder.RoleUser, Text: text} }
	h := []responder.Message{msg(strings.Repeat("a", 400)), msg(strings.Repeat("b", 300)), msg(strings.Repeat("c", 300))}
	if got := withinBudget(h, 1000); len(got) != 3 {
		t.Fatalf("all fit: kept %d", len(got))
	}
	if got := withinBudget(h, 999); len(got) != 2 || got[0].Text[0] != 'b' {
		t.Fatalf("one too many: kept %d", len(got))
	}
	if got := withinBudget(nil, 10); len(got) != 0 {
		t.Fatalf("empty history: %v", got)
	}
	big := responder.Message{Role: responder.RoleAssistant, Text: "x" + strings.Repeat("é", 600), ToolCalls: []responder.ToolCall{
		{ID: "t1", Name: "write", Arguments: strings.Repeat("{", 500), Result: "ok"},
	}}
	for _, budget := range []int{0, 10, 200, 1201, 1300, 2000} {
		got := withinBudget(append(h[:1:1], big), budget)
		if len(got) != 1 {
			t.Fatalf("budget %d: kept %d messages, want the newest, cut", budget, len(got))
		}
		m := got[0]
		if n := messageBytes(m); n > max(budget, len("t1write")) {
			t.Fatalf("budget %d: cut message weighs %d", budget, n)
		}
		if !utf8.ValidString(m.Text) || len(m.ToolCalls) != 1 {
			t.Fatalf("budget %d: text valid %v, %d tool calls", budget, utf8.ValidString(m.Text), len(m.ToolCalls))
		}
		cut := strings.HasSuffix(m.Text, cutMarker) || strings.HasSuffix(m.ToolCalls[0].Arguments, cutMarker)
		switch whole := messageBytes(big); {
		case budget >= whole && (cut || m.Text != big.Text || m.ToolCalls[0] != big.ToolCalls[0]):
			t.Fatalf("budget %d: a message of %d bytes was cut", budget, whole)
		case budget >= 200 && budget < whole && !cut:
			t.Fatalf("budget %d: cut without a marker", budget)
		}
		if big.ToolCalls[0].Arguments != strings.Repeat("{", 500) {
			t.Fatal("cutting changed the caller's message")
		}
	}
}
