package identity

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/agentgate/agentgate/internal/identity/identitytest"
)

// startProvider starts the real OpenID provider for the test.
var startProvider = identitytest.StartProvider

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
		tok := p.Token(t, "alice-app", "agents:read agents:write", resource)
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
	id, err := v.Verify(ctx, p.Token(t, "reader", "agents:read agents:write", "urn:agentgate:es256"))
	if err != nil || id.Perms != Read {
		t.Fatalf("reader: %+v, %v; want read only", id, err)
	}
	// The team's tokens carry an agents claim, which wins over the
	// templates.
	id, err = v.Verify(ctx, p.Token(t, "team-app", "agents:admin", "urn:agentgate:eddsa"))
	if err != nil || id.Perms != Read|Write|Admin || !slices.Equal(id.Agents, []string{"team:*"}) {
		t.Fatalf("team-app: %+v, %v", id, err)
	}
	if v.Status() != "ok" {
		t.Fatalf("status %q", v.Status())
	}

	// The same tokens, to a gateway that expects another issuer or
	// another audience, are refused.
	tok := p.Token(t, "alice-app", "agents:read", "urn:agentgate:rs256")
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
