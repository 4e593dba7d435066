package identity

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// TestKeyRotation: the provider replaces its key; a token signed with the
// new one makes the verifier fetch the key set again and is accepted, with
// no restart, and a token of the old key is refused once the old key is
// gone.
func TestKeyRotation(t *testing.T) {
	t.Parallel()
	clk := newClock()
	old, next := newRSA(t, "2030-01"), newEC(t, "2030-02")
	srv := newJWKSServer(t, old)
	v := newKeySetVerifier(t, srv, clk, nil)
	ctx := context.Background()
	if _, err := v.Verify(ctx, old.Sign(t, userClaims(clk.Now(), "alice", nil))); err != nil {
		t.Fatal(err)
	}

	srv.Set(t, next)
	clk.Add(defaultRefetchInterval)
	id, err := v.Verify(ctx, next.Sign(t, userClaims(clk.Now(), "alice", nil)))
	if err != nil || id.Subject != "alice" {
		t.Fatalf("the new key's token: %+v, %v", id, err)
	}
	if hits := srv.Hits(); hits != 2 {
		t.Fatalf("the key set was fetched %d times, want 2: at start, and for the new kid", hits)
	}
	_, err = v.Verify(ctx, old.Sign(t, userClaims(clk.Now(), "alice", nil)))
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), `key "2030-01" is not among AUTH_JWKS_URL's keys`) {
		t.Fatalf("the old key's token: %v, want it refused", err)
	}
	if v.Status() != "ok" {
		t.Fatalf("status %q", v.Status())
	}
}

// TestUnknownKidsAreRateLimited: a flood of tokens with made-up kids costs
// the provider one request per RefetchInterval; the tokens that come
// while that request is under way wait for it, and the rest are refused
// at once.
func TestUnknownKidsAreRateLimited(t *testing.T) {
	t.Parallel()
	clk := newClock()
	rs := newRSA(t, "real")
	srv := newJWKSServer(t, rs)
	v := newKeySetVerifier(t, srv, clk, nil)
	flood := func() {
		var wg sync.WaitGroup
		for i := range 200 {
			wg.Go(func() {
				tok := signWith(t, jwt.SigningMethodRS256, fmt.Sprintf("made-up-%d", i), rs.Key, userClaims(clk.Now(), "mallory", nil))
				if _, err := v.Verify(context.Background(), tok); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "is not among") {
					t.Errorf("made-up kid %d: %v", i, err)
				}
			})
		}
		wg.Wait()
	}
	flood() // within RefetchInterval of the first fetch: no request
	if hits := srv.Hits(); hits != 1 {
		t.Fatalf("%d requests after a flood right after the first fetch, want 1", hits)
	}
	clk.Add(defaultRefetchInterval)
	flood()
	if hits := srv.Hits(); hits != 2 {
		t.Fatalf("%d requests after a flood an interval later, want 2", hits)
	}
	clk.Add(defaultRefetchInterval - time.Second)
	flood()
	if hits := srv.Hits(); hits != 2 {
		t.Fatalf("%d requests after a flood within the interval, want 2", hits)
	}
	// The real key still works all along.
	if _, err := v.Verify(context.Background(), rs.Sign(t, userClaims(clk.Now(), "alice", nil))); err != nil {
		t.Fatal(err)
	}
}

// TestKeySetDown: once the provider is down, the cached keys still verify
// tokens, and Status says since when the key set is stale and why.
func TestKeySetDown(t *testing.T) {
	t.Parallel()
	clk := newClock()
	rs := newRSA(t, "k1")
	srv := newJWKSServer(t, rs)
	v := newKeySetVerifier(t, srv, clk, nil)

	srv.SetDown(true)
	clk.Add(time.Minute)
	// A made-up kid makes the verifier try the key set again.
	_, err := v.Verify(context.Background(), signWith(t, jwt.SigningMethodRS256, "k2", rs.Key, userClaims(clk.Now(), "alice", nil)))
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "the key set cannot be fetched: GET answered 503 Service Unavailable") {
		t.Fatalf("unknown kid while the key set is down: %v", err)
	}
	want := "stale: GET answered 503 Service Unavailable since 2030-01-02T03:05:05Z"
	if got := v.Status(); got != want {
		t.Fatalf("status %q, want %q", got, want)
	}
	id, err := v.Verify(context.Background(), rs.Sign(t, userClaims(clk.Now(), "alice", nil)))
	if err != nil || id.Subject != "alice" {
		t.Fatalf("a token of a cached key while the key set is down: %+v, %v", id, err)
	}

	srv.SetDown(false)
	clk.Add(time.Minute)
	if _, err := v.Verify(context.Background(), signWith(t, jwt.SigningMethodRS256, "k3", rs.Key, userClaims(clk.Now(), "alice", nil))); err == nil {
		t.Fatal("a made-up kid was accepted")
	}
	if got := v.Status(); got != "ok" {
		t.Fatalf("status %q after the key set came back, want ok", got)
	}
}

