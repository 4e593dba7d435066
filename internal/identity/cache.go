package identity

import (
	"crypto/sha256"
	"sync"
	"time"
)

// DefaultCacheSize is the default of JWTConfig.CacheSize: ten thousand
// tokens, a few megabytes at most.
const DefaultCacheSize = 10_000

// verified remembers the identities of the tokens verified lately, so that
// a token sent again is not verified again: every unary call of a client
// carries its token, and the signature check costs tens of microseconds
// (BenchmarkVerify), a lookup well under one. The socket and the streams
// need no cache: they verify their token once, at their start.
//
// An entry is keyed by the SHA-256 of the token, so the cache holds no
// token, only what a token proved. It is good while Verify would take the
// token (until its exp plus Leeway), and only with the keys it was
// verified with: a key set that changes drops every entry (invalidate),
// so that once the gateway has seen the provider remove a key, no token
// of that key is taken from the cache. What stays, as without the cache,
// is the time until the gateway sees the removal (the key set's refresh,
// or a fetch for an unknown kid); a token of a key still in the set stays
// good until its exp, as a token is in OAuth (a revoked token would need
// the provider asked at every call, which a JWT is there to avoid).
//
// It is bounded: when it is full, an entry taken at random makes room
// (Go's map iteration starts anywhere), which keeps every operation O(1)
// whatever the tokens. It is safe for concurrent use; mu is a leaf lock.
type verified struct {
	max int

	mu      sync.Mutex
	entries map[[sha256.Size]byte]verifiedEntry
	// gen counts the invalidations: an identity verified with the keys of
	// an older generation is not stored.
	gen uint64
}

// verifiedEntry is one token's identity, and until when it is good.
type verifiedEntry struct {
	id    Identity
	until time.Time
}

// newVerified returns a cache of at most max entries; nil, which
// remembers nothing, for max < 0.
func newVerified(max int) *verified {
	if max < 0 {
		return nil
	}
	if max == 0 {
		max = DefaultCacheSize
	}
	return &verified{max: max, entries: make(map[[sha256.Size]byte]verifiedEntry)}
}

// generation is the current generation, to pass to put after a token was
// verified with the keys of now.
func (c *verified) generation() uint64 {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// get returns the identity of the token whose hash is key, if the cache
// has it and it is good at now.
func (c *verified) get(key [sha256.Size]byte, now time.Time) (Identity, bool) {
	if c == nil {
		return Identity{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok {
		return Identity{}, false
	}
	if !now.Before(e.until) {
		delete(c.entries, key)
		return Identity{}, false
	}
	return e.id, true
}

// put remembers id, good until until, for the token whose hash is key,
// unless the keys changed since generation gen, when it was verified.
func (c *verified) put(key [sha256.Size]byte, id Identity, until time.Time, gen uint64) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if _, ok := c.entries[key]; !ok && len(c.entries) >= c.max {
		for k := range c.entries {
			delete(c.entries, k)
			break
		}
	}
	c.entries[key] = verifiedEntry{id: id, until: until}
}

// invalidate forgets every entry: the keys they were verified with
// changed.
func (c *verified) invalidate() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.entries)
	c.gen++
}
