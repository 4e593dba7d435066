package identity

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"github.com/agentgate/agentgate/internal/backoff"
	"github.com/agentgate/agentgate/internal/clip"
	"github.com/agentgate/agentgate/internal/redact"
	"github.com/golang-jwt/jwt/v5"
)

// The key set's defaults (JWTConfig).
const (
	defaultRefreshInterval = 15 * time.Minute
	defaultRefetchInterval = 10 * time.Second
	defaultFetchTimeout    = 10 * time.Second
	// retryMin and retryMax space the retries of a failed fetch.
	retryMin = time.Second
	retryMax = time.Minute
	// maxKeySetBytes bounds the provider's answer: a key set of a few
	// keys is a few kilobytes.
	maxKeySetBytes = 1 << 20
)

// keySet is the provider's key set (AUTH_JWKS_URL), cached. One goroutine
// (run) fetches it: at start, every RefreshInterval, sooner after a
// failure, and when a token names a kid the cache lacks (at most once per
// RefetchInterval). A failed fetch keeps the keys fetched before.
//
// jwkset parses the keys and holds them; keyfunc finds a token's key by
// its kid and checks that the key's alg, when it has one, is the token's.
// keySet owns when to fetch: keyfunc's own refresher cannot tell a
// successful fetch from none (which Status needs), and makes a token with
// an unknown kid wait for its rate limiter rather than be refused at once.
type keySet struct {
	url    string
	client *http.Client
	own    bool // client is ours: Close closes its idle connections
	log    *slog.Logger
	now    func() time.Time
	every  time.Duration // RefreshInterval
	gap    time.Duration // RefetchInterval
	limit  time.Duration // FetchTimeout
	red    *redact.Redactor

	store *jwkset.MemoryJWKSet
	find  keyfunc.Keyfunc
	// changed is called, with no lock held, when a fetch brought keys
	// other than the ones before: the verified tokens' cache forgets
	// what the old keys verified.
	changed func()

	// kick asks run for a fetch now; a token with an unknown kid sends it
	// after setting pending.
	kick   chan struct{}
	cancel context.CancelFunc
	done   chan struct{} // closed when run returns
	once   sync.Once

	// mu guards the fields below. Nothing else is locked or logged while
	// it is held (the store's own lock is taken outside it).
	mu sync.Mutex
	// pending is closed when the fetch under way, or asked for, ends;
	// nil when none is. Tokens with an unknown kid wait on it.
	pending chan struct{}
	started time.Time // when the last fetch started
	fetched time.Time // when a fetch last succeeded; zero if none did
	failure string    // why the last fetch failed; "" if it succeeded
	since   time.Time // when the fetches started failing
	// digest tells the keys of the last successful fetch apart from the
	// next one's (keysDigest).
	digest [sha256.Size]byte
}

// newKeySet starts fetching cfg's key set; changed is called when a fetch
// brings other keys than the ones before.
func newKeySet(cfg JWTConfig, changed func()) *keySet {
	ks := &keySet{
		url:     cfg.JWKSURL,
		client:  cfg.Client,
		log:     cfg.Logger,
		now:     cfg.Now,
		every:   orDefault(cfg.RefreshInterval, defaultRefreshInterval),
		gap:     orDefault(cfg.RefetchInterval, defaultRefetchInterval),
		limit:   orDefault(cfg.FetchTimeout, defaultFetchTimeout),
		red:     redact.New(redact.URLSecrets(cfg.JWKSURL)...),
		store:   jwkset.NewMemoryStorage(),
		changed: changed,
		kick:    make(chan struct{}, 1),
		done:    make(chan struct{}),
		// The first fetch is asked for at once: tokens that come before
		// it ends wait for it.
		pending: make(chan struct{}),
	}
	if ks.client == nil {
		ks.client = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
		ks.own = true
	}
	if ks.log == nil {
		ks.log = slog.Default()
	}
	// keyfunc.New fails only without a storage.
	ks.find, _ = keyfunc.New(keyfunc.Options{Storage: refetching{ks.store, ks}})
	ctx, cancel := context.WithCancel(context.Background())
	ks.cancel = cancel
	go ks.run(ctx)
	return ks
}

