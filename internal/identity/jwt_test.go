package identity

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// TestEveryAlgorithmIsAccepted: HS256 with the secret; RS256, ES256 and
// EdDSA with the key set; each gives the User identity of its claims.
func TestEveryAlgorithmIsAccepted(t *testing.T) {
	t.Parallel()
	clk := newClock()
	rs, es, ed := newRSA(t, "rsa-1"), newEC(t, "ec-1"), newEd(t, "ed-1")
	keys := newKeySetVerifier(t, newJWKSServer(t, rs, es, ed), clk, nil)
	secret := newSecretVerifier(t, clk, nil)
	claims := userClaims(clk.Now(), "alice", jwt.MapClaims{"agents": []string{"alice", "team:*"}, "scope": "openid agents:read"})
	for _, tc := range []struct {
		name  string
		v     *JWT
		token string
	}{
		{"HS256", secret, signWith(t, jwt.SigningMethodHS256, "", []byte(testSecret), claims)},
		{"RS256", keys, rs.Sign(t, claims)},
		{"ES256", keys, es.Sign(t, claims)},
		{"EdDSA", keys, ed.Sign(t, claims)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, err := tc.v.Verify(context.Background(), tc.token)
			if err != nil {
				t.Fatal(err)
			}
			want := Identity{Kind: KindUser, Subject: "alice", Agents: []string{"alice", "team:*"}, Perms: Read,
				Expires: epoch.Add(5 * time.Minute)}
			if id.Kind != want.Kind || id.Subject != want.Subject || strings.Join(id.Agents, " ") != "alice team:*" ||
				id.Perms != want.Perms || !id.Expires.Equal(want.Expires) {
				t.Fatalf("identity %+v, want %+v", id, want)
			}
		})
	}
	if keys.Status() != "ok" || secret.Status() != "ok" {
		t.Fatalf("status %q and %q, want ok", keys.Status(), secret.Status())
	}
}

// TestAccessTokensAreAccepted: an RFC 9068 access token (typ at+jwt,
// client_id, jti) is a JWT like any other.
func TestAccessTokensAreAccepted(t *testing.T) {
	t.Parallel()
	clk := newClock()
	rs := newRSA(t, "k")
	v := newKeySetVerifier(t, newJWKSServer(t, rs), clk, nil)
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, userClaims(clk.Now(), "svc-1", jwt.MapClaims{"client_id": "svc-1", "jti": "abc"}))
	tok.Header["typ"] = "at+jwt"
	tok.Header["kid"] = "k"
	s, err := tok.SignedString(rs.Key)
	if err != nil {
		t.Fatal(err)
	}
	if id, err := v.Verify(context.Background(), s); err != nil || id.Subject != "svc-1" {
		t.Fatalf("%+v, %v", id, err)
	}
}

