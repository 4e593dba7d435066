package app_test

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"maps"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/agentgate/agentgate/gen/agent/v1/agentv1connect"
	"github.com/agentgate/agentgate/internal/app"
	"github.com/agentgate/agentgate/internal/apptest"
	"github.com/agentgate/agentgate/internal/identity"
	"github.com/agentgate/agentgate/internal/identity/identitytest"
	"github.com/golang-jwt/jwt/v5"
	"github.com/gorilla/websocket"
)

// The users' tokens of these tests come from an identity provider of the
// test: its issuer and the audience of the gateway, and for HS256 the
// shared secret.
const (
	jwtIssuer   = "https://idp.example.test/"
	jwtAudience = "agentgate"
	jwtSecret   = "the-gateway's-HS256-secret-0123456789"
)

// jwtEnv is the environment of a gateway that takes the service token and
// users' JWTs, with extra on top.
func jwtEnv(extra map[string]string) map[string]string {
	env := map[string]string{"AUTH_TOKENS": token, "AUTH_JWT_ISSUER": jwtIssuer, "AUTH_JWT_AUDIENCE": jwtAudience}
	maps.Copy(env, extra)
	return env
}

// startJWKSGateway runs a gateway that verifies users' tokens with the
// keys of a key set endpoint it serves, with extra variables, and returns
// it with the endpoint and its logs.
func startJWKSGateway(t *testing.T, extra map[string]string, opts []func(*app.Options), keys ...identitytest.Key) (*apptest.Server, *identitytest.JWKS, *apptest.LogBuffer) {
	t.Helper()
	jwks := identitytest.NewJWKS(t, keys...)
	logs := &apptest.LogBuffer{}
	env := jwtEnv(extra)
	env["AUTH_JWKS_URL"] = jwks.URL + "/jwks"
	return apptest.Start(t, env, append(opts, capture(logs))...), jwks, logs
}

// startSecretGateway runs a gateway that verifies users' HS256 tokens of
// jwtSecret, with extra variables.
func startSecretGateway(t *testing.T, extra map[string]string) (*apptest.Server, *apptest.LogBuffer) {
	t.Helper()
	logs := &apptest.LogBuffer{}
	env := jwtEnv(extra)
	env["AUTH_JWT_SECRET"] = jwtSecret
	return apptest.Start(t, env, capture(logs)), logs
}

// claimsOf are the claims of a valid token of sub, issued now, with
// changes (a nil value deletes a claim).
func claimsOf(sub string, changes jwt.MapClaims) jwt.MapClaims {
	return identitytest.Claims(time.Now(), jwtIssuer, jwtAudience, sub, changes)
}

// hsToken is an HS256 token of jwtSecret.
func hsToken(t *testing.T, claims jwt.MapClaims) string {
	t.Helper()
	return identitytest.SignWith(t, jwt.SigningMethodHS256, "", []byte(jwtSecret), claims)
}

// aliceClaims are alice's: her agents alice:*, with changes.
func aliceClaims(changes jwt.MapClaims) jwt.MapClaims {
	c := claimsOf("alice", jwt.MapClaims{"agents": []string{"alice:*"}})
	maps.Copy(c, changes)
	return c
}

// jwtClient is a Connect client of srv in protocol p with tok.
func jwtClient(t *testing.T, srv *apptest.Server, p protocol, tok string) agentv1connect.AgentServiceClient {
	return agentv1connect.NewAgentServiceClient(httpClient(t, p.h2c), srv.URL, append(p.opts, connect.WithInterceptors(bearer(tok)))...)
}

// The three protocols of the typed API, over h2c.
var threeProtocols = allProtocols[:3]

