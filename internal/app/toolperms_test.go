package app_test

import (
	"strings"
	"testing"

	"connectrpc.com/connect"
	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/golang-jwt/jwt/v5"
)

// TestToolAnswersNeedWrite: SubmitToolResult and DecideToolCall need
// agents:write on the agent they name, on Connect in every protocol and
// on the socket: a read-only token is refused with permission_denied
// naming the agent and agents:write, and a token of another user's agent
// with permission_denied naming the agent, before the service looks for
// the call. A writer's answer reaches the service (which knows no such
// call: not_found).
func TestToolAnswersNeedWrite(t *testing.T) {
	t.Parallel()
	srv, logs := startSecretGateway(t, nil)
	ctx := testCtx(t)
	reader := hsToken(t, aliceClaims(jwt.MapClaims{"scope": "agents:read"}))
	writer := hsToken(t, aliceClaims(nil))
	bob := hsToken(t, claimsOf("bob", jwt.MapClaims{"agents": []string{"bob:*"}}))
	tokens := []struct{ name, tok, says string }{
		{"a reader", reader, `this token may not do this to agent "alice:1": it needs the scope agents:write`},
		{"bob", bob, `this token does not reach agent "alice:1"`},
		{"alice", writer, ""},
	}

	for _, p := range threeProtocols {
		for _, who := range tokens {
			c := jwtClient(t, srv, p, who.tok)
			_, errResult := c.SubmitToolResult(ctx, connect.NewRequest(&agentv1.SubmitToolResultRequest{
				AgentId: "alice:1", ToolCallId: "call-1", Result: &agentv1.SubmitToolResultRequest_Output{Output: "42"}}))
			_, errDecision := c.DecideToolCall(ctx, connect.NewRequest(&agentv1.DecideToolCallRequest{
				AgentId: "alice:1", ToolCallId: "call-1", Approve: true}))
			for method, err := range map[string]error{"SubmitToolResult": errResult, "DecideToolCall": errDecision} {
				what := p.name + ": " + who.name + "'s " + method
				if who.says == "" {
					if connect.CodeOf(err) != connect.CodeNotFound {
						t.Errorf("%s: %v, want not_found from the service", what, err)
					}
					continue
				}
				wantDenied(t, what, err, who.says)
			}
		}
	}

	// Over the socket: bob may not open alice's agent's socket, and a frame
	// on his own that names hers is refused.
	if c, res := dial(t, wsURL(srv, "alice:1", "subscribe=false"), nil, "agent.v1", "bearer."+bob); c != nil || res.StatusCode != 403 {
		t.Errorf("bob's socket to alice:1: %d, want 403", res.StatusCode)
	}
	frames := func(agent string) []string {
		return []string{
			`{"id":"r","method":"SubmitToolResult","request":{"agentId":"` + agent + `","toolCallId":"call-1","output":"42"}}`,
			`{"id":"d","method":"DecideToolCall","request":{"agentId":"` + agent + `","toolCallId":"call-1","approve":true}}`,
		}
	}
	for _, tc := range []struct {
		who, tok, socket, code, says string
	}{
		{"a reader", reader, "alice:1", "permission_denied", tokens[0].says},
		{"bob", bob, "bob:1", "permission_denied", `the request names "alice:1"`},
		{"alice", writer, "alice:1", "not_found", ""},
	} {
		c, res := dial(t, wsURL(srv, tc.socket, ""), nil, "agent.v1", "bearer."+tc.tok)
		if c == nil {
			t.Fatalf("%s's socket: %d", tc.who, res.StatusCode)
		}
		for _, frame := range frames("alice:1") {
			if f := frameAnswer(t, c, frame); f.Error == nil || f.Error.Code != tc.code || !strings.Contains(f.Error.Message, tc.says) {
				t.Errorf("%s: %s: %s, want %s saying %q", tc.who, frame, f.raw, tc.code, tc.says)
			}
		}
	}
	_ = srv.Stop()
	for _, method := range []string{"SubmitToolResult", "DecideToolCall"} {
		wantLogged(t, logs, "msg=rpc", "procedure=/agent.v1.AgentService/"+method, "protocol=websocket", "code=permission_denied", "reason=scope")
		wantLogged(t, logs, "msg=rpc", "procedure=/agent.v1.AgentService/"+method, "protocol=grpc", "code=permission_denied", "subject=bob", "reason=agent")
	}
}
