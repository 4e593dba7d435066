package identity

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
)

// Test values shared by the tests of the key set.
const (
	testIssuer   = "https://idp.example.com/"
	testAudience = "agentgate"
	testSecret   = "0123456789abcdef0123456789abcdef" // 32 bytes
)

// discard is the logger of tests that do not read the logs.
var discard = slog.New(slog.DiscardHandler)

// epoch is the fake clock's start: tokens are made relative to it.
var epoch = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// clock is a settable clock for the verifier and the tokens.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: epoch} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// signer is a private key made for the test, and the key id and method it
// signs with.
type signer struct {
	kid    string
	method jwt.SigningMethod
	key    crypto.Signer
}

func newRSA(t testing.TB, kid string) signer {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return signer{kid, jwt.SigningMethodRS256, k}
}

func newEC(t testing.TB, kid string) signer {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return signer{kid, jwt.SigningMethodES256, k}
}

func newEd(t testing.TB, kid string) signer {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return signer{kid, jwt.SigningMethodEdDSA, k}
}

// jwk is the public key as the provider publishes it.
func (s signer) jwk(t testing.TB) jwkset.JWKMarshal {
	t.Helper()
	k, err := jwkset.NewJWKFromKey(s.key.Public(), jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: s.kid, USE: jwkset.UseSig}})
	if err != nil {
		t.Fatal(err)
	}
	return k.Marshal()
}

// sign returns a token of claims, with the signer's kid and method.
func (s signer) sign(t testing.TB, claims jwt.MapClaims) string {
	t.Helper()
	return signWith(t, s.method, s.kid, s.key, claims)
}

func signWith(t testing.TB, method jwt.SigningMethod, kid string, key any, claims jwt.MapClaims) string {
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

// userClaims are the claims of a valid token of sub at the clock's time,
// with changes (a nil value deletes a claim).
func userClaims(now time.Time, sub string, changes jwt.MapClaims) jwt.MapClaims {
	c := jwt.MapClaims{
		"iss": testIssuer,
		"aud": testAudience,
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

// jwksServer is an identity provider's key set endpoint, whose keys a test
// changes, and which it can take down.
type jwksServer struct {
	*httptest.Server
	hits atomic.Int64
	mu   sync.Mutex
	keys []jwkset.JWKMarshal
	down bool
}

func newJWKSServer(t *testing.T, keys ...signer) *jwksServer {
	t.Helper()
	s := &jwksServer{}
	s.set(t, keys...)
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

// set replaces the published keys.
func (s *jwksServer) set(t testing.TB, keys ...signer) {
	t.Helper()
	var m []jwkset.JWKMarshal
	for _, k := range keys {
		m = append(m, k.jwk(t))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys = m
}

func (s *jwksServer) setDown(down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = down
}

// newKeySetVerifier returns a verifier of srv's keys on clk's time,
// closed when the test ends, once its first fetch is done.
func newKeySetVerifier(t *testing.T, srv *jwksServer, clk *clock, change func(*JWTConfig)) *JWT {
	t.Helper()
	v := newVerifier(t, JWTConfig{JWKSURL: srv.URL + "/jwks", Issuer: testIssuer, Audience: testAudience, Now: clk.Now, Logger: discard}, change)
	waitFirstFetch(t, v)
	return v
}

// newSecretVerifier returns a verifier of HS256 tokens of testSecret.
func newSecretVerifier(t *testing.T, clk *clock, change func(*JWTConfig)) *JWT {
	t.Helper()
	return newVerifier(t, JWTConfig{Secret: testSecret, Issuer: testIssuer, Audience: testAudience, Now: clk.Now}, change)
}

// newVerifier returns the verifier of cfg, changed by change, closed when
// the test ends.
func newVerifier(t *testing.T, cfg JWTConfig, change func(*JWTConfig)) *JWT {
	t.Helper()
	if change != nil {
		change(&cfg)
	}
	v, err := NewJWT(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	return v
}

// waitFirstFetch waits for the verifier's first fetch to end.
func waitFirstFetch(t *testing.T, v *JWT) {
	t.Helper()
	v.keys.mu.Lock()
	pending := v.keys.pending
	v.keys.mu.Unlock()
	if pending == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	select {
	case <-pending:
	case <-ctx.Done():
		t.Fatal("the first fetch of the key set did not end")
	}
}