// orDefault is d, or def when d is not positive.
func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// close stops run and waits for it.
func (ks *keySet) close() {
	ks.once.Do(func() {
		ks.cancel()
		<-ks.done
		if ks.own {
			ks.client.CloseIdleConnections()
		}
	})
}

// run fetches the key set until ctx ends: now, then every ks.every, or
// sooner after a failure or when asked.
func (ks *keySet) run(ctx context.Context) {
	defer close(ks.done)
	retry := backoff.New(retryMin, retryMax)
	for {
		wait := ks.every
		if ks.fetch(ctx) {
			retry.Reset()
		} else {
			wait = min(retry.Next(), ks.every)
		}
		if !ks.sleep(ctx, wait) {
			return
		}
	}
}

// sleep waits for d, or for a fetch that a token asked for; it reports
// false when ctx ends.
func (ks *keySet) sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
			return true
		case <-ks.kick:
			ks.mu.Lock()
			asked := ks.pending != nil
			ks.mu.Unlock()
			if asked { // else a fetch since the kick served it
				return true
			}
		}
	}
}

// fetch gets the key set once and replaces the cached keys with it; it
// reports whether it succeeded. Tokens waiting for a fetch are released
// when it ends, whatever the outcome.
func (ks *keySet) fetch(ctx context.Context) bool {
	ks.mu.Lock()
	done := ks.pending
	if done == nil {
		done = make(chan struct{})
		ks.pending = done
	}
	ks.started = ks.now()
	ks.mu.Unlock()

	fctx, cancel := context.WithTimeout(ctx, ks.limit)
	keys, err := ks.get(fctx)
	cancel()
	if err == nil {
		err = ks.store.KeyReplaceAll(ctx, keys)
	}
	var digest [sha256.Size]byte
	if err == nil {
		digest = keysDigest(keys)
	}

	closing := err != nil && ctx.Err() != nil // not a failure of the provider
	ks.mu.Lock()
	was, since, fetched := ks.failure, ks.since, ks.fetched
	changed := false
	switch {
	case err == nil:
		ks.fetched, ks.failure, ks.since = ks.now(), "", time.Time{}
		changed, ks.digest = digest != ks.digest, digest
	case !closing:
		if ks.failure == "" {
			ks.since = ks.now()
		}
		ks.failure = ks.red.Excerpt(err.Error(), 300)
	}
	failure := ks.failure
	ks.pending = nil
	ks.mu.Unlock()
	// Before the tokens waiting for the fetch go on: none of them may find
	// an identity the old keys verified.
	if changed && ks.changed != nil {
		ks.changed()
	}
	close(done)

	u := redact.URL(ks.url)
	switch {
	case err == nil && was != "":
		ks.log.Info("the JWKS can be fetched again", "url", u, "keys", len(keys), "failing_since", since)
	case err == nil, closing:
	case fetched.IsZero():
		ks.log.Error("the JWKS could not be fetched: no key yet, every user's token is refused", "url", u, "error", failure)
	default:
		ks.log.Warn("the JWKS could not be fetched: tokens are verified with the keys fetched before", "url", u,
			"error", failure, "keys_fetched_at", fetched)
	}
	return err == nil
}

// keysDigest tells one set of keys apart from another: the SHA-256 of
// their JSON, in the order the provider gave them.
func keysDigest(keys []jwkset.JWK) [sha256.Size]byte {
	h := sha256.New()
	for _, k := range keys {
		b, _ := json.Marshal(k.Marshal())
		h.Write(b)
	}
	var d [sha256.Size]byte
	h.Sum(d[:0])
	return d
}