// everyDoor says how every way in answers tok for agentID, by door: the
// Connect code of a SendMessage in each protocol ("ok" when it is
// answered), the HTTP status of a socket's upgrade (101 when it opens),
// of the console's socket (console=true), of an AG-UI run and of an AI
// SDK chat, and the console check's status and reason.
func everyDoor(t *testing.T, srv *apptest.Server, tok, agentID string) map[string]string {
	t.Helper()
	ctx := testCtx(t)
	got := map[string]string{}
	for _, p := range threeProtocols {
		_, err := jwtClient(t, srv, p, tok).SendMessage(ctx, connect.NewRequest(&agentv1.SendMessageRequest{AgentId: agentID, Text: "hi"}))
		name, _, _ := strings.Cut(p.name, "/")
		got[name] = codeOf(err)
	}
	c, res := dial(t, wsURL(srv, agentID, ""), nil, "agent.v1", "bearer."+tok)
	got["socket"] = strconv.Itoa(res.StatusCode)
	if c != nil {
		c.Close()
	}
	c, res = dial(t, wsURL(srv, agentID, "console=true"), nil, "agent.v1", "bearer."+tok)
	got["console socket"] = strconv.Itoa(res.StatusCode)
	if c != nil {
		c.Close()
	}
	res, _ = doAs(t, ctx, tok, http.MethodPost, srv.URL+"/agui/"+agentID, "application/json",
		`{"threadId":"`+agentID+`","runId":"r1","messages":[{"id":"m-`+agentID+`","role":"user","content":"hi"}]}`)
	got["agui"] = strconv.Itoa(res.StatusCode)
	res, _ = doAs(t, ctx, tok, http.MethodPost, srv.URL+"/ai/chat", "application/json",
		`{"id":"`+agentID+`","messages":[{"id":"c-`+agentID+`","role":"user","parts":[{"type":"text","text":"hi"}]}]}`)
	got["aisdk"] = strconv.Itoa(res.StatusCode)
	res, body := doAs(t, ctx, tok, http.MethodPost, srv.URL+"/console/check?agent="+agentID, "", "")
	var ans struct{ Reason string }
	_ = json.Unmarshal([]byte(body), &ans)
	got["console"] = strings.TrimSpace(strconv.Itoa(res.StatusCode) + " " + ans.Reason)
	return got
}

// codeOf is the Connect code of err, or "ok".
func codeOf(err error) string {
	if err == nil {
		return "ok"
	}
	return connect.CodeOf(err).String()
}

// answers are the answers of everyDoor to a kind of token. The console's
// socket is refused with the status of the console check's answer, which
// explains that refusal to the page.
func answers(connectCode, socket, doors, console string) map[string]string {
	consoleSocket, _, _ := strings.Cut(console, " ")
	if consoleSocket == "200" {
		consoleSocket = "101"
	}
	return map[string]string{"connect": connectCode, "grpc": connectCode, "grpcweb": connectCode,
		"socket": socket, "console socket": consoleSocket, "agui": doors, "aisdk": doors, "console": console}
}

// TestJWTAlgorithms: users' tokens signed with HS256 (AUTH_JWT_SECRET) or
// with RS256, ES256 or EdDSA keys of the provider's key set
// (AUTH_JWKS_URL) open every door to the user's own agents, and the logs
// name the user.
func TestJWTAlgorithms(t *testing.T) {
	t.Parallel()
	rs, es, ed := identitytest.NewRSA(t, "rsa-1"), identitytest.NewEC(t, "ec-1"), identitytest.NewEd(t, "ed-1")
	keySet, _, keyLogs := startJWKSGateway(t, nil, nil, rs, es, ed)
	secret, secretLogs := startSecretGateway(t, nil)
	for _, tc := range []struct {
		alg string
		srv *apptest.Server
		tok string
	}{
		{"HS256", secret, hsToken(t, aliceClaims(nil))},
		{"RS256", keySet, rs.Sign(t, aliceClaims(nil))},
		{"ES256", keySet, es.Sign(t, aliceClaims(nil))},
		{"EdDSA", keySet, ed.Sign(t, aliceClaims(nil))},
	} {
		agentID := "alice:" + tc.alg
		want := answers("ok", "101", "200", "403 permission_denied") // the console needs agents:admin
		if got := everyDoor(t, tc.srv, tc.tok, agentID); !maps.Equal(got, want) {
			t.Errorf("%s: %v, want %v", tc.alg, got, want)
		}
	}
	for _, logs := range []*apptest.LogBuffer{keyLogs, secretLogs} {
		wantLogged(t, logs, "msg=rpc", "code=ok", "agent=alice:", "subject=alice")
		wantLogged(t, logs, "msg=door door=agui", "status=200", "subject=alice")
	}
}