// TestRefusals: each bad token is refused with the right sentinel and a
// message that says what is wrong, and never quotes the token.
func TestRefusals(t *testing.T) {
	t.Parallel()
	clk := newClock()
	rs, es := newRSA(t, "rsa-1"), newEC(t, "ec-1")
	keys := newKeySetVerifier(t, newJWKSServer(t, rs, es), clk, nil)
	secret := newSecretVerifier(t, clk, nil)
	now := clk.Now()
	valid := func(changes jwt.MapClaims) jwt.MapClaims { return userClaims(now, "alice", changes) }

	// The RSA public key as a PEM file: what an attacker who read the key
	// set would try as an HMAC secret.
	der, err := x509.MarshalPKIXPublicKey(rs.Key.Public())
	if err != nil {
		t.Fatal(err)
	}
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	none, err := jwt.NewWithClaims(jwt.SigningMethodNone, valid(nil)).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	// A token whose payload was changed after it was signed.
	good := rs.Sign(t, valid(nil))
	parts := strings.Split(good, ".")
	parts[1] = base64.RawURLEncoding.EncodeToString([]byte(`{"iss":"` + testIssuer + `","aud":"agentgate","sub":"mallory","exp":` +
		strconv.FormatInt(now.Add(time.Hour).Unix(), 10) + `}`))
	tampered := strings.Join(parts, ".")

	for _, tc := range []struct {
		name  string
		v     *JWT
		token string
		kind  error
		says  string
	}{
		{"expired", keys, rs.Sign(t, valid(jwt.MapClaims{"exp": now.Add(-time.Minute).Unix()})), ErrExpired, "expired at 2030-01-02T03:03:05Z"},
		{"expired HS256", secret, signWith(t, jwt.SigningMethodHS256, "", []byte(testSecret), valid(jwt.MapClaims{"exp": now.Add(-time.Hour).Unix()})), ErrExpired, "expired"},
		{"not yet valid", keys, rs.Sign(t, valid(jwt.MapClaims{"nbf": now.Add(time.Minute).Unix()})), ErrInvalid, "not valid before 2030-01-02T03:05:05Z"},
		{"wrong issuer", keys, rs.Sign(t, valid(jwt.MapClaims{"iss": "https://evil.example.com/"})), ErrInvalid, `issuer "https://evil.example.com/" is not AUTH_JWT_ISSUER`},
		{"no issuer", keys, rs.Sign(t, valid(jwt.MapClaims{"iss": nil})), ErrInvalid, "no iss claim"},
		{"wrong audience", keys, es.Sign(t, valid(jwt.MapClaims{"aud": []string{"billing", "mail"}})), ErrInvalid, `audience "billing mail" does not include AUTH_JWT_AUDIENCE`},
		{"no audience", secret, signWith(t, jwt.SigningMethodHS256, "", []byte(testSecret), valid(jwt.MapClaims{"aud": nil})), ErrInvalid, "no aud claim"},
		{"no exp", keys, rs.Sign(t, valid(jwt.MapClaims{"exp": nil})), ErrInvalid, "no exp claim"},
		{"no sub", keys, rs.Sign(t, valid(jwt.MapClaims{"sub": nil})), ErrInvalid, "no sub claim"},
		{"alg none", keys, none, ErrInvalid, "signed with none; AUTH_JWKS_URL's keys verify RS256, ES256, EdDSA only"},
		{"alg none, secret", secret, none, ErrInvalid, "signed with none; AUTH_JWT_SECRET verifies HS256 only"},
		{"HS256 with the RSA public key", keys, signWith(t, jwt.SigningMethodHS256, "rsa-1", pemKey, valid(nil)), ErrInvalid, "signed with HS256"},
		{"HS256 with the RSA key's DER", keys, signWith(t, jwt.SigningMethodHS256, "rsa-1", der, valid(nil)), ErrInvalid, "signed with HS256"},
		{"ES256 with an RSA kid", keys, signWith(t, jwt.SigningMethodES256, "rsa-1", es.Key, valid(nil)), ErrInvalid, `signed with ES256, but its key "rsa-1" of AUTH_JWKS_URL is an RSA key`},
		{"RS256 with an EC kid", keys, signWith(t, jwt.SigningMethodRS256, "ec-1", rs.Key, valid(nil)), ErrInvalid, `its key "ec-1" of AUTH_JWKS_URL is a P-256 key`},
		{"RS256 to the secret", secret, rs.Sign(t, valid(nil)), ErrInvalid, "signed with RS256; AUTH_JWT_SECRET verifies HS256 only"},
		{"RS384", keys, signWith(t, jwt.SigningMethodRS384, "rsa-1", rs.Key, valid(nil)), ErrInvalid, "signed with RS384"},
		{"wrong secret", secret, signWith(t, jwt.SigningMethodHS256, "", []byte(strings.Repeat("x", 32)), valid(nil)), ErrInvalid, "signature does not match AUTH_JWT_SECRET"},
		{"tampered", keys, tampered, ErrInvalid, `signature does not match the key "rsa-1" of AUTH_JWKS_URL`},
		{"not a JWT", keys, "not-a-jwt", ErrInvalid, "not a well-formed JWT"},
		{"four parts", keys, good + ".x", ErrInvalid, "not a well-formed JWT"},
		{"empty", keys, "", ErrInvalid, "empty"},
		{"huge", keys, strings.Repeat("a", maxTokenLen+1), ErrInvalid, "the limit is 32768"},
		{"bad agents claim", keys, rs.Sign(t, valid(jwt.MapClaims{"agents": []any{"ok", 7}})), ErrInvalid, "agents claim must be a list"},
		{"agents claim with a space", keys, rs.Sign(t, valid(jwt.MapClaims{"agents": []string{"a b"}})), ErrInvalid, `agents claim holds "a b"`},
		{"bad scope claim", keys, rs.Sign(t, valid(jwt.MapClaims{"scope": 3})), ErrInvalid, "scope claim must be"},
		{"sub of control characters", keys, rs.Sign(t, valid(jwt.MapClaims{"sub": "a\nb"})), ErrInvalid, "control characters"},
		{"exp not a number", keys, rs.Sign(t, valid(jwt.MapClaims{"exp": "tomorrow"})), ErrInvalid, "not a well-formed JWT"},
		{"a header that is no JSON", keys, "abcdefgh.ijklmnop.qrstu", ErrInvalid, "not a well-formed JWT: could not JSON decode header"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, err := tc.v.Verify(context.Background(), tc.token)
			if err == nil {
				t.Fatalf("accepted as %+v", id)
			}
			t.Log(err)
			if !errors.Is(err, tc.kind) || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("%q, want %v saying %q", err, tc.kind, tc.says)
			}
			if other := map[error]error{ErrExpired: ErrInvalid, ErrInvalid: ErrExpired}[tc.kind]; errors.Is(err, other) {
				t.Fatalf("%q is both %v and %v", err, tc.kind, other)
			}
			if len(tc.token) > 20 && strings.Contains(err.Error(), tc.token[len(tc.token)-20:]) {
				t.Fatalf("%q quotes the token", err)
			}
			// The decoder's own words quote what they choke on, a piece
			// of the token: they are left out.
			if strings.Contains(err.Error(), "invalid character") || strings.Contains(err.Error(), "tomorrow") {
				t.Fatalf("%q quotes a piece of the token", err)
			}
			if id.Kind != KindAnonymous || id.Subject != "" {
				t.Fatalf("refused with identity %+v, want the zero Identity", id)
			}
		})
	}
}

