package app_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// TestConsoleSocketNeedsAnOperator: the console's socket says so
// (console=true), and the edge then wants agents:admin on the agent at
// the upgrade (403 permission_denied, naming the scope, logged with the
// subject) and at every refresh; the same token's plain socket keeps the
// push's rule (agents:read). The rule holds on a socket that opened as an
// operator's: a refresh to a token without agents:admin is refused, and
// the socket goes on with the token it had.
func TestConsoleSocketNeedsAnOperator(t *testing.T) {
	t.Parallel()
	srv, logs := startSecretGateway(t, nil)
	user := hsToken(t, aliceClaims(nil))
	admin := hsToken(t, aliceClaims(jwt.MapClaims{"scope": "agents:read agents:write agents:admin"}))

	c, res := dial(t, wsURL(srv, "alice:1", "console=true"), nil, "agent.v1", "bearer."+user)
	if c != nil || res.StatusCode != http.StatusForbidden {
		t.Fatalf("the console's socket with a user's token: %d, want 403", res.StatusCode)
	}
	body, _ := io.ReadAll(res.Body)
	if !strings.Contains(string(body), `"permission_denied"`) || !strings.Contains(string(body), "agents:admin") {
		t.Errorf("the refusal's body: %s; want permission_denied naming agents:admin", body)
	}
	for _, query := range []string{"", "console=false"} {
		if c, res := dial(t, wsURL(srv, "alice:1", query), nil, "agent.v1", "bearer."+user); c == nil {
			t.Errorf("a plain socket (%q) with a user's token: %d, want 101", query, res.StatusCode)
		}
	}

	c, res = dial(t, wsURL(srv, "alice:1", "console=true&after_seq=0"), nil, "agent.v1", "bearer."+admin)
	if c == nil {
		t.Fatalf("the console's socket with an operator's token: %d, want 101", res.StatusCode)
	}
	f := frameAnswer(t, c, `{"id":"r1","refresh":{"token":"`+user+`"}}`)
	if f.Error == nil || f.Error.Code != "permission_denied" || !strings.Contains(f.Error.Message, "agents:admin") {
		t.Errorf("a refresh of the console's socket to a user's token: %s; want permission_denied naming agents:admin", f.raw)
	}
	if f := frameAnswer(t, c, `{"id":"r2","refresh":{"token":"`+hsToken(t, aliceClaims(jwt.MapClaims{"scope": "agents:admin"}))+`"}}`); f.Error != nil {
		t.Errorf("a refresh to another operator's token of hers: %s", f.raw)
	}
	if f := frameAnswer(t, c, `{"id":"h","method":"GetAgent"}`); f.Error != nil && f.Error.Code != "not_found" {
		t.Errorf("the console's socket after the refused refresh: %s", f.raw)
	}
	_ = srv.Stop()
	wantLogged(t, logs, "door=websocket", "reason=scope", "subject=alice")
	wantLogged(t, logs, `msg="websocket refresh refused"`, "reason=scope", "subject=alice")
	if strings.Contains(logs.String(), user) || strings.Contains(logs.String(), admin) {
		t.Fatal("a token is in the logs")
	}
}