// rsaPublicPEM is the PEM of k's public key, as a provider publishes it
// and as an attacker would use it for an HS256 secret.
func rsaPublicPEM(t *testing.T, k identitytest.Key) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(k.Key.Public())
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// TestJWTRefusedEverywhere: every token a gateway must not take is
// refused on every way in with the code that tells the client what to do:
// unauthenticated (401) for a token that proves nothing (expired, not
// valid yet, from another issuer or for another audience, unsigned,
// signed with the RSA public key as an HS256 secret, forged with another
// key), permission_denied (403) for a good token of another agent, or one
// that may only read and sends; the console needs agents:admin. The logs
// say who and why, and never hold a token.
func TestJWTRefusedEverywhere(t *testing.T) {
	t.Parallel()
	rs, es := identitytest.NewRSA(t, "k1"), identitytest.NewEC(t, "k2")
	mallory := identitytest.NewRSA(t, "k1") // the kid of the provider's key, another key
	srv, _, logs := startJWKSGateway(t, nil, nil, rs, es)
	now := time.Now()
	unauthenticated := answers("unauthenticated", "401", "401", "401 invalid_token")
	var tokens []string
	for _, tc := range []struct {
		name string
		tok  string
		want map[string]string
	}{
		{"expired", rs.Sign(t, aliceClaims(jwt.MapClaims{"iat": now.Add(-10 * time.Minute).Unix(), "exp": now.Add(-2 * time.Minute).Unix()})),
			answers("unauthenticated", "401", "401", "401 expired_token")},
		{"not valid yet", es.Sign(t, aliceClaims(jwt.MapClaims{"nbf": now.Add(2 * time.Minute).Unix()})), unauthenticated},
		{"another issuer", rs.Sign(t, aliceClaims(jwt.MapClaims{"iss": "https://evil.example.test/"})), unauthenticated},
		{"another audience", rs.Sign(t, aliceClaims(jwt.MapClaims{"aud": "another-gateway"})), unauthenticated},
		{"alg none", identitytest.Unsigned(t, aliceClaims(nil)), unauthenticated},
		{"HS256 with the RSA public key", identitytest.SignWith(t, jwt.SigningMethodHS256, "k1", rsaPublicPEM(t, rs), aliceClaims(nil)), unauthenticated},
		{"forged with another key", mallory.Sign(t, aliceClaims(nil)), unauthenticated},
		{"an unknown key", identitytest.NewEd(t, "k9").Sign(t, aliceClaims(nil)), unauthenticated},
		{"not a JWT", "alice-please", unauthenticated},
		{"another's agent", rs.Sign(t, claimsOf("bob", jwt.MapClaims{"agents": []string{"bob:*"}})),
			answers("permission_denied", "403", "403", "403 permission_denied")},
		{"read only, sending", rs.Sign(t, aliceClaims(jwt.MapClaims{"scope": "agents:read"})),
			answers("permission_denied", "101", "403", "403 permission_denied")},
		{"read and write", rs.Sign(t, aliceClaims(nil)), answers("ok", "101", "200", "403 permission_denied")},
		{"admin", es.Sign(t, aliceClaims(jwt.MapClaims{"scope": "agents:read agents:write agents:admin"})), answers("ok", "101", "200", "200")},
		{"the service token", token, answers("ok", "101", "200", "200")},
	} {
		tokens = append(tokens, tc.tok)
		if got := everyDoor(t, srv, tc.tok, "alice:1"); !maps.Equal(got, tc.want) {
			t.Errorf("%s: %v\nwant %v", tc.name, got, tc.want)
		}
	}

	// A read-only socket follows, and each frame that writes is refused.
	c, res := dial(t, wsURL(srv, "alice:1", ""), nil, "agent.v1", "bearer."+rs.Sign(t, aliceClaims(jwt.MapClaims{"scope": "agents:read"})))
	if c == nil {
		t.Fatalf("the reader's socket: %d", res.StatusCode)
	}
	for frame, code := range map[string]string{
		`{"id":"s","method":"SendMessage","request":{"text":"hi"}}`: "permission_denied",
		`{"id":"c","method":"CancelRun"}`:                           "permission_denied",
		`{"id":"d","method":"DeleteAgent"}`:                         "permission_denied",
		`{"id":"h","method":"GetHistory"}`:                          "",
	} {
		f := frameAnswer(t, c, frame)
		if got := ""; f.Error != nil {
			got = f.Error.Code
			if got != code {
				t.Errorf("%s: %s, want %s", frame, f.raw, code)
			}
		} else if code != "" {
			t.Errorf("%s: %s, want %s", frame, f.raw, code)
		}
	}

	_ = srv.Stop()
	wantLogged(t, logs, `msg="request refused"`, "reason=expired_token", "door=agui")
	wantLogged(t, logs, `msg="websocket refused"`, "reason=invalid_token")
	wantLogged(t, logs, `msg="request refused"`, "reason=invalid_token", "door=grpcweb")
	wantLogged(t, logs, "msg=rpc", "code=permission_denied", "agent=alice:1", "subject=bob", "reason=agent")
	wantLogged(t, logs, "msg=rpc", "protocol=websocket", "code=permission_denied", "subject=alice", "reason=scope")
	wantLogged(t, logs, "msg=door door=aisdk", "status=403", "subject=alice", "reason=scope")
	for _, tok := range tokens {
		if strings.Contains(logs.String(), tok) {
			t.Fatalf("a token is in the logs: %.40s…", tok)
		}
	}
}

