package agent

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/agentgate/agentgate/internal/engine"
	"github.com/agentgate/agentgate/internal/identity"
)

// listAll pages through List as reach with pages of size, and returns the
// agents shown, every page token given, and how many pages were empty.
func listAll(t *testing.T, s *Service, size int, reach Reach) (shown, tokens []string, empty int) {
	t.Helper()
	token := ""
	for calls := 0; ; calls++ {
		if calls > 100 {
			t.Fatalf("the listing does not end: tokens %q", tokens)
		}
		page, next, err := s.List(ctx(t), token, size, reach)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) > size {
			t.Fatalf("a page of %d agents, more than %d", len(page), size)
		}
		for _, st := range page {
			shown = append(shown, st.AgentID)
		}
		if next == "" {
			return shown, tokens, empty
		}
		if len(page) == 0 {
			empty++
		}
		if next <= token {
			t.Fatalf("the token %q does not move on from %q", next, token)
		}
		tokens = append(tokens, next)
		token = next
	}
}

// TestListFiltersBeforePaging: List shows a user exactly the agents it
// reaches, in order, with any page size, and no page token names an agent
// it does not reach, also when the bound on the reads of one call ends a
// page early. Without a filter every agent is listed.
func TestListFiltersBeforePaging(t *testing.T) {
	t.Parallel()
	s, eng := newService(t, Config{})
	var all []string
	add := func(ids ...string) {
		for _, id := range ids {
			msg := &agentv1.AgentEvent{Kind: &agentv1.AgentEvent_Message{Message: &agentv1.Message{Role: agentv1.Role_ROLE_USER, Text: "x"}}}
			if _, err := eng.AppendUser(ctx(t), id, msg, engine.AppendOptions{}); err != nil {
				t.Fatal(err)
			}
			all = append(all, id)
		}
	}
	add("alice:1", "alice:2", "alicf", "bob:secret-project", "team:a", "zed")
	alice := identity.Identity{Kind: identity.KindUser, Subject: "alice", Agents: []string{"alice:*", "team:a"}, Perms: identity.Read}
	// Many patterns of hers, each followed by agents of others: one call
	// passes only so many of them.
	for i := range 3 * maxListReads {
		id := fmt.Sprintf("n:%02d", i)
		alice.Agents = append(alice.Agents, id)
		add(id+"x", id+"y")
	}
	add("n:99")
	alice.Agents = append(alice.Agents, "n:99")
	slices.Sort(all)

	var want []string
	for _, id := range all {
		if alice.Reaches(id) {
			want = append(want, id)
		}
	}
	for _, size := range []int{1, 2, 3, 100} {
		shown, tokens, empty := listAll(t, s, size, alice)
		if !slices.Equal(shown, want) {
			t.Errorf("page size %d: alice sees %q, want %q", size, shown, want)
		}
		for _, tok := range tokens {
			if slices.Contains(all, tok) && !alice.Reaches(tok) {
				t.Errorf("page size %d: the token %q is an agent of another", size, tok)
			}
		}
		if size == 1 && (len(tokens) < len(want) || empty == 0) {
			t.Errorf("page size 1: %d tokens for %d agents, %d empty pages; want the bound to end a page before it held one", len(tokens), len(want), empty)
		}
	}
	if shown, _, _ := listAll(t, s, 7, nil); !slices.Equal(shown, all) {
		t.Errorf("without a filter: %q, want every agent %q", shown, all)
	}
	nobody := identity.Identity{Kind: identity.KindUser, Subject: "x", Perms: identity.Read}
	if page, next, err := s.List(ctx(t), "", 10, nobody); err != nil || len(page) != 0 || next != "" {
		t.Errorf("an identity that reaches nothing: %v %q %v; want an empty last page", page, next, err)
	}
	for _, bad := range []string{"a b", strings.Repeat("a", MaxIDLen+1)} {
		if _, _, err := s.List(ctx(t), bad, 10, nil); KindOf(err) != KindInvalidArgument {
			t.Errorf("page token %.20q: %v, want invalid_argument", bad, err)
		}
	}
}