// TestLeeway: exp and nbf are enforced Leeway (30s) late and early.
func TestLeeway(t *testing.T) {
	t.Parallel()
	clk := newClock()
	v := newSecretVerifier(t, clk, nil)
	now := clk.Now()
	sign := func(c jwt.MapClaims) string {
		return signWith(t, jwt.SigningMethodHS256, "", []byte(testSecret), userClaims(now, "alice", c))
	}
	for _, tc := range []struct {
		name   string
		claims jwt.MapClaims
		ok     bool
	}{
		{"expired 20s ago", jwt.MapClaims{"exp": now.Add(-20 * time.Second).Unix()}, true},
		{"expired 40s ago", jwt.MapClaims{"exp": now.Add(-40 * time.Second).Unix()}, false},
		{"valid in 20s", jwt.MapClaims{"nbf": now.Add(20 * time.Second).Unix()}, true},
		{"valid in 40s", jwt.MapClaims{"nbf": now.Add(40 * time.Second).Unix()}, false},
	} {
		_, err := v.Verify(context.Background(), sign(tc.claims))
		if (err == nil) != tc.ok {
			t.Errorf("%s: %v, want accepted %v", tc.name, err, tc.ok)
		}
	}
}

// TestIssuerAndAudienceAreOptionalWithASecret: without AUTH_JWT_ISSUER
// and AUTH_JWT_AUDIENCE, HS256 tokens from any issuer for any audience
// pass.
func TestIssuerAndAudienceAreOptionalWithASecret(t *testing.T) {
	t.Parallel()
	clk := newClock()
	v := newSecretVerifier(t, clk, func(c *JWTConfig) { c.Issuer, c.Audience = "", "" })
	tok := signWith(t, jwt.SigningMethodHS256, "", []byte(testSecret), userClaims(clk.Now(), "bob", jwt.MapClaims{"iss": nil, "aud": nil}))
	if id, err := v.Verify(context.Background(), tok); err != nil || id.Subject != "bob" {
		t.Fatalf("%+v, %v", id, err)
	}
}

func TestBadConfigIsRefused(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		cfg  JWTConfig
		says string
	}{
		{"neither", JWTConfig{}, "set JWKSURL or Secret"},
		{"both", JWTConfig{JWKSURL: "https://idp/jwks", Secret: testSecret, Issuer: "i", Audience: "a"}, "not both"},
		{"short secret", JWTConfig{Secret: "short"}, "at least 32"},
		{"key set without issuer", JWTConfig{JWKSURL: "https://idp/jwks", Audience: "a"}, "Issuer and Audience"},
		{"key set without audience", JWTConfig{JWKSURL: "https://idp/jwks", Issuer: "i"}, "Issuer and Audience"},
		{"key set not over http", JWTConfig{JWKSURL: "file:///etc/jwks.json", Issuer: "i", Audience: "a"}, "http:// or https://"},
		{"reserved claim", JWTConfig{Secret: testSecret, AgentsClaim: "sub"}, "means something else"},
		{"template without sub", JWTConfig{Secret: testSecret, DefaultAgents: []string{"shared"}}, "must hold {sub} once"},
	} {
		v, err := NewJWT(tc.cfg)
		if err == nil {
			v.Close()
			t.Errorf("%s: accepted", tc.name)
		} else if !strings.Contains(err.Error(), tc.says) || strings.Contains(err.Error(), testSecret) {
			t.Errorf("%s: %q, want it to say %q", tc.name, err, tc.says)
		}
	}
}
