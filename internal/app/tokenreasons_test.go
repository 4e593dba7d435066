package app_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"connectrpc.com/connect"
	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/agentgate/agentgate/internal/apptest"
	"github.com/agentgate/agentgate/internal/identity/identitytest"
	"github.com/golang-jwt/jwt/v5"
)

// refusalMessages are the messages every way in answers tok with, by
// door: a SendMessage in each protocol of the typed API, the socket's
// upgrade, and an AG-UI run.
func refusalMessages(t *testing.T, srv *apptest.Server, tok string) map[string]string {
	t.Helper()
	ctx := testCtx(t)
	got := map[string]string{}
	for _, p := range threeProtocols {
		_, err := jwtClient(t, srv, p, tok).SendMessage(ctx, connect.NewRequest(&agentv1.SendMessageRequest{AgentId: "alice:1", Text: "hi"}))
		if connect.CodeOf(err) != connect.CodeUnauthenticated {
			t.Fatalf("%s: %v, want unauthenticated", p.name, err)
		}
		var ce *connect.Error
		if !errors.As(err, &ce) {
			t.Fatalf("%s: %v is no Connect error", p.name, err)
		}
		got[p.name] = ce.Message()
	}
	c, res := dial(t, wsURL(srv, "alice:1", ""), nil, "agent.v1", "bearer."+tok)
	if c != nil || res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("the socket: %d, want 401", res.StatusCode)
	}
	var e struct{ Code, Message string }
	_ = json.NewDecoder(res.Body).Decode(&e)
	got["socket"] = e.Message
	res, body := doAs(t, ctx, tok, http.MethodPost, srv.URL+"/agui/alice:1", "application/json",
		`{"threadId":"alice:1","runId":"r1","messages":[{"id":"m1","role":"user","content":"hi"}]}`)
	_ = json.Unmarshal([]byte(body), &e)
	if res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("the AG-UI door: %d, want 401", res.StatusCode)
	}
	got["agui"] = e.Message
	return got
}

// TestTokenRefusalsSayWhy: a token the gateway refuses is told what is
// wrong with it, on every way in, in the verifier's words (its audience is
// not this gateway's, its key is unknown, it is no service token), and
// the log's refusal line says it too, as its detail, never with the
// token. Why the key set cannot be fetched (the provider's address) is
// the log's alone.
func TestTokenRefusalsSayWhy(t *testing.T) {
	t.Parallel()
	rs := identitytest.NewRSA(t, "k1")
	srv, _, logs := startJWKSGateway(t, nil, nil, rs)
	wrongAudience := rs.Sign(t, aliceClaims(jwt.MapClaims{"aud": "another-gateway"}))
	unknownKey := identitytest.NewRSA(t, "k9").Sign(t, aliceClaims(nil))
	for _, tc := range []struct {
		name, tok string
		says      []string
	}{
		{"another audience", wrongAudience, []string{`the token's audience "another-gateway" does not include AUTH_JWT_AUDIENCE`}},
		{"an unknown key", unknownKey, []string{`the token's key "k9" is not among AUTH_JWKS_URL's keys`}},
		{"a mistyped service token", "not-the-service-token-0123", []string{"the token is not one of this gateway's AUTH_TOKENS", "not a well-formed JWT"}},
	} {
		for door, msg := range refusalMessages(t, srv, tc.tok) {
			for _, says := range tc.says {
				if !strings.Contains(msg, says) {
					t.Errorf("%s at %s: %q, want it to say %q", tc.name, door, msg, says)
				}
			}
			if strings.Contains(msg, tc.tok) {
				t.Errorf("%s at %s: the message holds the token", tc.name, door)
			}
		}
	}

	// The provider cannot be reached: the client is told so, the log
	// where.
	gone := httptest.NewServer(http.NotFoundHandler())
	addr := gone.Listener.Addr().String()
	gone.Close()
	down := &apptest.LogBuffer{}
	dead := apptest.Start(t, jwtEnv(map[string]string{"AUTH_JWKS_URL": "http://" + addr + "/jwks"}), capture(down))
	for door, msg := range refusalMessages(t, dead, rs.Sign(t, aliceClaims(nil))) {
		if !strings.Contains(msg, "the key set cannot be fetched now") || strings.Contains(msg, addr) {
			t.Errorf("the key set down, at %s: %q; want that it cannot be fetched now, without where", door, msg)
		}
	}

	_ = srv.Stop()
	_ = dead.Stop()
	wantLogged(t, logs, `msg="request refused"`, "reason=invalid_token", "door=grpc", `detail="the token's audience \"another-gateway\" does not include AUTH_JWT_AUDIENCE"`)
	wantLogged(t, logs, `msg="websocket refused"`, "reason=invalid_token", `detail="the token's key \"k9\" is not among AUTH_JWKS_URL's keys`)
	wantLogged(t, logs, `msg="request refused"`, "reason=invalid_token", "door=agui", `detail="the token is not one of this gateway's AUTH_TOKENS; the token is not a well-formed JWT`)
	wantLogged(t, down, `msg="request refused"`, "reason=invalid_token", "door=connect", "the key set cannot be fetched: GET failed", addr)
	for _, tok := range []string{wrongAudience, unknownKey, "not-the-service-token-0123"} {
		if strings.Contains(logs.String(), tok) {
			t.Fatalf("a token is in the logs: %.20s…", tok)
		}
	}
}
