package app_test

import (
	"net/http"
	"strings"
	"testing"

	"connectrpc.com/connect"
	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/golang-jwt/jwt/v5"
)

// TestAdminReachesEveryAgent: a token with agents:admin is an operator's,
// and reaches every agent whatever its agents claim names: it reads,
// writes and deletes another's agent over Connect in every protocol and
// over that agent's socket, and may use the console on it. A user's token
// without agents:admin deletes neither another's agent nor its own.
func TestAdminReachesEveryAgent(t *testing.T) {
	t.Parallel()
	srv, logs := startSecretGateway(t, nil)
	ctx := testCtx(t)
	service := jwtClient(t, srv, h2cConnect, token)
	operator := hsToken(t, claimsOf("ops", jwt.MapClaims{"agents": []string{"ops"}, "scope": "agents:admin"}))
	alice := hsToken(t, aliceClaims(nil))

	for _, p := range threeProtocols {
		agentID := "bob:" + strings.ReplaceAll(p.name, "/", "-")
		send(ctx, t, service, agentID, "hello")
		ops := jwtClient(t, srv, p, operator)
		_, err := jwtClient(t, srv, p, alice).DeleteAgent(ctx, connect.NewRequest(&agentv1.DeleteAgentRequest{AgentId: agentID}))
		wantDenied(t, p.name+": alice deleting bob's agent", err, `does not reach agent "`+agentID+`"`)
		if r := send(ctx, t, ops, agentID, "from ops"); r.GetReply().GetMessage().GetText() != "echo: from ops" {
			t.Errorf("%s: the operator writing to bob's agent: %v", p.name, r)
		}
		if _, err := ops.GetAgent(ctx, connect.NewRequest(&agentv1.GetAgentRequest{AgentId: agentID})); err != nil {
			t.Errorf("%s: the operator reading bob's agent: %v", p.name, err)
		}
		if _, err := ops.DeleteAgent(ctx, connect.NewRequest(&agentv1.DeleteAgentRequest{AgentId: agentID})); err != nil {
			t.Errorf("%s: the operator deleting bob's agent: %v", p.name, err)
		}
		_, err = service.GetAgent(ctx, connect.NewRequest(&agentv1.GetAgentRequest{AgentId: agentID}))
		if connect.CodeOf(err) != connect.CodeNotFound {
			t.Errorf("%s: bob's agent after the operator deleted it: %v, want not_found", p.name, err)
		}
	}
	_, err := jwtClient(t, srv, h2cConnect, alice).DeleteAgent(ctx, connect.NewRequest(&agentv1.DeleteAgentRequest{AgentId: "alice:1"}))
	wantDenied(t, "alice deleting her own agent", err, "agents:admin")

	send(ctx, t, service, "bob:ws", "hello")
	c, res := dial(t, wsURL(srv, "bob:ws", ""), nil, "agent.v1", "bearer."+operator)
	if c == nil {
		t.Fatalf("the operator's socket to bob's agent: %d", res.StatusCode)
	}
	if f := frameAnswer(t, c, `{"id":"d","method":"DeleteAgent"}`); f.Error != nil {
		t.Errorf("the operator's DeleteAgent frame: %s", f.raw)
	}
	if c, res := dial(t, wsURL(srv, "bob:ws", ""), nil, "agent.v1", "bearer."+alice); c != nil || res.StatusCode != http.StatusForbidden {
		t.Errorf("alice's socket to bob's agent: %d, want 403", res.StatusCode)
	}
	if res, body := doAs(t, ctx, operator, http.MethodPost, srv.URL+"/console/check?agent=bob:ws", "", ""); res.StatusCode != http.StatusOK {
		t.Errorf("the console check of bob's agent for the operator: %d %s", res.StatusCode, body)
	}
	_ = srv.Stop()
	wantLogged(t, logs, "msg=rpc", "procedure=/agent.v1.AgentService/DeleteAgent", "code=ok", "agent=bob:", "subject=ops")
	wantLogged(t, logs, "msg=rpc", "procedure=/agent.v1.AgentService/DeleteAgent", "code=permission_denied", "subject=alice", "reason=agent")
}
