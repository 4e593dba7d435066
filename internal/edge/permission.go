package edge

import (
	"context"
	"errors"
	"net/http"

	"connectrpc.com/connect"
	"github.com/agentgate/agentgate/gen/agent/v1/agentv1connect"
	"github.com/agentgate/agentgate/internal/agent"
	"github.com/agentgate/agentgate/internal/errcode"
	"github.com/agentgate/agentgate/internal/identity"
)

// need is what a procedure needs of its caller on the agent it names.
type need struct {
	perm identity.Permission
	// anyone: the procedure names no agent, and everyone may call it;
	// what it shows is filtered by Identity.Reaches (ListAgents).
	anyone bool
}

// needOf is the permission table: every procedure of agent.v1.AgentService
// and what it needs. A procedure it does not know needs Admin, so that a
// method added to the service is refused to users until its row says
// otherwise (and TestEveryProcedureHasARow fails until it does).
func needOf(procedure string) (need, bool) {
	switch procedure {
	case agentv1connect.AgentServiceGetHistoryProcedure,
		agentv1connect.AgentServiceGetAgentProcedure,
		agentv1connect.AgentServiceSubscribeProcedure:
		return need{perm: identity.Read}, true
	case agentv1connect.AgentServiceSendMessageProcedure,
		agentv1connect.AgentServiceConverseProcedure,
		agentv1connect.AgentServiceCancelRunProcedure,
		agentv1connect.AgentServiceSubmitToolResultProcedure,
		agentv1connect.AgentServiceDecideToolCallProcedure:
		return need{perm: identity.Write}, true
	case agentv1connect.AgentServiceDeleteAgentProcedure:
		return need{perm: identity.Admin}, true
	case agentv1connect.AgentServiceListAgentsProcedure:
		return need{anyone: true}, true
	}
	return need{perm: identity.Admin}, false
}

// authorizeCall checks that the caller in ctx may call procedure on
// agentID: nil, or the Connect error to end the call with. An identity
// that may do everything passes at once. For a user, an agent id that is
// not one is refused as the service would refuse it (invalid_argument),
// before any permission is looked at; otherwise Identity.Allows decides
// (for a procedure without a row, on Admin).
// A context without an identity, while authentication is on, is refused:
// the request did not come through the edge.
func (p *Policy) authorizeCall(ctx context.Context, procedure, agentID string) error {
	id, ok := identityIn(ctx)
	switch {
	case !ok && p.Authenticates():
		return connect.NewError(connect.CodeUnauthenticated, errors.New("the call was not authenticated"))
	case id.Unlimited():
		return nil
	}
	n, known := needOf(procedure)
	var err error
	switch {
	case n.anyone:
		return nil
	case !known && agentID == "":
		// A method that names no agent: its permission alone decides.
		if id.Perms&n.perm != n.perm {
			err = &identity.Denied{Subject: id.Subject, Missing: n.perm, Reason: "scope"}
		}
	case known && agent.ValidateID(agentID) != nil:
		return invalidID(agent.ValidateID(agentID))
	default:
		err = id.Allows(agentID, n.perm)
	}
	var d *identity.Denied
	if errors.As(err, &d) {
		return deniedRefusal(d).ConnectError()
	}
	return nil
}

// invalidID is the Connect error of an agent id that is not one: the
// service's own answer (errcode), so that a user learns the same as
// everyone.
func invalidID(err error) error {
	var ae *agent.Error
	if !errors.As(err, &ae) {
		return connect.NewError(connect.CodeInvalidArgument, err)
	}
	code, _ := errcode.Of(ae.Kind)
	return connect.NewError(code, errors.New(ae.Msg))
}

// Authorize checks, outside a call, that the caller of r may do perm to
// agentID, which the caller has validated: a socket's upgrade (Read, for
// its push), a door's request (Write), the console (Admin). A refusal (403
// permission_denied) is observed; the caller answers it.
func (p *Policy) Authorize(r *http.Request, d Door, agentID string, perm identity.Permission) *Refusal {
	ref := p.authorizeStep(r.Context(), agentID, perm)
	if ref != nil {
		p.refused(r, d, ref)
	}
	return ref
}

// authorizeStep is Authorize without observing: nil, or the refusal.
func (p *Policy) authorizeStep(ctx context.Context, agentID string, perm identity.Permission) *Refusal {
	id, ok := identityIn(ctx)
	var err error
	switch {
	case !ok && p.Authenticates():
		err = &identity.Denied{AgentID: agentID, Missing: perm, Reason: "scope"}
	default:
		err = id.Allows(agentID, perm)
	}
	var denied *identity.Denied
	if !errors.As(err, &denied) {
		return nil
	}
	return deniedRefusal(denied)
}