// TestJWTRefusedEverywhereWithASecret: the same refusals on a gateway that
// verifies users' HS256 tokens with AUTH_JWT_SECRET, on every way in: a
// token that proves nothing is unauthenticated (expired, not valid yet,
// from another issuer or for another audience, unsigned, signed with
// another secret or with an RSA key, not a JWT), one of another's agent or
// that may only read and sends is permission_denied, and the console
// needs agents:admin. The logs say who and why, and never hold a token.
func TestJWTRefusedEverywhereWithASecret(t *testing.T) {
	t.Parallel()
	srv, logs := startSecretGateway(t, nil)
	now := time.Now()
	signed := func(secret string, claims jwt.MapClaims) string {
		return identitytest.SignWith(t, jwt.SigningMethodHS256, "", []byte(secret), claims)
	}
	unauthenticated := answers("unauthenticated", "401", "401", "401 invalid_token")
	var tokens []string
	for _, tc := range []struct {
		name string
		tok  string
		want map[string]string
	}{
		{"expired", hsToken(t, aliceClaims(jwt.MapClaims{"iat": now.Add(-10 * time.Minute).Unix(), "exp": now.Add(-2 * time.Minute).Unix()})),
			answers("unauthenticated", "401", "401", "401 expired_token")},
		{"not valid yet", hsToken(t, aliceClaims(jwt.MapClaims{"nbf": now.Add(2 * time.Minute).Unix()})), unauthenticated},
		{"another issuer", hsToken(t, aliceClaims(jwt.MapClaims{"iss": "https://evil.example.test/"})), unauthenticated},
		{"another audience", hsToken(t, aliceClaims(jwt.MapClaims{"aud": "another-gateway"})), unauthenticated},
		{"no exp", hsToken(t, aliceClaims(jwt.MapClaims{"exp": nil})), unauthenticated},
		{"alg none", identitytest.Unsigned(t, aliceClaims(nil)), unauthenticated},
		{"another secret", signed("another-secret-of-32-bytes-or-more!!", aliceClaims(nil)), unauthenticated},
		{"RS256 to the secret", identitytest.NewRSA(t, "k1").Sign(t, aliceClaims(nil)), unauthenticated},
		{"not a JWT", "alice-please", unauthenticated},
		{"another's agent", hsToken(t, claimsOf("bob", jwt.MapClaims{"agents": []string{"bob:*"}})),
			answers("permission_denied", "403", "403", "403 permission_denied")},
		{"read only, sending", hsToken(t, aliceClaims(jwt.MapClaims{"scope": "agents:read"})),
			answers("permission_denied", "101", "403", "403 permission_denied")},
		{"read and write", hsToken(t, aliceClaims(nil)), answers("ok", "101", "200", "403 permission_denied")},
		{"admin", hsToken(t, aliceClaims(jwt.MapClaims{"scope": "agents:read agents:write agents:admin"})), answers("ok", "101", "200", "200")},
		{"the service token", token, answers("ok", "101", "200", "200")},
	} {
		tokens = append(tokens, tc.tok)
		if got := everyDoor(t, srv, tc.tok, "alice:1"); !maps.Equal(got, tc.want) {
			t.Errorf("%s: %v\nwant %v", tc.name, got, tc.want)
		}
	}
	_ = srv.Stop()
	wantLogged(t, logs, `msg="request refused"`, "reason=expired_token", "door=aisdk")
	wantLogged(t, logs, `msg="websocket refused"`, "reason=invalid_token", "signature does not match AUTH_JWT_SECRET")
	wantLogged(t, logs, `msg="request refused"`, "reason=invalid_token", "door=grpc", "signed with RS256; AUTH_JWT_SECRET verifies HS256 only")
	wantLogged(t, logs, "msg=rpc", "code=permission_denied", "agent=alice:1", "subject=bob", "reason=agent")
	wantLogged(t, logs, "msg=door door=agui", "status=403", "subject=alice", "reason=scope")
	for _, tok := range tokens {
		if strings.Contains(logs.String(), tok) {
			t.Fatalf("a token is in the logs: %.40s…", tok)
		}
	}
}

