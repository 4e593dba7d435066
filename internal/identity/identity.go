// Package identity says who is calling and what they may do. Every way in
// (Connect, gRPC and gRPC-Web calls, the WebSocket's upgrade and each of its
// frames, the frontend doors, the console) turns its credentials into an
// Identity at the edge (package edge), and asks the Identity, for each call,
// whether it reaches the agent the call names with the permission the
// method needs.
//
// Three kinds of caller exist. With no authentication configured, every
// caller is Anonymous and may do everything (the server warns at start). A
// service token (AUTH_TOKENS) is a Service identity, with every permission
// on every agent. A user's token (a JWT) is a User identity: its subject,
// the agents it names (exact ids, or prefixes ending in '*'), its scopes,
// and when it expires.
//
// One rule says which agents a User reaches: the agents its token names,
// or every agent when it has Admin (the scope agents:admin, which grants
// agents:read and agents:write too). An admin token is an operator's
// (deleting, listing every agent, the console, the metrics), and an
// operator's work is not bounded by the agents claim: it may do
// everything to every agent, as a service token may, and is still logged
// and limited as the user it is.
package identity

import (
	"fmt"
	"strings"
	"time"

	"github.com/agentgate/agentgate/internal/agentid"
)

// Permission is what a call does to an agent.
type Permission uint8

// The permissions, from the scopes agents:read, agents:write and
// agents:admin.
const (
	// Read: history, the agent's description, following its events.
	Read Permission = 1 << iota
	// Write: sending messages, cancelling runs, tool results, decisions.
	Write
	// Admin: deleting agents, listing every agent, the console. An
	// identity with Admin reaches every agent (see Identity.Reaches).
	Admin
)

// String is the scope that grants p: agents:read, agents:write or
// agents:admin.
func (p Permission) String() string {
	switch p {
	case Read:
		return "agents:read"
	case Write:
		return "agents:write"
	case Admin:
		return "agents:admin"
	}
	return fmt.Sprintf("Permission(%d)", uint8(p))
}

// Kind tells the three kinds of caller apart.
type Kind uint8

// The kinds of identity.
const (
	// KindAnonymous: no authentication is configured; everything is allowed.
	KindAnonymous Kind = iota
	// KindService: a service token of AUTH_TOKENS; everything is allowed.
	KindService
	// KindUser: a verified JWT; its agents and scopes say what is allowed.
	KindUser
)

// Identity is a caller, as its credentials prove it. The zero value is
// Anonymous.
type Identity struct {
	Kind Kind
	// Subject is the token's sub claim; empty for Anonymous and Service.
	Subject string
	// Agents are the agent ids a User may use: exact ids, or prefixes
	// ending in '*' ("alice:*"). Ignored for the other kinds.
	Agents []string
	// Perms are a User's permissions. Ignored for the other kinds.
	Perms Permission
	// Expires is when the credentials stop being valid; zero for never.
	// A connection opened with them lives no longer (plus a grace).
	Expires time.Time
}

// Anonymous is the caller when no authentication is configured.
func Anonymous() Identity { return Identity{Kind: KindAnonymous} }

// Service is the caller of a valid service token.
func Service() Identity { return Identity{Kind: KindService} }

// Unlimited reports whether the identity may do everything: it is not a
// User's.
func (id Identity) Unlimited() bool { return id.Kind != KindUser }

// Name is how logs name the caller: the subject of a User, "service" or
// "anonymous". It is never a credential.
func (id Identity) Name() string {
	switch id.Kind {
	case KindService:
		return "service"
	case KindUser:
		return id.Subject
	}
	return "anonymous"
}

// Reaches reports whether the identity may use agentID at all, whatever the
// permission: ListAgents shows a User only these. A User reaches the
// agents its token names, and every agent if it has Admin.
func (id Identity) Reaches(agentID string) bool {
	if id.ReachesAll() {
		return true
	}
	for _, p := range id.Agents {
		if prefix, ok := strings.CutSuffix(p, "*"); ok {
			if strings.HasPrefix(agentID, prefix) {
				return true
			}
		} else if p == agentID {
			return true
		}
	}
	return false
}

// Skip says where a listing of the agents in id order goes on after pos
// (an agent the identity does not reach, or a position to list after):
// the greatest position p ≥ pos such that the identity reaches no agent
// whose id sorts after pos and at or before p, so that the listing may
// jump there without passing one it reaches. ok is false when the
// identity reaches no agent after pos at all. p is pos itself, or the
// position just before one of the identity's own patterns
// (agentid.Before): it never tells the caller of an agent it does not
// reach. Skip reads every pattern once.
func (id Identity) Skip(pos string) (p string, ok bool) {
	if id.ReachesAll() {
		return pos, true
	}
	next, found := "", false
	for _, a := range id.Agents {
		start, prefix := strings.CutSuffix(a, "*")
		switch {
		case prefix && strings.HasPrefix(pos, start):
			return pos, true // the agents just after pos may be its own
		case start > pos && (!found || start < next):
			next, found = start, true
		}
	}
	if !found {
		return "", false
	}
	return agentid.Before(next), true
}

// ReachesAll reports whether the identity reaches every agent: it is not a
// User's, or it has Admin.
func (id Identity) ReachesAll() bool {
	return id.Unlimited() || id.Perms&Admin != 0
}

// Allows returns nil if the identity may do what perm says to agentID, and
// otherwise a *Denied that names the agent and what is missing.
func (id Identity) Allows(agentID string, perm Permission) error {
	if id.Unlimited() {
		return nil
	}
	if !id.Reaches(agentID) {
		return &Denied{Subject: id.Subject, AgentID: agentID, Reason: "agent"}
	}
	if id.Perms&perm != perm {
		return &Denied{Subject: id.Subject, AgentID: agentID, Missing: perm, Reason: "scope"}
	}
	return nil
}

// Denied is a refusal of Allows: permission_denied (HTTP 403) for the
// client, with a message that names the agent and what is missing.
type Denied struct {
	Subject string
	AgentID string
	// Missing is the permission lacking when Reason is "scope".
	Missing Permission
	// Reason is "agent" (the agent is not the identity's) or "scope" (the
	// token lacks the permission), for logs and metrics.
	Reason string
}

func (d *Denied) Error() string {
	if d.Reason == "scope" {
		return fmt.Sprintf("this token may not do this to agent %q: it needs the scope %s", d.AgentID, d.Missing)
	}
	return fmt.Sprintf("this token does not reach agent %q", d.AgentID)
}
