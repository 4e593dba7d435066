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
// method: the signature check dominates, and the rest (parsing, claims,
// the identity) allocates little.
func BenchmarkVerify(b *testing.B) {
	rs, es, ed := newRSA(b, "rsa"), newEC(b, "ec"), newEd(b, "ed")
	set := jwkset.JWKSMarshal{Keys: []jwkset.JWKMarshal{rs.JWK(b), es.JWK(b), ed.JWK(b)}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _ = json.NewEncoder(w).Encode(set) }))
	defer srv.Close()
	now := time.Now()
	claims := userClaims(now, "alice", jwt.MapClaims{"scope": "openid agents:read agents:write", "client_id": "app", "jti": "0123456789"})
	keys, err := NewJWT(JWTConfig{JWKSURL: srv.URL, Issuer: testIssuer, Audience: testAudience, DefaultAgents: []string{"{sub}:*"}, Logger: discard})
	if err != nil {
		b.Fatal(err)
	}
	defer keys.Close()
	secret, err := NewJWT(JWTConfig{Secret: testSecret, Issuer: testIssuer, Audience: testAudience, DefaultAgents: []string{"{sub}:*"}})
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name  string
		v     *JWT
		token string
	}{
		{"HS256", secret, signWith(b, jwt.SigningMethodHS256, "", []byte(testSecret), claims)},
		{"RS256", keys, rs.Sign(b, claims)},
		{"ES256", keys, es.Sign(b, claims)},
		{"EdDSA", keys, ed.Sign(b, claims)},
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