// TestJWTListsOwnAgents: ListAgents shows a user only the agents of its
// token, in every protocol; an admin and the service token see all.
func TestJWTListsOwnAgents(t *testing.T) {
	t.Parallel()
	srv, _ := startSecretGateway(t, nil)
	ctx := testCtx(t)
	service := jwtClient(t, srv, h2cConnect, token)
	for _, id := range []string{"alice:1", "alice:2", "bob:1", "carol"} {
		send(ctx, t, service, id, "hello")
	}
	lists := func(tok string, p protocol) []string {
		list, err := jwtClient(t, srv, p, tok).ListAgents(ctx, connect.NewRequest(&agentv1.ListAgentsRequest{}))
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, a := range list.Msg.GetAgents() {
			ids = append(ids, a.GetAgentId())
		}
		return ids
	}
	for _, p := range threeProtocols {
		if got := strings.Join(lists(hsToken(t, aliceClaims(nil)), p), " "); got != "alice:1 alice:2" {
			t.Errorf("%s: alice lists %q, want her two agents", p.name, got)
		}
	}
	admin := hsToken(t, claimsOf("root", jwt.MapClaims{"agents": []string{"nothing"}, "scope": "agents:admin"}))
	for _, tok := range []string{admin, token} {
		if got := lists(tok, h2cConnect); len(got) != 4 {
			t.Errorf("an admin lists %v, want every agent", got)
		}
	}
}

