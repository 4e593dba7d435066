package config

import (
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/agentgate/agentgate/internal/identity"
)

func TestJWTDefaults(t *testing.T) {
	t.Parallel()
	c, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.JWT.Enabled() || c.JWT.AgentsClaim != "agents" || c.JWT.DefaultAgents != nil || c.JWT.ExpiryGrace != 25*time.Second {
		t.Fatalf("defaults: %+v", c.JWT)
	}
}

func TestJWTValues(t *testing.T) {
	t.Parallel()
	c, err := Load(env(map[string]string{
		"AUTH_JWKS_URL": "https://127.0.0.1:1/.well-known/jwks.json", "AUTH_JWT_ISSUER": "https://idp.example.com/",
		"AUTH_JWT_AUDIENCE": "agentgate", "AUTH_AGENTS_CLAIM": "https://app.example.com/agents",
		"AUTH_DEFAULT_AGENTS": "{sub}, {sub}:*", "AUTH_EXPIRY_GRACE": "0s", "AUTH_TOKENS": "aaaaaaaaaaaaaaaa",
	}))
	if err != nil {
		t.Fatal(err)
	}
	want := JWT{JWKSURL: "https://127.0.0.1:1/.well-known/jwks.json", Issuer: "https://idp.example.com/", Audience: "agentgate",
		AgentsClaim: "https://app.example.com/agents", DefaultAgents: []string{"{sub}", "{sub}:*"}}
	if !c.JWT.Enabled() || c.JWT.JWKSURL != want.JWKSURL || c.JWT.Issuer != want.Issuer || c.JWT.Audience != want.Audience ||
		c.JWT.AgentsClaim != want.AgentsClaim || !slices.Equal(c.JWT.DefaultAgents, want.DefaultAgents) || c.JWT.ExpiryGrace != 0 ||
		len(c.AuthTokens) != 1 || len(c.Warnings) != 0 {
		t.Fatalf("loaded %+v (warnings %q), want %+v and the service token", c.JWT, c.Warnings, want)
	}
	// What the configuration accepts, the verifier does.
	vc := c.JWT.Verifier()
	vc.Logger = slog.New(slog.DiscardHandler)
	v, err := identity.NewJWT(vc)
	if err != nil {
		t.Fatalf("NewJWT of the loaded settings: %v", err)
	}
	v.Close()
	secret := strings.Repeat("s", 32)
	c, err = Load(env(map[string]string{"AUTH_JWT_SECRET": secret}))
	if err != nil || c.JWT.Secret != secret || !c.JWT.Enabled() || !slices.Contains(c.Secrets(), secret) {
		t.Fatalf("AUTH_JWT_SECRET: %+v, %v; want it loaded, and among the secrets", c.JWT, err)
	}
	if v, err = identity.NewJWT(c.JWT.Verifier()); err != nil {
		t.Fatalf("NewJWT of the loaded secret: %v", err)
	}
	v.Close()
}

