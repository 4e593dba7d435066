package identity_test

import (
	"testing"

	"github.com/agentgate/agentgate/internal/agent"
	"github.com/agentgate/agentgate/internal/identity"
)

// TestPatternsAreAgentIDs: the agents claim accepts as an exact id what
// agent.ValidateID accepts, character by character, so that a pattern can
// name any agent and nothing else.
func TestPatternsAreAgentIDs(t *testing.T) {
	t.Parallel()
	for c := range 256 {
		id := "a" + string(rune(c)) + "b"
		if c >= 0x80 {
			id = "a" + string([]byte{byte(c)}) + "b"
		}
		want := agent.ValidateID(id) == nil
		got := identity.Identity{Kind: identity.KindUser, Agents: []string{id}}.Reaches(id) && identity.CheckPattern(id) == nil
		if got != want {
			t.Errorf("byte %#x: a pattern %v, an agent id %v", c, got, want)
		}
	}
}