// TestJWTRefreshFrames: a token handed on an open socket is verified like
// one at the upgrade, frame by frame. A refused refresh is an error frame
// with the code of the refusal, and the socket goes on with the token it
// had; an accepted one is answered with the new token's times, and the
// frames after it run as the new token's identity (a read-only one may no
// longer send). A token of another subject is refused: a socket does not
// change hands.
func TestJWTRefreshFrames(t *testing.T) {
	t.Parallel()
	rs := identitytest.NewRSA(t, "k1")
	mallory := identitytest.NewRSA(t, "k1")
	srv, _, logs := startJWKSGateway(t, map[string]string{"USER_MESSAGE_RATE": "0"}, nil, rs)
	now := time.Now()
	c, res := dial(t, wsURL(srv, "alice:refresh", ""), nil, "agent.v1", "bearer."+rs.Sign(t, aliceClaims(nil)))
	if c == nil {
		t.Fatalf("alice's socket: %d", res.StatusCode)
	}
	refresh := func(id, tok string) socketFrame {
		return frameAnswer(t, c, `{"id":"`+id+`","refresh":{"token":"`+tok+`"}}`)
	}
	sends := func(id string) string {
		f := frameAnswer(t, c, `{"id":"`+id+`","method":"SendMessage","request":{"text":"hi"}}`)
		if f.Error != nil {
			return f.Error.Code
		}
		return "ok"
	}
	for i, tc := range []struct {
		name, tok, code, says string
	}{
		{"expired", rs.Sign(t, aliceClaims(jwt.MapClaims{"exp": now.Add(-2 * time.Minute).Unix()})), "unauthenticated", "expired"},
		{"another issuer", rs.Sign(t, aliceClaims(jwt.MapClaims{"iss": "https://evil.example.test/"})), "unauthenticated", "refresh needs a valid token"},
		{"alg none", identitytest.Unsigned(t, aliceClaims(nil)), "unauthenticated", "refresh needs a valid token"},
		{"forged", mallory.Sign(t, aliceClaims(nil)), "unauthenticated", "refresh needs a valid token"},
		{"HS256 with the RSA public key", identitytest.SignWith(t, jwt.SigningMethodHS256, "k1", rsaPublicPEM(t, rs), aliceClaims(nil)), "unauthenticated", "valid token"},
		{"another subject", rs.Sign(t, claimsOf("bob", jwt.MapClaims{"agents": []string{"*"}})), "permission_denied", "another caller's"},
		{"the service token", token, "permission_denied", "another caller's"},
		{"her token, without this agent", rs.Sign(t, claimsOf("alice", jwt.MapClaims{"agents": []string{"alice:other"}})), "permission_denied", "does not reach"},
	} {
		f := refresh(fmt.Sprint("bad", i), tc.tok)
		if f.Error == nil || f.Error.Code != tc.code || !strings.Contains(f.Error.Message, tc.says) {
			t.Errorf("refresh with %s: %s, want %s saying %q", tc.name, f.raw, tc.code, tc.says)
		}
		if got := sends(fmt.Sprint("after-bad", i)); got != "ok" {
			t.Fatalf("a send after the refused refresh with %s: %s", tc.name, got)
		}
	}
	for _, frame := range []string{`{"id":"x","refresh":{}}`, `{"id":"x","refresh":"tok"}`, `{"id":"x","refresh":{"token":""}}`,
		`{"id":"x","refresh":{"token":"a","other":1}}`, `{"id":"x","method":"GetAgent","refresh":{"token":"a"}}`} {
		if f := frameAnswer(t, c, frame); f.Error == nil || f.Error.Code != "invalid_argument" {
			t.Errorf("%s: %s, want invalid_argument", frame, f.raw)
		}
	}

	reader := rs.Sign(t, aliceClaims(jwt.MapClaims{"scope": "agents:read", "exp": now.Add(10 * time.Minute).Unix()}))
	f := refresh("r1", reader)
	var times struct{ ExpireTime, CloseTime time.Time }
	if f.Error != nil || json.Unmarshal(f.Response, &times) != nil ||
		times.ExpireTime.Unix() != now.Add(10*time.Minute).Unix() || times.CloseTime.Sub(times.ExpireTime) != 25*time.Second {
		t.Fatalf("refresh with a read-only token: %s; want its expireTime and a closeTime 25s later", f.raw)
	}
	if got := sends("as-reader"); got != "permission_denied" {
		t.Errorf("a send after the refresh to a read-only token: %s, want permission_denied", got)
	}
	if f := refresh("r2", rs.Sign(t, aliceClaims(nil))); f.Error != nil {
		t.Fatalf("refresh back to a writer's token: %s", f.raw)
	}
	if got := sends("as-writer"); got != "ok" {
		t.Errorf("a send after the refresh back: %s", got)
	}
	_ = srv.Stop()
	wantLogged(t, logs, `msg="websocket refresh refused"`, "reason=invalid_token", "subject=alice", "agent=alice:refresh")
	wantLogged(t, logs, `msg="websocket refresh refused"`, "reason=subject", "subject=alice")
	wantLogged(t, logs, `msg="websocket refresh refused"`, "reason=agent", "subject=alice")
	if strings.Contains(logs.String(), reader) {
		t.Fatal("a token is in the logs")
	}
}

// health reads /health: its status code and body.
func health(t *testing.T, srv *apptest.Server) (int, struct {
	Status     string
	Components map[string]string
}) {
	t.Helper()
	var body struct {
		Status     string
		Components map[string]string
	}
	res, err := http.Get(srv.URL + "/health")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if err := json.Unmarshal(b, &body); err != nil {
		t.Fatalf("/health: %s: %v", b, err)
	}
	return res.StatusCode, body
}

