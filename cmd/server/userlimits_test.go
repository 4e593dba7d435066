package main

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"

	"connectrpc.com/connect"
	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/agentgate/agentgate/gen/agent/v1/agentv1connect"
	"github.com/agentgate/agentgate/internal/identity/identitytest"
	"github.com/golang-jwt/jwt/v5"
	"github.com/gorilla/websocket"
)

// userToken is an HS256 token of sub for its own agents (sub:*), as the
// replicas of TestUserLimitsAcrossReplicas verify them.
func userToken(t *testing.T, sub string) string {
	t.Helper()
	claims := identitytest.Claims(time.Now(), "https://idp.example.test/", "agentgate", sub, jwt.MapClaims{"agents": []string{sub + ":*"}})
	return identitytest.SignWith(t, jwt.SigningMethodHS256, "", []byte(replicaSecret), claims)
}

const replicaSecret = "the replicas' HS256 secret, 0123456789"

// userClient is a Connect client of p with tok.
func (p *process) userClient(t *testing.T, tok string) agentv1connect.AgentServiceClient {
	return agentv1connect.NewAgentServiceClient(h2cClient(t), p.url(), connect.WithInterceptors(connect.UnaryInterceptorFunc(
		func(next connect.UnaryFunc) connect.UnaryFunc {
			return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
				req.Header().Set("Authorization", "Bearer "+tok)
				return next(ctx, req)
			}
		})))
}

// userSocket opens a socket of tok on p's agentID, or returns the status
// of the refusal.
func (p *process) userSocket(t *testing.T, agentID, tok string) (*websocket.Conn, int) {
	t.Helper()
	d := websocket.Dialer{Subprotocols: []string{"agent.v1", "bearer." + tok}, HandshakeTimeout: 10 * time.Second}
	c, res, err := d.Dial("ws://127.0.0.1:"+p.port+"/ws/agent/"+agentID, nil)
	if err != nil {
		if res == nil {
			t.Fatalf("dial: %v", err)
		}
		return nil, res.StatusCode
	}
	t.Cleanup(func() { c.Close() })
	return c, http.StatusSwitchingProtocols
}

// TestUserLimitsAcrossReplicas: two replicas on one Redis share each
// user's allowance of messages (USER_MESSAGE_RATE) and of open connections
// (USER_MAX_CONNECTIONS): what one replica let through counts on the other,
// and a connection closed on one frees a place on the other. Each user
// has limits of their own.
func TestUserLimitsAcrossReplicas(t *testing.T) {
	t.Parallel()
	_, ps := replicas(t, 2, "AUTH_JWT_SECRET="+replicaSecret, "AUTH_JWT_ISSUER=https://idp.example.test/",
		"AUTH_JWT_AUDIENCE=agentgate", "USER_MESSAGE_RATE=3", "USER_MAX_CONNECTIONS=2")
	a, b := ps[0], ps[1]
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	alice := userToken(t, "alice")
	sendAs := func(p *process, tok, agentID string) error {
		_, err := p.userClient(t, tok).SendMessage(ctx, connect.NewRequest(&agentv1.SendMessageRequest{AgentId: agentID, Text: "hi"}))
		return err
	}
	for i, p := range []*process{a, b, a} {
		if err := sendAs(p, alice, "alice:1"); err != nil {
			t.Fatalf("message %d: %v", i+1, err)
		}
	}
	for name, p := range map[string]*process{"A": a, "B": b} {
		err := sendAs(p, alice, "alice:1")
		var ce *connect.Error
		retry := 0
		if connect.CodeOf(err) == connect.CodeResourceExhausted && errors.As(err, &ce) {
			retry, _ = strconv.Atoi(ce.Meta().Get("Retry-After"))
		}
		if retry < 1 || retry > 20 {
			t.Errorf("a fourth message on %s: %v (Retry-After %d), want resource_exhausted with when to retry", name, err, retry)
		}
	}
	bob := userToken(t, "bob")
	if err := sendAs(b, bob, "bob:1"); err != nil {
		t.Fatalf("bob's first message: %v", err)
	}

	first, _ := a.userSocket(t, "alice:1", alice)
	if _, status := b.userSocket(t, "alice:2", alice); status != http.StatusSwitchingProtocols || first == nil {
		t.Fatalf("alice's two sockets: %v, %d", first != nil, status)
	}
	for name, p := range map[string]*process{"A": a, "B": b} {
		if _, status := p.userSocket(t, "alice:3", alice); status != http.StatusTooManyRequests {
			t.Errorf("a third socket on %s: %d, want 429", name, status)
		}
	}
	if _, status := a.userSocket(t, "bob:1", bob); status != http.StatusSwitchingProtocols {
		t.Errorf("bob's socket: %d", status)
	}
	// Closed on A, its place is free on B once A has seen the close.
	_ = first.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
	_, _, _ = first.ReadMessage()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, status := b.userSocket(t, "alice:3", alice)
		if status == http.StatusSwitchingProtocols {
			break
		}
		if status != http.StatusTooManyRequests || time.Now().After(deadline) {
			t.Fatalf("a socket on B after one closed on A: %d", status)
		}
		time.Sleep(10 * time.Millisecond) // a bounded poll of the refusal
	}
}
