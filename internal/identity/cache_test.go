package identity

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// cached is how many tokens v's cache holds, and whether it holds token.
func cached(v *JWT, token string) (n int, holds bool) {
	v.cache.mu.Lock()
	defer v.cache.mu.Unlock()
	_, holds = v.cache.entries[sha256.Sum256([]byte(token))]
	return len(v.cache.entries), holds
}

// TestVerifiedTokensAreRemembered: a verified token is remembered by its
// hash, and taken from the cache as long as Verify would take it: past
// its exp and the leeway it is refused as expired, and forgotten.
func TestVerifiedTokensAreRemembered(t *testing.T) {
	t.Parallel()
	clk := newClock()
	v := newSecretVerifier(t, clk, nil)
	ctx := context.Background()
	tok := signWith(t, jwt.SigningMethodHS256, "", []byte(testSecret), userClaims(clk.Now(), "alice", jwt.MapClaims{"agents": []string{"alice:*"}}))
	first, err := v.Verify(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	if n, holds := cached(v, tok); n != 1 || !holds {
		t.Fatalf("after one Verify the cache holds %d tokens (this one: %v)", n, holds)
	}
	clk.Add(first.Expires.Sub(clk.Now()) + Leeway - time.Second)
	again, err := v.Verify(ctx, tok)
	if err != nil || again.Subject != "alice" || !again.Expires.Equal(first.Expires) || again.Agents[0] != "alice:*" {
		t.Fatalf("the token again, a second before its end: %+v, %v", again, err)
	}
	clk.Add(time.Second)
	if _, err := v.Verify(ctx, tok); !errors.Is(err, ErrExpired) {
		t.Fatalf("the token past its exp and the leeway: %v, want it expired", err)
	}
	if n, _ := cached(v, tok); n != 0 {
		t.Fatalf("the expired token is still remembered")
	}
	// A refusal is not remembered.
	bad := signWith(t, jwt.SigningMethodHS256, "", []byte(strings.Repeat("x", 32)), userClaims(clk.Now(), "alice", nil))
	if _, err := v.Verify(ctx, bad); err == nil {
		t.Fatal("a token of another secret was taken")
	}
	if n, _ := cached(v, bad); n != 0 {
		t.Fatal("a refused token is remembered")
	}
}

// TestAKeySetChangeForgetsVerifiedTokens: once the provider drops a key
// and the gateway has fetched the key set again, a token of that key is
// refused, even one verified (and remembered) before.
func TestAKeySetChangeForgetsVerifiedTokens(t *testing.T) {
	t.Parallel()
	clk := newClock()
	old, next := newRSA(t, "old"), newEC(t, "next")
	srv := newJWKSServer(t, old, next)
	v := newKeySetVerifier(t, srv, clk, nil)
	ctx := context.Background()
	tok := old.Sign(t, userClaims(clk.Now(), "alice", nil))
	if _, err := v.Verify(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if _, holds := cached(v, tok); !holds {
		t.Fatal("the verified token is not remembered")
	}
	srv.Set(t, next) // the provider drops the old key
	// A token of a kid the gateway does not know makes it fetch again.
	clk.Add(defaultRefetchInterval)
	_, _ = v.Verify(ctx, newEd(t, "unknown").Sign(t, userClaims(clk.Now(), "alice", nil)))
	if hits := srv.Hits(); hits != 2 {
		t.Fatalf("the key set was fetched %d times, want 2", hits)
	}
	if _, err := v.Verify(ctx, tok); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), `key "old" is not among`) {
		t.Fatalf("the remembered token of the dropped key: %v, want it refused", err)
	}
	// A fetch that brings the same keys forgets nothing.
	nextTok := next.Sign(t, userClaims(clk.Now(), "alice", nil))
	if _, err := v.Verify(ctx, nextTok); err != nil {
		t.Fatal(err)
	}
	clk.Add(defaultRefetchInterval)
	_, _ = v.Verify(ctx, newEd(t, "unknown-2").Sign(t, userClaims(clk.Now(), "alice", nil)))
	if hits := srv.Hits(); hits != 3 {
		t.Fatalf("the key set was fetched %d times, want 3", hits)
	}
	if _, holds := cached(v, nextTok); !holds {
		t.Fatal("a fetch of the same keys forgot a token")
	}
}

// TestTheCacheIsBounded: a full cache makes room for the next token, and
// every token verifies all the same; a negative size remembers nothing.
func TestTheCacheIsBounded(t *testing.T) {
	t.Parallel()
	clk := newClock()
	v := newSecretVerifier(t, clk, func(c *JWTConfig) { c.CacheSize = 3 })
	none := newSecretVerifier(t, clk, func(c *JWTConfig) { c.CacheSize = -1 })
	var toks []string
	for i := range 10 {
		toks = append(toks, signWith(t, jwt.SigningMethodHS256, "", []byte(testSecret), userClaims(clk.Now(), fmt.Sprint("user", i), nil)))
	}
	for round := range 2 {
		for i, tok := range toks {
			for _, w := range []*JWT{v, none} {
				if id, err := w.Verify(context.Background(), tok); err != nil || id.Subject != fmt.Sprint("user", i) {
					t.Fatalf("round %d, token %d: %+v, %v", round, i, id, err)
				}
			}
			if n, _ := cached(v, tok); n > 3 {
				t.Fatalf("the cache holds %d tokens, more than its 3", n)
			}
		}
	}
	if none.cache != nil {
		t.Fatal("a negative CacheSize made a cache")
	}
}

// TestTheCacheUnderLoad: many goroutines verifying a few tokens at once,
// while the keys change, get their identities (run it with -race).
func TestTheCacheUnderLoad(t *testing.T) {
	t.Parallel()
	clk := newClock()
	v := newSecretVerifier(t, clk, func(c *JWTConfig) { c.CacheSize = 4 })
	var toks []string
	for i := range 6 {
		toks = append(toks, signWith(t, jwt.SigningMethodHS256, "", []byte(testSecret), userClaims(clk.Now(), fmt.Sprint("user", i), nil)))
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for n := range 200 {
				i := (g + n) % len(toks)
				if id, err := v.Verify(context.Background(), toks[i]); err != nil || id.Subject != fmt.Sprint("user", i) {
					t.Errorf("token %d: %+v, %v", i, id, err)
					return
				}
				if n%50 == 0 {
					v.cache.invalidate()
				}
			}
		})
	}
	wg.Wait()
}