// TestJWKSRotationAndOutage: a key the provider adds is taken at once
// (the key set is fetched again for a token that names an unknown kid), a
// key it drops verifies nothing more; while the key set cannot be fetched
// the keys fetched before still verify, and /health says so in its body
// with its status 200 (service tokens and users of the cached keys are
// served). A gateway that never fetched the key set refuses users' tokens
// and serves the service token, and /health says why, still 200.
func TestJWKSRotationAndOutage(t *testing.T) {
	t.Parallel()
	k1, k2 := identitytest.NewRSA(t, "2030-01"), identitytest.NewEd(t, "2030-02")
	// Fetched again at once for an unknown kid: the test does not wait out
	// the 10 s that protect a provider from a flood of made-up kids.
	fast := func(o *app.Options) { o.JWT = func(c *identity.JWTConfig) { c.RefetchInterval = time.Nanosecond } }
	srv, jwks, _ := startJWKSGateway(t, nil, []func(*app.Options){fast}, k1)
	ctx := testCtx(t)
	send(ctx, t, jwtClient(t, srv, h2cConnect, token), "alice:1", "hello")
	calls := func(tok string) string {
		_, err := jwtClient(t, srv, h2cConnect, tok).GetAgent(ctx, connect.NewRequest(&agentv1.GetAgentRequest{AgentId: "alice:1"}))
		return codeOf(err)
	}
	if got := calls(k1.Sign(t, aliceClaims(nil))); got != "ok" {
		t.Fatalf("a token of the first key: %s", got)
	}
	jwks.Set(t, k2) // the provider rotates its key
	if got := calls(k2.Sign(t, aliceClaims(nil))); got != "ok" {
		t.Fatalf("a token of the new key: %s", got)
	}
	if got := calls(k1.Sign(t, aliceClaims(nil))); got != "unauthenticated" {
		t.Fatalf("a token of the dropped key: %s", got)
	}
	if status, h := health(t, srv); status != http.StatusOK || h.Components["jwks"] != "ok" {
		t.Fatalf("/health: %d %+v", status, h)
	}

	jwks.SetDown(true)
	if got := calls(identitytest.NewEC(t, "2030-03").Sign(t, aliceClaims(nil))); got != "unauthenticated" {
		t.Fatalf("a token of a key the provider cannot be asked about: %s", got)
	}
	if status, h := health(t, srv); status != http.StatusOK || !strings.HasPrefix(h.Components["jwks"], "stale: ") || !strings.Contains(h.Components["jwks"], " since ") {
		t.Fatalf("/health with the key set down: %d %+v; want 200 and stale", status, h)
	}
	if got := calls(k2.Sign(t, aliceClaims(nil))); got != "ok" {
		t.Fatalf("a token of a cached key while the key set is down: %s", got)
	}

	// A provider that was down from the start.
	dead := identitytest.NewJWKS(t)
	dead.SetDown(true)
	srv = apptest.Start(t, jwtEnv(map[string]string{"AUTH_JWKS_URL": dead.URL + "/jwks"}))
	send(ctx, t, jwtClient(t, srv, h2cConnect, token), "alice:1", "hello")
	_, err := jwtClient(t, srv, h2cConnect, k1.Sign(t, aliceClaims(nil))).GetAgent(ctx, connect.NewRequest(&agentv1.GetAgentRequest{AgentId: "alice:1"}))
	if connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Fatalf("a user's token without a key set: %v", err)
	}
	if _, err := jwtClient(t, srv, h2cConnect, token).GetAgent(ctx, connect.NewRequest(&agentv1.GetAgentRequest{AgentId: "alice:1"})); err != nil {
		t.Fatalf("the service token without a key set: %v", err)
	}
	if status, h := health(t, srv); status != http.StatusOK || !strings.HasPrefix(h.Components["jwks"], "unavailable: ") {
		t.Fatalf("/health without a key set: %d %+v; want 200 and unavailable", status, h)
	}
}