// get fetches and parses the key set. It keeps the keys that can verify
// RS256, ES256 or EdDSA signatures, and fails if none can.
func (ks *keySet) get(ctx context.Context) ([]jwkset.JWK, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ks.url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	res, err := ks.client.Do(req)
	if err != nil {
		if uerr, ok := errors.AsType[*url.Error](err); ok {
			err = uerr.Err // the URL is the operator's, and may hold a secret
		}
		return nil, fmt.Errorf("GET failed: %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET answered %s", res.Status)
	}
	body, err := io.ReadAll(io.LimitReader(res.Body, maxKeySetBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading the answer: %w", err)
	}
	if len(body) > maxKeySetBytes {
		return nil, fmt.Errorf("the answer is larger than %d bytes", maxKeySetBytes)
	}
	var set jwkset.JWKSMarshal
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, fmt.Errorf("the answer is not a JWK set: %w", err)
	}
	keys := make([]jwkset.JWK, 0, len(set.Keys))
	for _, m := range set.Keys {
		k, err := verificationKey(m)
		if err != nil {
			ks.log.Debug("a key of the JWKS is left out", "kid", clip.String(m.KID, 64), "reason", err.Error())
			continue
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("none of its %d keys verifies %s signatures", len(set.Keys), joinMethods())
	}
	return keys, nil
}

// verificationKey returns the public key of m if it may verify one of the
// accepted signing methods.
func verificationKey(m jwkset.JWKMarshal) (jwkset.JWK, error) {
	switch {
	case m.USE != "" && m.USE != jwkset.UseSig:
		return jwkset.JWK{}, fmt.Errorf("its use is %q", m.USE)
	case len(m.KEYOPS) > 0 && !slices.Contains(m.KEYOPS, jwkset.KeyOpsVerify):
		return jwkset.JWK{}, errors.New("its key_ops leave out verify")
	case m.ALG != "" && !slices.Contains(keySetMethods, m.ALG.String()):
		return jwkset.JWK{}, fmt.Errorf("its alg %s is not accepted", m.ALG)
	}
	// Private: false reads the public part only, and refuses symmetric
	// keys, which must never verify a token of the key set.
	k, err := jwkset.NewJWKFromMarshal(m, jwkset.JWKMarshalOptions{}, jwkset.JWKValidateOptions{})
	if err != nil {
		return jwkset.JWK{}, err
	}
	ok := false
	for _, method := range []jwt.SigningMethod{jwt.SigningMethodRS256, jwt.SigningMethodES256, jwt.SigningMethodEdDSA} {
		ok = ok || fits(method, k.Key())
	}
	if !ok {
		return jwkset.JWK{}, fmt.Errorf("it is a %T key", k.Key())
	}
	return k, nil
}

func joinMethods() string {
	return keySetMethods[0] + ", " + keySetMethods[1] + " or " + keySetMethods[2]
}

// refetch asks for a fetch because a token names a kid that the cache
// lacks, and waits for it within ctx. It fails at once if a fetch started
// less than RefetchInterval ago, so that made-up kids cost the provider
// one request per interval at most.
func (ks *keySet) refetch(ctx context.Context) error {
	ks.mu.Lock()
	done := ks.pending
	if done == nil {
		if ago := ks.now().Sub(ks.started); ago < ks.gap {
			ks.mu.Unlock()
			return errRecent
		}
		done = make(chan struct{})
		ks.pending = done
		select {
		case ks.kick <- struct{}{}:
		default:
		}
	}
	ks.mu.Unlock()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-ks.done:
		return errors.New("the verifier is closed")
	}
}

// errRecent: the key set was fetched too recently to fetch it again.
var errRecent = errors.New("the key set was fetched moments ago")

// refetching is the key storage keyfunc reads: the cached keys, fetched
// again when a kid is not among them.
type refetching struct {
	*jwkset.MemoryJWKSet
	ks *keySet
}

