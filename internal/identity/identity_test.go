package identity

import (
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/agentgate/agentgate/internal/agentid"
)

func TestAllows(t *testing.T) {
	t.Parallel()
	user := Identity{Kind: KindUser, Subject: "alice", Agents: []string{"alice", "team:*"}, Perms: Read | Write}
	// An operator's token reaches every agent, whatever its agents claim,
	// and may do there what its scopes say.
	operator := Identity{Kind: KindUser, Subject: "ops", Agents: []string{"ops"}, Perms: Read | Admin}
	for _, tc := range []struct {
		id     Identity
		agent  string
		perm   Permission
		reason string // "" allowed
	}{
		{Anonymous(), "any", Admin, ""},
		{Service(), "any", Admin, ""},
		{user, "alice", Write, ""},
		{user, "team:x", Read, ""},
		{user, "team:", Read, ""},
		{user, "alice2", Read, "agent"},
		{user, "bob", Read, "agent"},
		{user, "team", Read, "agent"},
		{user, "alice", Admin, "scope"},
		{Identity{Kind: KindUser, Subject: "r", Agents: []string{"*"}, Perms: Read}, "x", Write, "scope"},
		{operator, "bob", Admin, ""},
		{operator, "bob", Read, ""},
		{operator, "bob", Write, "scope"},
		{operator, "ops", Admin, ""},
	} {
		err := tc.id.Allows(tc.agent, tc.perm)
		var d *Denied
		switch {
		case tc.reason == "" && err != nil:
			t.Errorf("%s %s %s: %v, want allowed", tc.id.Name(), tc.agent, tc.perm, err)
		case tc.reason != "" && (!errors.As(err, &d) || d.Reason != tc.reason || d.AgentID != tc.agent):
			t.Errorf("%s %s %s: %v, want a refusal for %q", tc.id.Name(), tc.agent, tc.perm, err, tc.reason)
		}
	}
}

// TestReaches: a user reaches the agents its token names, an admin and
// the callers that are not users every agent.
func TestReaches(t *testing.T) {
	t.Parallel()
	alice := Identity{Kind: KindUser, Subject: "alice", Agents: []string{"alice:*"}, Perms: Read | Write}
	for _, tc := range []struct {
		id    Identity
		agent string
		want  bool
	}{
		{alice, "alice:1", true},
		{alice, "bob", false},
		{Identity{Kind: KindUser, Subject: "adm", Agents: []string{"adm"}, Perms: Admin}, "bob", true},
		{Identity{Kind: KindUser, Subject: "adm"}, "bob", false},
		{Service(), "bob", true},
		{Anonymous(), "bob", true},
	} {
		if got := tc.id.Reaches(tc.agent); got != tc.want {
			t.Errorf("%s reaches %s: %v, want %v", tc.id.Name(), tc.agent, got, tc.want)
		}
	}
}

func TestPermissionString(t *testing.T) {
	t.Parallel()
	for p, want := range map[Permission]string{Read: "agents:read", Write: "agents:write", Admin: "agents:admin"} {
		if p.String() != want {
			t.Errorf("%d: %q, want %q", p, p.String(), want)
		}
	}
}

// TestSkip: a listing that jumps where Skip says passes no agent the
// identity reaches, and stops only when it reaches none further.
func TestSkip(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(3, 4))
	const chars = "-.:abz"
	word := func(n int) string {
		b := make([]byte, 1+r.IntN(n))
		for i := range b {
			b[i] = chars[r.IntN(len(chars))]
		}
		return string(b)
	}
	for range 500 {
		id := Identity{Kind: KindUser, Subject: "s", Perms: Read}
		for range r.IntN(4) {
			p := word(3)
			if r.IntN(2) == 0 {
				p += "*"
			}
			id.Agents = append(id.Agents, p)
		}
		for range 50 {
			pos := word(4)
			p, ok := id.Skip(pos)
			if ok && p < pos {
				t.Fatalf("%v: Skip(%q) = %q, before pos", id.Agents, pos, p)
			}
			for range 50 {
				agent := word(5)
				if agent <= pos || !id.Reaches(agent) {
					continue
				}
				if !ok || agent <= p {
					t.Fatalf("%v: Skip(%q) = %q, %v passes %q, which it reaches", id.Agents, pos, p, ok, agent)
				}
			}
		}
	}
	for _, who := range []Identity{Service(), {Kind: KindUser, Perms: Admin}} {
		if p, ok := who.Skip("x"); p != "x" || !ok {
			t.Errorf("%s: Skip(x) = %q, %v; want x, true: it reaches every agent", who.Name(), p, ok)
		}
	}
	alice := Identity{Kind: KindUser, Subject: "alice", Agents: []string{"alice:*", "team"}, Perms: Read}
	for pos, want := range map[string]string{"": agentid.Before("alice:"), "alice:3": "alice:3", "bob": agentid.Before("team")} {
		if p, ok := alice.Skip(pos); p != want || !ok {
			t.Errorf("Skip(%q) = %q, %v; want %q", pos, p, ok, want)
		}
	}
	if _, ok := alice.Skip("team"); ok {
		t.Error("Skip(team): there is more to list, it says")
	}
}
