package identitytest

import (
	"encoding/json"
	"net/http"
	"net/url"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/agentgate/agentgate/internal/nodetest"
)

// Provider is a running real OpenID provider, oidc-provider 9
// (internal/identity/testdata/idp/server.mjs, installed by
// scripts/setup.sh), as its discovery document describes it. It issues JWT
// access tokens by client credentials for the audience "agentgate":
// server.mjs names its clients, their scopes and the resources that pick
// the signing algorithm.
type Provider struct {
	Issuer        string `json:"issuer"`
	JWKSURI       string `json:"jwks_uri"`
	TokenEndpoint string `json:"token_endpoint"`
	client        *http.Client
}

// providerDir is where server.mjs and its node_modules are.
func providerDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "testdata", "idp")
}

// StartProvider starts the OpenID provider on a free loopback port and
// stops it when the test ends. Without Node or the provider's packages the
// test is skipped, except in CI (see nodetest.Require).
func StartProvider(t testing.TB) *Provider {
	t.Helper()
	line := nodetest.Start(t, providerDir(), "oidc-provider", "server.mjs")
	issuer, ok := strings.CutPrefix(line, "issuer ")
	if !ok {
		t.Fatalf("the provider did not start: first line %q", line)
	}
	transport := &http.Transport{}
	t.Cleanup(transport.CloseIdleConnections)
	p := &Provider{client: &http.Client{Transport: transport, Timeout: 30 * time.Second}}
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

// Token gets an access token by client credentials for resource, asking
// for scope.
func (p *Provider) Token(t testing.TB, client, scope, resource string) string {
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