// KeyRead returns the key named kid, fetching the key set again (see
// refetch) if it is not cached.
func (r refetching) KeyRead(ctx context.Context, kid string) (jwkset.JWK, error) {
	k, err := r.MemoryJWKSet.KeyRead(ctx, kid)
	if !errors.Is(err, jwkset.ErrKeyNotFound) {
		return k, err
	}
	if err := r.ks.refetch(ctx); err != nil && !errors.Is(err, errRecent) {
		return jwkset.JWK{}, r.ks.unknown(kid, "the wait for the key set ended: "+err.Error())
	}
	k, err = r.MemoryJWKSet.KeyRead(ctx, kid)
	if errors.Is(err, jwkset.ErrKeyNotFound) {
		return jwkset.JWK{}, r.ks.unknown(kid, "")
	}
	return k, err
}

// unknown is the refusal of a token whose kid is not in the key set.
func (ks *keySet) unknown(kid, why string) error {
	msg := fmt.Sprintf("the token's key %q is not among AUTH_JWKS_URL's keys", clip.String(kid, 64))
	if why == "" {
		return ks.unfetched(msg)
	}
	return &tokenError{kind: ErrInvalid, msg: msg + " (" + why + ")", public: msg + " (the key set could not be fetched in time)"}
}

// unfetched is the refusal msg, which says why a token's key is not
// known, with why the key set cannot be fetched if it cannot: in the
// error's text, and in words that name no address in what the client is
// told (see Public).
func (ks *keySet) unfetched(msg string) error {
	reason := ks.failureReason()
	if reason == "" {
		return invalidf("%s", msg)
	}
	return &tokenError{kind: ErrInvalid, msg: msg + " (the key set cannot be fetched: " + reason + ")",
		public: msg + " (the key set cannot be fetched now)"}
}

// failureReason is why fetching fails, or "".
func (ks *keySet) failureReason() string {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	return ks.failure
}

// status is JWT.Status for a key set.
func (ks *keySet) status() string {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	switch {
	case ks.failure != "" && ks.fetched.IsZero():
		return "unavailable: " + ks.failure + " since " + ks.since.UTC().Format(time.RFC3339)
	case ks.failure != "":
		return "stale: " + ks.failure + " since " + ks.since.UTC().Format(time.RFC3339)
	case ks.fetched.IsZero():
		return "fetching"
	}
	return "ok"
}

// keyfunc returns the key of a token: the cached key named by its kid
// (fetched again if unknown, see refetch), or, for a token without a kid,
// every cached key of its method's kind. A key of another kind than the
// token's method is refused.
func (ks *keySet) keyfunc(ctx context.Context) jwt.Keyfunc {
	find := ks.find.KeyfuncCtx(ctx)
	return func(tok *jwt.Token) (any, error) {
		key, err := find(tok)
		if err != nil {
			if te, ok := errors.AsType[*tokenError](err); ok {
				return nil, te
			}
			return nil, invalidf("the token's key does not fit it: %s", clip.String(err.Error(), 200))
		}
		set, ok := key.(jwt.VerificationKeySet)
		if !ok {
			if !fits(tok.Method, key) {
				return nil, invalidf("the token is signed with %s, but its key %q of AUTH_JWKS_URL is %s key: each kind of key verifies one method only", tok.Method.Alg(), clip.String(kid(tok), 64), keyKind(key))
			}
			return key, nil
		}
		fit := jwt.VerificationKeySet{}
		for _, k := range set.Keys {
			if fits(tok.Method, k) {
				fit.Keys = append(fit.Keys, k)
			}
		}
		if len(fit.Keys) == 0 {
			return nil, ks.unfetched(fmt.Sprintf("the token has no kid, and AUTH_JWKS_URL has no %s key", tok.Method.Alg()))
		}
		return fit, nil
	}
}

// keyKind names the kind of key, with its article.
func keyKind(key any) string {
	switch k := key.(type) {
	case *rsa.PublicKey:
		return "an RSA"
	case *ecdsa.PublicKey:
		return "a " + k.Curve.Params().Name
	case ed25519.PublicKey:
		return "an Ed25519"
	}
	return fmt.Sprintf("a %T", key)
}

// kid is the token's kid header, or "".
func kid(tok *jwt.Token) string {
	k, _ := tok.Header["kid"].(string)
	return k
}