// TestOpenIDProviderEndToEnd: a real OpenID provider (oidc-provider)
// issues access tokens by client credentials; the gateway verifies them
// through the provider's key set, and they open a socket, a Connect call
// and both frontend doors (AG-UI, the AI SDK) to the client's own agents
// ({sub}:*), and no other.
func TestOpenIDProviderEndToEnd(t *testing.T) {
	t.Parallel()
	p := identitytest.StartProvider(t)
	srv := apptest.Start(t, map[string]string{
		"AUTH_JWKS_URL": p.JWKSURI, "AUTH_JWT_ISSUER": p.Issuer, "AUTH_JWT_AUDIENCE": "agentgate",
		"AUTH_DEFAULT_AGENTS": "{sub},{sub}:*",
	})
	ctx := testCtx(t)
	tok := p.Token(t, "alice-app", "agents:read agents:write", "urn:agentgate:es256")
	c, res := dial(t, wsURL(srv, "alice-app:chat", ""), nil, "agent.v1", "bearer."+tok)
	if c == nil {
		t.Fatalf("the socket with the provider's token: %d", res.StatusCode)
	}
	if f := roundTrip(t, c, "s1", "over the socket"); !strings.Contains(string(f["response"]), "echo: over the socket") {
		t.Fatalf("SendMessage over the socket: %s", f)
	}
	client := jwtClient(t, srv, h2cConnect, p.Token(t, "alice-app", "agents:read agents:write", "urn:agentgate:rs256"))
	if r := send(ctx, t, client, "alice-app:chat", "over Connect"); r.GetReply().GetMessage().GetText() != "echo: over Connect" {
		t.Fatalf("SendMessage over Connect: %v", r)
	}
	_, err := client.SendMessage(ctx, connect.NewRequest(&agentv1.SendMessageRequest{AgentId: "team:x", Text: "hi"}))
	wantDenied(t, "alice-app to team:x", err, `does not reach agent "team:x"`)
	if c, res := dial(t, wsURL(srv, "team:x", ""), nil, "agent.v1", "bearer."+tok); c != nil || res.StatusCode != http.StatusForbidden {
		t.Fatalf("alice-app's socket to team:x: %d, want 403", res.StatusCode)
	}
	// The team's tokens name their agents in a claim.
	team := jwtClient(t, srv, h2cConnect, p.Token(t, "team-app", "agents:read agents:write", "urn:agentgate:eddsa"))
	send(ctx, t, team, "team:x", "hello team")
	_, err = team.SendMessage(ctx, connect.NewRequest(&agentv1.SendMessageRequest{AgentId: "alice-app:chat", Text: "hi"}))
	wantDenied(t, "team-app to alice-app:chat", err, "alice-app:chat")

	// Both doors, with the provider's tokens of each algorithm.
	for _, resource := range []string{"urn:agentgate:rs256", "urn:agentgate:es256", "urn:agentgate:eddsa"} {
		tok := p.Token(t, "alice-app", "agents:read agents:write", resource)
		for _, door := range []struct{ name, url, body, says string }{
			{"AG-UI", srv.URL + "/agui/%s", `{"threadId":"%s","runId":"r1","messages":[{"id":"m-%s","role":"user","content":"hi"}]}`, "RUN_FINISHED"},
			{"AI SDK", srv.URL + "/ai/chat", `{"id":"%s","messages":[{"id":"c-%s","role":"user","parts":[{"type":"text","text":"hi"}]}]}`, `"type":"finish"`},
		} {
			for agentID, status := range map[string]int{"alice-app:" + resource[len("urn:agentgate:"):]: http.StatusOK, "team:x": http.StatusForbidden} {
				url := door.url
				if strings.Contains(url, "%s") {
					url = fmt.Sprintf(url, agentID)
				}
				res, body := doAs(t, ctx, tok, http.MethodPost, url, "application/json", fmt.Sprintf(door.body, agentID, agentID))
				if res.StatusCode != status || (status == http.StatusOK && !strings.Contains(body, door.says)) {
					t.Errorf("%s, %s token, %s: %d %.300s; want %d", door.name, resource, agentID, res.StatusCode, body, status)
				}
			}
		}
	}
}

// frameWithin reads frames from c until one satisfies keep, for at most d.
func frameWithin(t *testing.T, c *websocket.Conn, d time.Duration, keep func(map[string]json.RawMessage) bool) (map[string]json.RawMessage, error) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(d))
	for {
		_, data, err := c.ReadMessage()
		if err != nil {
			return nil, err
		}
		var f map[string]json.RawMessage
		if err := json.Unmarshal(data, &f); err != nil {
			t.Fatalf("%s: %v", data, err)
		}
		if keep(f) {
			return f, nil
		}
	}
}

// TestMetricsNeedAnOperator: /metrics on the public port takes a service
// token or a user's token with agents:admin; a visitor's token is
// permission_denied, no token unauthenticated.
func TestMetricsNeedAnOperator(t *testing.T) {
	t.Parallel()
	srv, _ := startSecretGateway(t, nil)
	ctx := testCtx(t)
	for _, tc := range []struct {
		name, tok string
		status    int
	}{
		{"a visitor", hsToken(t, aliceClaims(nil)), http.StatusForbidden},
		{"an admin", hsToken(t, aliceClaims(jwt.MapClaims{"scope": "agents:admin"})), http.StatusOK},
		{"the service", token, http.StatusOK},
		{"nobody", "", http.StatusUnauthorized},
	} {
		res, body := doAs(t, ctx, tc.tok, http.MethodGet, srv.URL+"/metrics", "", "")
		if res.StatusCode != tc.status || (tc.status == http.StatusOK) != strings.Contains(body, "agentgate_websockets_open") {
			t.Errorf("%s: %d %.100s, want %d", tc.name, res.StatusCode, body, tc.status)
		}
	}
}
