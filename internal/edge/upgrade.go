package edge

import (
	"net/http"

	"connectrpc.com/connect"
	"github.com/agentgate/agentgate/internal/agent"
	"github.com/agentgate/agentgate/internal/auth"
	"github.com/agentgate/agentgate/internal/identity"
)

// A socket's upgrade meets the policy in steps, in this order; the
// bridge runs them, each observing its refusal, and answers the first
// refusal before the upgrade:
//
//  1. the token (AuthenticateUpgrade): 401;
//  2. the agent id (CheckAgentID): 400; then the bridge's own checks of
//     the request (its query, that it is an upgrade);
//  3. the page's origin (CheckOrigin): 403;
//  4. what the socket needs of its caller on the agent (Authorize): 403;
//  5. a place (Admit): the token's time with the grace (401),
//     MAX_CONNECTIONS and CONNECTION_RATE (503), the user's
//     USER_MAX_CONNECTIONS (429).
//
// A browser sees none of these answers: a refused upgrade is a socket
// closed with 1006. CheckUpgrade runs the same steps dry, for a page that
// asks why (the console).

// CheckAgentID refuses, with 400 invalid_argument, an agent id that is not
// one (the service's own words, agent.ValidateID), and observes the
// refusal (reason bad_agent_id).
func (p *Policy) CheckAgentID(r *http.Request, d Door, agentID string) *Refusal {
	ref := agentIDStep(agentID)
	if ref != nil {
		p.refused(r, d, ref)
	}
	return ref
}

// agentIDStep is CheckAgentID without observing.
func agentIDStep(agentID string) *Refusal {
	if err := agent.ValidateID(agentID); err != nil {
		return &Refusal{Status: http.StatusBadRequest, Code: connect.CodeInvalidArgument, Reason: "bad_agent_id", Message: err.Error()}
	}
	return nil
}

// CheckUpgrade runs the policy's steps of a socket's upgrade to agentID
// (see above) dry, for r, a request that asks why its socket was refused,
// which carries the socket's token as an Authorization header and the
// page's Origin; perm is what the socket needs of its caller on the agent.
// It returns the first step's refusal, or nil when nothing stands in the
// way now. It observes nothing (the upgrade observed the refusal it
// explains) and keeps nothing: no place, no rate token (see admitStep).
// Since the steps are the upgrade's own, the answer cannot drift from the
// upgrade's; only the bridge's checks of the query and of the handshake
// are left out, the page's socket being the page's to get right.
func (p *Policy) CheckUpgrade(r *http.Request, agentID string, perm identity.Permission) *Refusal {
	token, _ := auth.BearerToken(r.Header.Get("Authorization"))
	id, ref := p.tokenStep(r.Context(), token, "a valid token is required")
	if ref != nil {
		return ref
	}
	ctx := WithIdentity(r.Context(), id)
	if ref := agentIDStep(agentID); ref != nil {
		return ref
	}
	if ref := p.originStep(r); ref != nil {
		return ref
	}
	if ref := p.authorizeStep(ctx, agentID, perm); ref != nil {
		return ref
	}
	_, ref = p.admitStep(ctx, true)
	return ref
}