// TestKeySetNeverFetched: a provider that is down from the start leaves
// the verifier with no key: tokens are refused with the reason, and
// Status says it is unavailable.
func TestKeySetNeverFetched(t *testing.T) {
	t.Parallel()
	clk := newClock()
	rs := newRSA(t, "k1")
	srv := newJWKSServer(t, rs)
	srv.SetDown(true)
	v := newKeySetVerifier(t, srv, clk, nil)
	_, err := v.Verify(context.Background(), rs.Sign(t, userClaims(clk.Now(), "alice", nil)))
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "cannot be fetched: GET answered 503") {
		t.Fatalf("%v, want a refusal that says the key set cannot be fetched", err)
	}
	if got, want := v.Status(), "unavailable: GET answered 503 Service Unavailable since 2030-01-02T03:04:05Z"; got != want {
		t.Fatalf("status %q, want %q", got, want)
	}
}

// TestTokensWaitForTheFirstFetch: a token verified while the first fetch
// is under way waits for it rather than being refused.
func TestTokensWaitForTheFirstFetch(t *testing.T) {
	t.Parallel()
	clk := newClock()
	rs := newRSA(t, "k1")
	release := make(chan struct{})
	inner := newJWKSServer(t, rs)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
		inner.Config.Handler.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	v := newVerifier(t, JWTConfig{JWKSURL: srv.URL, Issuer: testIssuer, Audience: testAudience, Now: clk.Now, Logger: discard}, nil)
	if got := v.Status(); got != "fetching" {
		t.Fatalf("status %q before the first fetch ends, want fetching", got)
	}
	result := make(chan error, 1)
	go func() {
		_, err := v.Verify(context.Background(), rs.Sign(t, userClaims(clk.Now(), "alice", nil)))
		result <- err
	}()
	close(release)
	if err := <-result; err != nil {
		t.Fatal(err)
	}

	// A token whose context ends first stops waiting.
	v2, err := NewJWT(JWTConfig{JWKSURL: srv.URL + "/never", Issuer: testIssuer, Audience: testAudience, Now: clk.Now, Logger: discard,
		Client: &http.Client{Transport: blockingTransport{}}})
	if err != nil {
		t.Fatal(err)
	}
	defer v2.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = v2.Verify(ctx, rs.Sign(t, userClaims(clk.Now(), "alice", nil)))
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "the wait for the key set ended: context canceled") {
		t.Fatalf("%v, want the end of the wait", err)
	}
}

// blockingTransport answers no request until its context ends.
type blockingTransport struct{}

func (blockingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	<-r.Context().Done()
	return nil, r.Context().Err()
}

// TestCloseStopsTheFetcher: Close ends the fetcher even in the middle of
// a fetch, and may be called again.
func TestCloseStopsTheFetcher(t *testing.T) {
	t.Parallel()
	v := newVerifier(t, JWTConfig{JWKSURL: "http://127.0.0.1:1/jwks", Issuer: testIssuer, Audience: testAudience, Logger: discard,
		Client: &http.Client{Transport: blockingTransport{}}}, nil)
	v.Close()
	v.Close()
	if got := v.Status(); got != "fetching" {
		t.Fatalf("status %q after closing during the first fetch: a closed verifier's fetch is not the provider's failure", got)
	}
}