// TestBadJWTSettingsNameTheVariable: each bad setting stops the start with
// one line naming its variable, and a secret is never echoed.
func TestBadJWTSettingsNameTheVariable(t *testing.T) {
	t.Parallel()
	jwks := map[string]string{"AUTH_JWKS_URL": "https://idp/jwks", "AUTH_JWT_ISSUER": "https://idp/", "AUTH_JWT_AUDIENCE": "a"}
	with := func(m map[string]string, k, v string) map[string]string {
		out := map[string]string{k: v}
		for key, val := range m {
			if key != k {
				out[key] = val
			}
		}
		if v == "" {
			delete(out, k)
		}
		return out
	}
	for _, tc := range []struct {
		env  map[string]string
		name string
	}{
		{map[string]string{"AUTH_JWT_SECRET": "short-secret-do-not-print"}, "AUTH_JWT_SECRET"},
		{map[string]string{"AUTH_JWT_SECRET": strings.Repeat("x", 32) + "\ndo-not-print"}, "AUTH_JWT_SECRET"},
		{with(jwks, "AUTH_JWT_SECRET", strings.Repeat("d", 24)+"do-not-print"), "AUTH_JWT_SECRET"},
		{map[string]string{"AUTH_JWKS_URL": "https://idp/jwks", "AUTH_JWT_AUDIENCE": "a"}, "AUTH_JWT_ISSUER"},
		{with(jwks, "AUTH_JWT_AUDIENCE", ""), "AUTH_JWT_AUDIENCE"},
		{with(jwks, "AUTH_JWKS_URL", "idp.example.com/jwks"), "AUTH_JWKS_URL"},
		{with(jwks, "AUTH_JWKS_URL", "ftp://idp/jwks"), "AUTH_JWKS_URL"},
		{with(jwks, "AUTH_DEFAULT_AGENTS", "shared"), "AUTH_DEFAULT_AGENTS"},
		{with(jwks, "AUTH_DEFAULT_AGENTS", "{sub}*"), "AUTH_DEFAULT_AGENTS"},
		{with(jwks, "AUTH_DEFAULT_AGENTS", "{sub}:*,chat:{sub}"), "AUTH_DEFAULT_AGENTS"},
		{with(jwks, "AUTH_AGENTS_CLAIM", "sub"), "AUTH_AGENTS_CLAIM"},
		{with(jwks, "AUTH_AGENTS_CLAIM", `a"b`), "AUTH_AGENTS_CLAIM"},
		{with(jwks, "AUTH_EXPIRY_GRACE", "-1s"), "AUTH_EXPIRY_GRACE"},
		{with(jwks, "AUTH_EXPIRY_GRACE", "2h"), "AUTH_EXPIRY_GRACE"},
	} {
		_, err := Load(env(tc.env))
		var cerr *Error
		if !errors.As(err, &cerr) || cerr.Var != tc.name || strings.Contains(err.Error(), "\n") || strings.Contains(err.Error(), "do-not-print") {
			t.Errorf("%v: %v, want one line naming %s and no secret", tc.env, err, tc.name)
		}
	}
}

func TestJWTWarnings(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		env  map[string]string
		says string
	}{
		{map[string]string{"AUTH_DEFAULT_AGENTS": "{sub}"}, "AUTH_DEFAULT_AGENTS is set but neither AUTH_JWKS_URL nor AUTH_JWT_SECRET is"},
		{map[string]string{"AUTH_JWT_ISSUER": "https://idp/"}, "AUTH_JWT_ISSUER is set but"},
		{map[string]string{"AUTH_JWKS_URL": "http://idp.internal/jwks", "AUTH_JWT_ISSUER": "i", "AUTH_JWT_AUDIENCE": "a"}, "without TLS"},
	} {
		c, err := Load(env(tc.env))
		if err != nil || len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0], tc.says) {
			t.Errorf("%v: %v, warnings %q, want one saying %q", tc.env, err, c.Warnings, tc.says)
		}
	}
	for _, u := range []string{"http://127.0.0.1:8080/jwks", "http://localhost/jwks", "http://[::1]:9/jwks", "https://idp/jwks"} {
		c, err := Load(env(map[string]string{"AUTH_JWKS_URL": u, "AUTH_JWT_ISSUER": "i", "AUTH_JWT_AUDIENCE": "a"}))
		if err != nil || len(c.Warnings) != 0 {
			t.Errorf("%s: %v, warnings %q, want none", u, err, c.Warnings)
		}
	}
}

func TestJWKSURLSecretsAreRedacted(t *testing.T) {
	t.Parallel()
	c, err := Load(env(map[string]string{"AUTH_JWKS_URL": "https://u:jwks-pw@idp/jwks?key=jwks-q", "AUTH_JWT_ISSUER": "i", "AUTH_JWT_AUDIENCE": "a"}))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"jwks-pw", "jwks-q"} {
		if !slices.Contains(c.Secrets(), want) {
			t.Errorf("Secrets() = %q lacks %q", c.Secrets(), want)
		}
	}
	_, err = Load(env(map[string]string{"AUTH_JWKS_URL": "ftp://u:jwks-pw@idp/jwks"}))
	if err == nil || strings.Contains(err.Error(), "jwks-pw") {
		t.Fatalf("%v, want a refusal without the password", err)
	}
}
