package identity

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/agentgate/agentgate/internal/identity/identitytest"
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
type signer = identitytest.Key

// jwksServer is an identity provider's key set endpoint, whose keys a test
// changes, and which it can take down.
type jwksServer = identitytest.JWKS

var (
	newRSA        = identitytest.NewRSA
	newEC         = identitytest.NewEC
	newEd         = identitytest.NewEd
	signWith      = identitytest.SignWith
	newJWKSServer = identitytest.NewJWKS
)

// userClaims are the claims of a valid token of sub at the clock's time,
// with changes (a nil value deletes a claim).
func userClaims(now time.Time, sub string, changes jwt.MapClaims) jwt.MapClaims {
	return identitytest.Claims(now, testIssuer, testAudience, sub, changes)
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
