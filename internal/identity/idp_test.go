package identity

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/agentgate/agentgate/internal/nodetest"
)

// idpDir holds the OpenID provider the integration test runs.
var idpDir = filepath.Join("testdata", "idp")

// provider is a running testdata/idp/server.mjs, as its discovery document
// describes it.
type provider struct {
	Issuer        string `json:"issuer"`
	JWKSURI       string `json:"jwks_uri"`
	TokenEndpoint string `json:"token_endpoint"`
	client        *http.Client
}

// startProvider starts the OpenID provider on a free loopback port and
// stops it when the test ends. Without Node or the provider's packages the
// test is skipped, except in CI.
func startProvider(t *testing.T) *provider {
	t.Helper()
	line := nodetest.Start(t, idpDir, "oidc-provider", "server.mjs")
	issuer, ok := strings.CutPrefix(line, "issuer ")
	if !ok {
		t.Fatalf("the provider did not start: first line %q", line)
	}
	transport := &http.Transport{}
	t.Cleanup(transport.CloseIdleConnections)
	p := &provider{client: &http.Client{Transport: transport, Timeout: 30 * time.Second}}
	res, err := p.client.Get(issuer + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if err := json.NewDecoder(res.Body).Decode(p); err != nil || p.Issuer != issuer || p.JWKSURI == "" || p.TokenEndpoint == "" {
		t.Fatalf("discovery: %+v, %v", p, err)
	}
	return p
}

// token gets an access token by client credentials for resource, asking
// for scope.
func (p *provider) token(t *testing.T, client, scope, resource string) string {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {scope}, "resource": {resource}}
	req, err := http.NewRequest(http.MethodPost, p.TokenEndpoint, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(client, client+"-secret")
	res, err := p.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		Error       string `json:"error_description"`
	}
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil || res.StatusCode != http.StatusOK || body.AccessToken == "" {
		t.Fatalf("token for %s: %s, %+v, %v", client, res.Status, body, err)
	}
	return body.AccessToken
}

// header is a token's JOSE header.
func header(t *testing.T, token string) (h struct{ Alg, Typ, Kid string }) {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(strings.SplitN(token, ".", 2)[0])
	if err == nil {
		err = json.Unmarshal(raw, &h)
	}
	if err != nil {
		t.Fatalf("the token's header: %v", err)
	}
	return h
}

// TestOpenIDProvider: access tokens that a real OpenID provider
// (oidc-provider) issues by client credentials, signed with RS256, ES256
// and EdDSA, are verified through its JWKS, with its issuer and audience
// checked, and give the identity their claims say.
func TestOpenIDProvider(t *testing.T) {
	t.Parallel()
	p := startProvider(t)
	v := newVerifier(t, JWTConfig{JWKSURL: p.JWKSURI, Issuer: p.Issuer, Audience: "agentgate", DefaultAgents: []string{"{sub}", "{sub}:*"}, Logger: discard}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	for resource, alg := range map[string]string{"urn:agentgate:rs256": "RS256", "urn:agentgate:es256": "ES256", "urn:agentgate:eddsa": "EdDSA"} {
		tok := p.token(t, "alice-app", "agents:read agents:write", resource)
		if h := header(t, tok); h.Alg != alg || h.Typ != "at+jwt" || h.Kid == "" {
			t.Fatalf("%s: header %+v, want an at+jwt of %s with a kid", resource, h, alg)
		}
		id, err := v.Verify(ctx, tok)
		if err != nil {
			t.Fatalf("%s: %v", alg, err)
		}
		if id.Kind != KindUser || id.Subject != "alice-app" || id.Perms != Read|Write || !slices.Equal(id.Agents, []string{"alice-app", "alice-app:*"}) ||
			id.Expires.Before(time.Now().Add(4*time.Minute)) || id.Expires.After(time.Now().Add(6*time.Minute)) {
			t.Fatalf("%s: identity %+v", alg, id)
		}
		if err := id.Allows("alice-app:chat", Write); err != nil {
			t.Fatalf("%s: %v", alg, err)
		}
		if id.Reaches("team:x") {
			t.Fatalf("%s: alice-app reaches team:x", alg)
		}
	}

	// The provider grants the reader agents:read only, whatever it asks.
	id, err := v.Verify(ctx, p.token(t, "reader", "agents:read agents:write", "urn:agentgate:es256"))
	if err != nil || id.Perms != Read {
		t.Fatalf("reader: %+v, %v; want read only", id, err)
	}
	// The team's tokens carry an agents claim, which wins over the
	// templates.
	id, err = v.Verify(ctx, p.token(t, "team-app", "agents:admin", "urn:agentgate:eddsa"))
	if err != nil || id.Perms != Read|Write|Admin || !slices.Equal(id.Agents, []string{"team:*"}) {
		t.Fatalf("team-app: %+v, %v", id, err)
	}
	if v.Status() != "ok" {
		t.Fatalf("status %q", v.Status())
	}

	// The same tokens, to a gateway that expects another issuer or
	// another audience, are refused.
	tok := p.token(t, "alice-app", "agents:read", "urn:agentgate:rs256")
	for _, tc := range []struct {
		issuer, audience, says string
	}{
		{"https://other.example.com", "agentgate", "is not AUTH_JWT_ISSUER"},
		{p.Issuer, "another-gateway", "does not include AUTH_JWT_AUDIENCE"},
	} {
		other, err := NewJWT(JWTConfig{JWKSURL: p.JWKSURI, Issuer: tc.issuer, Audience: tc.audience, Logger: discard})
		if err != nil {
			t.Fatal(err)
		}
		_, err = other.Verify(ctx, tok)
		other.Close()
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("issuer %s, audience %s: %v, want a refusal saying %q", tc.issuer, tc.audience, err, tc.says)
		}
	}
}