// TestKeysThatCannotVerifyAreLeftOut: keys for encryption, symmetric keys,
// keys of other algorithms and curves are not used; a token without a kid
// is checked against every key of its method's kind.
func TestKeysThatCannotVerifyAreLeftOut(t *testing.T) {
	t.Parallel()
	clk := newClock()
	rs, es := newRSA(t, "rsa"), newEC(t, "ec")
	encKey := newRSA(t, "enc").JWK(t)
	encKey.USE = "enc"
	rs384 := newRSA(t, "rs384").JWK(t)
	rs384.ALG = "RS384"
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"keys":[%s,%s,%s,%s,%s,{"kty":"oct","kid":"hmac","k":"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"},{"kty":"EC","kid":"bad","crv":"P-256","x":"x","y":"y"}]}`,
			mustJSON(t, rs.JWK(t)), mustJSON(t, es.JWK(t)), mustJSON(t, encKey), mustJSON(t, rs384), mustJSON(t, signer{Kid: "p384", Key: p384}.JWK(t)))
	}))
	t.Cleanup(srv.Close)
	v := newVerifier(t, JWTConfig{JWKSURL: srv.URL, Issuer: testIssuer, Audience: testAudience, Now: clk.Now, Logger: discard}, nil)
	waitFirstFetch(t, v)
	if v.Status() != "ok" {
		t.Fatalf("status %q: keys that cannot verify are left out, not a failure", v.Status())
	}
	all, err := v.keys.store.KeyReadAll(context.Background())
	if err != nil || len(all) != 2 {
		t.Fatalf("%d keys kept (%v), want rsa and ec", len(all), err)
	}
	claims := userClaims(clk.Now(), "alice", nil)
	for _, tok := range []string{
		signWith(t, jwt.SigningMethodRS256, "", rs.Key, claims),
		signWith(t, jwt.SigningMethodES256, "", es.Key, claims),
	} {
		if _, err := v.Verify(context.Background(), tok); err != nil {
			t.Errorf("a token without kid: %v", err)
		}
	}
	_, err = v.Verify(context.Background(), signWith(t, jwt.SigningMethodHS256, "hmac", []byte("secretsecretsecretsecretsecret"), claims))
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("a token of the symmetric key: %v", err)
	}
	_, err = v.Verify(context.Background(), signWith(t, jwt.SigningMethodEdDSA, "", newEd(t, "").Key, claims))
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "has no kid, and AUTH_JWKS_URL has no EdDSA key") {
		t.Fatalf("an EdDSA token without kid: %v", err)
	}
}

// TestKeySetAnswersThatAreNotKeySets: each bad answer keeps the cached
// keys and is named in Status.
func TestKeySetAnswersThatAreNotKeySets(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		body string
		says string
	}{
		{"<html>", "the answer is not a JWK set"},
		{`{"keys":[]}`, "none of its 0 keys verifies RS256, ES256 or EdDSA signatures"},
		{`{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}`, "none of its 1 keys"},
		{strings.Repeat(" ", maxKeySetBytes+1), "the answer is larger than 1048576 bytes"},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, tc.body) }))
		v, err := NewJWT(JWTConfig{JWKSURL: srv.URL, Issuer: testIssuer, Audience: testAudience, Now: newClock().Now, Logger: discard})
		if err != nil {
			t.Fatal(err)
		}
		waitFirstFetch(t, v)
		if got := v.Status(); !strings.HasPrefix(got, "unavailable: "+tc.says) {
			t.Errorf("%.20q: status %q, want it to say %q", tc.body, got, tc.says)
		}
		v.Close()
		srv.Close()
	}
}

// TestStatusHoldsNoSecret: a key set URL with a password or a query token
// never shows them in Status or in refusals.
func TestStatusHoldsNoSecret(t *testing.T) {
	t.Parallel()
	clk := newClock()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/elsewhere?token=hunter2-query", http.StatusFound)
	}))
	t.Cleanup(srv.Close)
	u := strings.Replace(srv.URL, "http://", "http://user:hunter2-pass@", 1) + "/jwks?token=hunter2-query"
	var logs lockedBuffer
	v := newVerifier(t, JWTConfig{JWKSURL: u, Issuer: testIssuer, Audience: testAudience, Now: clk.Now, Logger: slog.New(slog.NewTextHandler(&logs, nil))}, nil)
	waitFirstFetch(t, v)
	rs := newRSA(t, "k")
	_, verr := v.Verify(context.Background(), rs.Sign(t, userClaims(clk.Now(), "alice", nil)))
	if !strings.Contains(logs.String(), "the JWKS could not be fetched: no key yet") {
		t.Fatalf("logs %q, want the failure logged", logs.String())
	}
	for _, s := range []string{v.Status(), verr.Error(), logs.String()} {
		if strings.Contains(s, "hunter2") || !strings.Contains(s, "stopped after 10 redirects") {
			t.Errorf("%q: want the failure named, and no secret", s)
		}
	}
}

// lockedBuffer is a log's output that a test reads while it is written.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestPublicLeavesOutTheProvidersAddress: a token refused because the key
// set cannot be fetched says why in its error (the log's): the address
// the fetch failed at, which may be inside the operator's network. What
// the client is told (Public) says only that the key set cannot be
// fetched now.
func TestPublicLeavesOutTheProvidersAddress(t *testing.T) {
	t.Parallel()
	clk := newClock()
	rs := newRSA(t, "k1")
	gone := httptest.NewServer(http.NotFoundHandler())
	addr := gone.Listener.Addr().String()
	gone.Close()
	v := newVerifier(t, JWTConfig{JWKSURL: "http://" + addr + "/jwks", Issuer: testIssuer, Audience: testAudience, Now: clk.Now, Logger: discard}, nil)
	waitFirstFetch(t, v)
	for _, tok := range []string{
		rs.Sign(t, userClaims(clk.Now(), "alice", nil)),
		signWith(t, jwt.SigningMethodRS256, "", rs.Key, userClaims(clk.Now(), "alice", nil)), // no kid
	} {
		_, err := v.Verify(context.Background(), tok)
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), addr) {
			t.Fatalf("%v: want the refusal to say where the fetch failed", err)
		}
		if pub := Public(err); strings.Contains(pub, addr) || strings.Contains(pub, "GET") || !strings.Contains(pub, "cannot be fetched now") {
			t.Fatalf("what the client is told: %q; want that the key set cannot be fetched now, without where", pub)
		}
	}
	// Any other refusal is told whole.
	_, err := newSecretVerifier(t, clk, nil).Verify(context.Background(), rs.Sign(t, userClaims(clk.Now(), "alice", nil)))
	if Public(err) != err.Error() {
		t.Fatalf("Public(%q) = %q, want it whole", err, Public(err))
	}
}
