package bench

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/agentgate/agentgate/internal/identity"
)

// TestIssuerTokensVerify: the tokens agentbench jwt-issuer mints are
// users' tokens the gateway's own verifier takes, through the key set the
// issuer serves (RS256, ES256) or the secret (HS256): subject bench, every
// agent, every scope.
func TestIssuerTokensVerify(t *testing.T) {
	t.Parallel()
	const secret = "a-benchmark-secret-of-32-bytes-at-least"
	for _, alg := range []string{"RS256", "ES256", "HS256"} {
		iss, err := StartIssuer(alg, secret, "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = iss.Close(context.Background()) })
		cfg := identity.JWTConfig{JWKSURL: iss.URL, Issuer: IssuerName, Audience: IssuerAudience, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
		if iss.URL == "" {
			cfg.JWKSURL, cfg.Secret = "", secret
		}
		v, err := identity.NewJWT(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(v.Close)
		id, err := v.Verify(context.Background(), iss.Token)
		if err != nil || id.Subject != "bench" || !id.Reaches("any-agent") || id.Perms != identity.Read|identity.Write|identity.Admin {
			t.Errorf("%s: %+v, %v", alg, id, err)
		}
	}
	if _, err := StartIssuer("HS256", "", ""); err == nil {
		t.Error("HS256 without a secret was taken")
	}
	if _, err := StartIssuer("PS512", "", ""); err == nil {
		t.Error("an unknown alg was taken")
	}
}
