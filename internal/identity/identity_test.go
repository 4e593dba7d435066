package identity

import (
	"errors"
	"testing"
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
