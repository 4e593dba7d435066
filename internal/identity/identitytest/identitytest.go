// Package identitytest makes what the tests of users' tokens need: keys
// made in the test (RSA, P-256, Ed25519), tokens signed with them, and an
// identity provider's key set endpoint (JWKS) whose keys a test changes
// and which it can take down. The identity package's tests and the
// gateway's end-to-end tests use the same.
package identitytest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
)

// Key is a private key made for a test, with the key id and method it
// signs with.
type Key struct {
	Kid    string
	Method jwt.SigningMethod
	Key    crypto.Signer
}

// NewRSA makes an RSA key (RS256).
func NewRSA(t testing.TB, kid string) Key {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return Key{kid, jwt.SigningMethodRS256, k}
}

// NewEC makes a P-256 key (ES256).
func NewEC(t testing.TB, kid string) Key {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return Key{kid, jwt.SigningMethodES256, k}
}

// NewEd makes an Ed25519 key (EdDSA).
func NewEd(t testing.TB, kid string) Key {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return Key{kid, jwt.SigningMethodEdDSA, k}
}

// JWK is the public key as a provider publishes it.
func (k Key) JWK(t testing.TB) jwkset.JWKMarshal {
	t.Helper()
	j, err := jwkset.NewJWKFromKey(k.Key.Public(), jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: k.Kid, USE: jwkset.UseSig}})
	if err != nil {
		t.Fatal(err)
	}
	return j.Marshal()
}

// Sign returns a token of claims, with the key's kid and method.
func (k Key) Sign(t testing.TB, claims jwt.MapClaims) string {
	t.Helper()
	return SignWith(t, k.Method, k.Kid, k.Key, claims)
}

// SignWith returns a token of claims signed by key with method, with kid
// in its header unless it is empty. key is what the method takes: a
// private key, or the []byte of HS256 (an RSA public key's bytes, for a
// token that tries algorithm confusion).
func SignWith(t testing.TB, method jwt.SigningMethod, kid string, key any, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Unsigned returns a token of claims with alg none and no signature.
func Unsigned(t testing.TB, claims jwt.MapClaims) string {
	t.Helper()
	return SignWith(t, jwt.SigningMethodNone, "", jwt.UnsafeAllowNoneSignatureType, claims)
}

// Claims are the claims of a token of sub from issuer for audience, issued
// at now and valid for five minutes, with changes (a nil value deletes a
// claim).
func Claims(now time.Time, issuer, audience, sub string, changes jwt.MapClaims) jwt.MapClaims {
	c := jwt.MapClaims{
		"iss": issuer,
		"aud": audience,
		"sub": sub,
		"iat": now.Unix(),
		"exp": now.Add(5 * time.Minute).Unix(),
	}
	for k, v := range changes {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

// JWKS is an identity provider's key set endpoint, at any path of its
// URL, whose keys a test changes, and which it can take down.
type JWKS struct {
	*httptest.Server
	hits atomic.Int64
	mu   sync.Mutex
	keys []jwkset.JWKMarshal
	down bool
}

// NewJWKS serves keys until the test ends.
func NewJWKS(t testing.TB, keys ...Key) *JWKS {
	t.Helper()
	s := &JWKS{}
	s.Set(t, keys...)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		s.mu.Lock()
		down, set := s.down, jwkset.JWKSMarshal{Keys: s.keys}
		s.mu.Unlock()
		if down {
			http.Error(w, "maintenance", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		_ = json.NewEncoder(w).Encode(set)
	}))
	t.Cleanup(s.Close)
	return s
}

// Set replaces the published keys.
func (s *JWKS) Set(t testing.TB, keys ...Key) {
	t.Helper()
	var m []jwkset.JWKMarshal
	for _, k := range keys {
		m = append(m, k.JWK(t))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys = m
}

// SetDown makes the endpoint answer 503 (down) or the keys again.
func (s *JWKS) SetDown(down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = down
}

// Hits is how many requests the endpoint got.
func (s *JWKS) Hits() int64 { return s.hits.Load() }
