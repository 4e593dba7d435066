package app_test

import (
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/agentgate/agentgate/internal/apptest"
	"github.com/golang-jwt/jwt/v5"
	"github.com/gorilla/websocket"
)

// TestConsole checks that the console is served by default, beside the plain
// healthcheck at /, and that CONSOLE_ENABLED=false removes it.
func TestConsole(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		env     map[string]string
		status  int
		content string
	}{
		{name: "default", env: nil, status: http.StatusOK, content: "text/html; charset=utf-8"},
		{name: "enabled", env: map[string]string{"CONSOLE_ENABLED": "true"}, status: http.StatusOK, content: "text/html; charset=utf-8"},
		{name: "disabled", env: map[string]string{"CONSOLE_ENABLED": "false"}, status: http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := apptest.Start(t, tt.env)
			client := httpClient(t, false)
			for _, path := range []string{"/console", "/console/console.js"} {
				res, err := client.Get(srv.URL + path)
				if err != nil {
					t.Fatal(err)
				}
				res.Body.Close()
				if res.StatusCode != tt.status {
					t.Errorf("GET %s: status %d, want %d", path, res.StatusCode, tt.status)
				}
			}
			res, err := client.Get(srv.URL + "/console")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if tt.status == http.StatusOK {
				if got := res.Header.Get("Content-Type"); got != tt.content {
					t.Errorf("Content-Type = %q, want %q", got, tt.content)
				}
				if !strings.Contains(string(body), "agentgate console") {
					t.Errorf("GET /console: the page is not the console: %.200s", body)
				}
			}
			// The healthcheck at / is untouched either way.
			res, err = client.Get(srv.URL + "/")
			if err != nil {
				t.Fatal(err)
			}
			body, _ = io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusOK || strings.TrimSpace(string(body)) != "OK" {
				t.Errorf("GET /: %d %q, want 200 OK", res.StatusCode, body)
			}
		})
	}
}

// TestConsoleCheck: the console's answer to "why was my socket refused?"
// runs the upgrade's checks in its order, says which failed, and whether
// retrying can help.
func TestConsoleCheck(t *testing.T) {
	t.Parallel()
	const token = "console-check-token-0123"
	srv := apptest.Start(t, map[string]string{"AUTH_TOKENS": token, "ALLOWED_ORIGINS": "https://app.example.com", "MAX_CONNECTIONS": "1"})
	client := httpClient(t, false)
	check := func(agent, auth, origin string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/console/check?agent="+agent, nil)
		if auth != "" {
			req.Header.Set("Authorization", "Bearer "+auth)
		}
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var ans map[string]any
		if err := json.NewDecoder(res.Body).Decode(&ans); err != nil {
			t.Fatalf("the answer is not JSON: %v", err)
		}
		return res.StatusCode, ans
	}
	for _, tc := range []struct {
		name, agent, auth, origin string
		status                    int
		reason                    string
		retry                     bool
		says                      string
	}{
		{"no token", "a", "", "https://app.example.com", http.StatusUnauthorized, "unauthenticated", false, "needs a token"},
		{"wrong token", "a", "wrong-token-0123456789", "https://app.example.com", http.StatusUnauthorized, "invalid_token", false, "not one of this gateway's AUTH_TOKENS"},
		{"foreign origin", "a", token, "https://evil.example.org", http.StatusForbidden, "origin", false, "is not in the gateway's ALLOWED_ORIGINS"},
		{"bad agent id", "no%20spaces", token, "https://app.example.com", http.StatusBadRequest, "invalid_argument", false, "agent_id"},
		{"all good", "a", token, "https://app.example.com", http.StatusOK, "", true, ""},
	} {
		status, ans := check(tc.agent, tc.auth, tc.origin)
		reason, _ := ans["reason"].(string)
		msg, _ := ans["message"].(string)
		if status != tc.status || reason != tc.reason || ans["retry"] != tc.retry || !strings.Contains(msg, tc.says) {
			t.Errorf("%s: %d %v, want %d reason %q retry %v saying %q", tc.name, status, ans, tc.status, tc.reason, tc.retry, tc.says)
		}
		if msg, _ := ans["message"].(string); strings.Contains(msg, token) {
			t.Errorf("%s: the answer shows the token: %q", tc.name, msg)
		}
	}

	// At MAX_CONNECTIONS the answer says so, and that retrying helps.
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/ws/agent/a?access_token="+token, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	status, ans := check("a", token, "")
	if status != http.StatusServiceUnavailable || ans["reason"] != "max_connections" || ans["retry"] != true {
		t.Fatalf("at the limit: %d %v, want 503 max_connections, retry", status, ans)
	}
}

// TestConsoleCheckIsTheUpgrades: the console's check runs the upgrade's
// own steps, so it refuses exactly what the upgrade refuses, with its
// status: a token in its verifier's leeway whose connection would end at
// once (AUTH_EXPIRY_GRACE passed), a user at USER_MAX_CONNECTIONS, a token
// refused for a reason the verifier gives, and says so in words.
func TestConsoleCheckIsTheUpgrades(t *testing.T) {
	t.Parallel()
	srv, _ := startSecretGateway(t, map[string]string{"AUTH_EXPIRY_GRACE": "0s", "USER_MAX_CONNECTIONS": "1"})
	ctx := testCtx(t)
	admin := func(changes jwt.MapClaims) string {
		c := claimsOf("ops", jwt.MapClaims{"scope": "agents:admin"})
		maps.Copy(c, changes)
		return hsToken(t, c)
	}
	held := admin(nil)
	if c, res := dial(t, wsURL(srv, "a", ""), nil, "agent.v1", "bearer."+held); c == nil {
		t.Fatalf("the operator's first socket: %d", res.StatusCode)
	}
	now := time.Now()
	for _, tc := range []struct {
		name, tok, reason, says string
		retry                   bool
	}{
		{"past its time, in the leeway", admin(jwt.MapClaims{"sub": "late", "exp": now.Add(-5 * time.Second).Unix()}), "expired_token", "expired", false},
		{"at the user's cap", held, "user_max_connections", "USER_MAX_CONNECTIONS", true},
		{"another audience", admin(jwt.MapClaims{"sub": "x", "aud": "another-gateway"}), "invalid_token", `audience "another-gateway" does not include AUTH_JWT_AUDIENCE`, false},
		{"all good", admin(jwt.MapClaims{"sub": "fresh"}), "", "", true},
	} {
		// The check first: a socket that opens gives its place back only
		// once the server has seen it close.
		checked, body := doAs(t, ctx, tc.tok, http.MethodPost, srv.URL+"/console/check?agent=a", "", "")
		c, res := dial(t, wsURL(srv, "a", ""), nil, "agent.v1", "bearer."+tc.tok)
		upgrade := res.StatusCode
		if c != nil {
			upgrade = http.StatusOK // the check answers 200 for a socket that would open
			c.Close()
		}
		res = checked
		var ans struct {
			Reason, Message string
			Retry           bool
		}
		_ = json.Unmarshal([]byte(body), &ans)
		if res.StatusCode != upgrade || ans.Reason != tc.reason || !strings.Contains(ans.Message, tc.says) || ans.Retry != tc.retry {
			t.Errorf("%s: the check %d %s, the upgrade %d; want the upgrade's status, reason %q saying %q, retry %v",
				tc.name, res.StatusCode, body, upgrade, tc.reason, tc.says, tc.retry)
		}
	}
}
