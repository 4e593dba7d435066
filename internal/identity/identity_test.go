package identity

import (
	"errors"
	"testing"
)

func TestAllows(t *testing.T) {
	t.Parallel()
	user := Identity{Kind: KindUser, Subject: "alice", Agents: []string{"alice", "team:*"}, Perms: Read | Write}
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

func TestPermissionString(t *testing.T) {
	t.Parallel()
	for p, want := range map[Permission]string{Read: "agents:read", Write: "agents:write", Admin: "agents:admin"} {
		if p.String() != want {
			t.Errorf("%d: %q, want %q", p, p.String(), want)
		}
	}
}
