package identity

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
)

// BenchmarkVerify measures one Verify of a typical access token per
// method, with the cache off: the signature check dominates, and the rest
// (parsing, claims, the identity) allocates little. The cached variants
// measure the same token verified again, as every unary call of a client
// sends it: a hash and a lookup.
func BenchmarkVerify(b *testing.B) {
	rs, es, ed := newRSA(b, "rsa"), newEC(b, "ec"), newEd(b, "ed")
	set := jwkset.JWKSMarshal{Keys: []jwkset.JWKMarshal{rs.JWK(b), es.JWK(b), ed.JWK(b)}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _ = json.NewEncoder(w).Encode(set) }))
	defer srv.Close()
	now := time.Now()
	claims := userClaims(now, "alice", jwt.MapClaims{"scope": "openid agents:read agents:write", "client_id": "app", "jti": "0123456789"})
	verifier := func(cfg JWTConfig) *JWT {
		cfg.Issuer, cfg.Audience, cfg.DefaultAgents = testIssuer, testAudience, []string{"{sub}:*"}
		v, err := NewJWT(cfg)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(v.Close)
		return v
	}
	keys := verifier(JWTConfig{JWKSURL: srv.URL, Logger: discard, CacheSize: -1})
	secret := verifier(JWTConfig{Secret: testSecret, CacheSize: -1})
	cachedKeys := verifier(JWTConfig{JWKSURL: srv.URL, Logger: discard})
	for _, bc := range []struct {
		name  string
		v     *JWT
		token string
	}{
		{"HS256", secret, signWith(b, jwt.SigningMethodHS256, "", []byte(testSecret), claims)},
		{"RS256", keys, rs.Sign(b, claims)},
		{"ES256", keys, es.Sign(b, claims)},
		{"EdDSA", keys, ed.Sign(b, claims)},
		{"RS256/cached", cachedKeys, rs.Sign(b, claims)},
		{"ES256/cached", cachedKeys, es.Sign(b, claims)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			ctx := context.Background()
			if _, err := bc.v.Verify(ctx, bc.token); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := bc.v.Verify(ctx, bc.token); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
