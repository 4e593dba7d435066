package identity

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/agentgate/agentgate/internal/clip"
	"github.com/golang-jwt/jwt/v5"
)

// Leeway is how far a token's exp and nbf may be off the gateway's clock:
// 30 seconds, for clocks that drift apart between the identity provider
// and the gateway. A token is refused as expired only 30 seconds after its
// exp, and accepted 30 seconds before its nbf.
const Leeway = 30 * time.Second

// MinSecretLen is the shortest AUTH_JWT_SECRET: 32 bytes, the size of the
// HS256 hash (RFC 7518 §3.2 asks for a key at least that long).
const MinSecretLen = 32

// maxTokenLen bounds a token: the largest access tokens of identity
// providers (a user in many groups) are a few kilobytes.
const maxTokenLen = 32 << 10

// The signing methods accepted: HS256 with a secret; with a key set,
// RS256, ES256 and EdDSA, each with its own kind of key only.
var (
	secretMethods = []string{jwt.SigningMethodHS256.Alg()}
	keySetMethods = []string{jwt.SigningMethodRS256.Alg(), jwt.SigningMethodES256.Alg(), jwt.SigningMethodEdDSA.Alg()}
)

// JWTConfig configures NewJWT. Exactly one of JWKSURL and Secret is set.
// The zero value of every other field is its default.
type JWTConfig struct {
	// JWKSURL (AUTH_JWKS_URL) is the identity provider's key set (JWKS),
	// an http or https URL. Tokens are signed with RS256, ES256 or EdDSA
	// by one of its keys. Issuer and Audience are required with it.
	JWKSURL string
	// Secret (AUTH_JWT_SECRET) verifies HS256 tokens: at least
	// MinSecretLen bytes.
	Secret string
	// Issuer (AUTH_JWT_ISSUER), when set, must be the tokens' iss.
	Issuer string
	// Audience (AUTH_JWT_AUDIENCE), when set, must be one of the tokens'
	// aud.
	Audience string
	// AgentsClaim (AUTH_AGENTS_CLAIM) lists a token's agents. Default
	// "agents". See CheckAgentsClaim.
	AgentsClaim string
	// DefaultAgents (AUTH_DEFAULT_AGENTS) are the templates of the agents
	// of a token without the agents claim, such as "{sub}" or "{sub}:*".
	// Default none: such a token reaches no agent. See
	// CheckDefaultAgents.
	DefaultAgents []string

	// Logger receives the key set's fetch failures and recoveries.
	// Default slog.Default().
	Logger *slog.Logger
	// Client fetches the key set. Default: a client of the verifier's
	// own, whose idle connections Close closes.
	Client *http.Client
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// RefreshInterval is how often the key set is fetched again. Default
	// 15 minutes. A failed fetch is retried sooner (from 1 second,
	// doubling, up to a minute).
	RefreshInterval time.Duration
	// RefetchInterval is the shortest time between the start of one fetch
	// and one that a token with an unknown kid asks for. Default 10
	// seconds: a flood of made-up kids costs the provider one request per
	// interval, and a key that appears in the key set is found within it.
	RefetchInterval time.Duration
	// FetchTimeout bounds one fetch of the key set. Default 10 seconds.
	FetchTimeout time.Duration
	// CacheSize is how many verified tokens Verify remembers, so that a
	// token sent again (by every unary call of a client) is not verified
	// again until its exp, or until the key set changes. Default
	// DefaultCacheSize; negative: none.
	CacheSize int
}

// JWT verifies users' tokens: their signature (with the secret, or a key of
// the provider's key set), exp and nbf within Leeway (exp is required),
// iss and aud when configured; then it turns their claims into a User
// Identity. It is safe for concurrent use.
//
// Tokens of type at+jwt (RFC 9068 access tokens) are accepted like any
// other: the typ header is not read.
type JWT struct {
	parser    *jwt.Parser
	methods   []string
	claim     string       // the agents claim's name
	named     reflect.Type // decodes the agents claim; see claims.named
	templates templates
	// Exactly one of secretKey (which returns AUTH_JWT_SECRET) and keys
	// is set.
	secretKey jwt.Keyfunc
	keys      *keySet
	// cache remembers the tokens verified lately (nil: none), which a
	// change of the key set forgets.
	cache *verified
	now   func() time.Time
}

// NewJWT returns a verifier of cfg's tokens. With a key set, it starts
// fetching it at once, in a goroutine that Close stops; tokens verified
// before the first fetch ends wait for it (within their context).
func NewJWT(cfg JWTConfig) (*JWT, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	tmpl, err := parseTemplates(cfg.DefaultAgents)
	if err != nil {
		return nil, err
	}
	if cfg.AgentsClaim == "" {
		cfg.AgentsClaim = DefaultAgentsClaim
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	v := &JWT{claim: cfg.AgentsClaim, named: agentsClaimType(cfg.AgentsClaim), templates: tmpl, methods: secretMethods,
		cache: newVerified(cfg.CacheSize), now: cfg.Now}
	if cfg.JWKSURL != "" {
		v.methods = keySetMethods
	} else {
		var secret any = []byte(cfg.Secret) // boxed once, not per token
		v.secretKey = func(*jwt.Token) (any, error) { return secret, nil }
	}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods(v.methods),
		jwt.WithLeeway(Leeway),
		jwt.WithTimeFunc(cfg.Now),
		jwt.WithExpirationRequired(),
		jwt.WithStrictDecoding(),
	}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	if cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(cfg.Audience))
	}
	v.parser = jwt.NewParser(opts...)
	if cfg.JWKSURL != "" {
		v.keys = newKeySet(cfg, v.cache.invalidate)
	}
	return v, nil
}

// check refuses what NewJWT cannot work with. The server's configuration
// refuses the same at start, naming the variable.
func (cfg JWTConfig) check() error {
	switch {
	case cfg.JWKSURL == "" && cfg.Secret == "":
		return errors.New("identity: set JWKSURL or Secret")
	case cfg.JWKSURL != "" && cfg.Secret != "":
		return errors.New("identity: set JWKSURL or Secret, not both")
	case cfg.JWKSURL != "" && (cfg.Issuer == "" || cfg.Audience == ""):
		return errors.New("identity: a key set needs Issuer and Audience: tokens from anyone the provider serves would pass otherwise")
	case cfg.JWKSURL == "" && len(cfg.Secret) < MinSecretLen:
		return fmt.Errorf("identity: the secret is %d bytes long; HS256 needs at least %d", len(cfg.Secret), MinSecretLen)
	}
	if cfg.JWKSURL != "" {
		u, err := url.Parse(cfg.JWKSURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return errors.New("identity: the key set's URL must be http:// or https://")
		}
	}
	if cfg.AgentsClaim != "" {
		if err := CheckAgentsClaim(cfg.AgentsClaim); err != nil {
			return fmt.Errorf("identity: agents claim: %w", err)
		}
	}
	return nil
}

// Verify returns the identity of a user's token, or an error that wraps
// ErrExpired or ErrInvalid (and ErrUnrecognized for a token that is no
// JWT). ctx bounds the wait for the key set when the token names a key the
// verifier has not fetched yet; nothing else blocks. A token verified
// lately is taken from the cache (see verified); the slices of the
// Identity returned are shared, and the caller must not change them.
func (v *JWT) Verify(ctx context.Context, token string) (Identity, error) {
	switch {
	case token == "":
		return Identity{}, invalidf("the token is empty")
	case len(token) > maxTokenLen:
		return Identity{}, invalidf("the token is %d bytes long; the limit is %d", len(token), maxTokenLen)
	}
	var key [sha256.Size]byte
	if v.cache != nil {
		key = sha256.Sum256([]byte(token))
		if id, ok := v.cache.get(key, v.now()); ok {
			return id, nil
		}
	}
	gen := v.cache.generation()
	c := claims{named: v.named}
	tok, err := v.parser.ParseWithClaims(token, &c, v.keyfunc(ctx))
	if err != nil {
		return Identity{}, v.refusal(tok, &c, err)
	}
	id, err := v.identity(&c)
	if err == nil {
		v.cache.put(key, id, id.Expires.Add(Leeway), gen)
	}
	return id, err
}

// Status says whether the verifier has what it needs, for /health: "ok",
// or with a key set that cannot be fetched "stale: <reason> since <time>"
// (the keys fetched before still verify tokens) or "unavailable: <reason>
// since <time>" (no key was ever fetched, so every token is refused). It
// holds no secret.
func (v *JWT) Status() string {
	if v.keys == nil {
		return "ok"
	}
	return v.keys.status()
}

// Close stops fetching the key set, and waits for the fetcher to end. It
// is idempotent.
func (v *JWT) Close() {
	if v.keys != nil {
		v.keys.close()
	}
}

// keyfunc returns the key that verifies a token: the secret, or the key
// set's key named by its kid, if it fits the token's method.
func (v *JWT) keyfunc(ctx context.Context) jwt.Keyfunc {
	if v.keys != nil {
		return v.keys.keyfunc(ctx)
	}
	return v.secretKey
}

// fits reports whether key is of the kind method signs with, so that a
// token cannot choose how its key is used: an RSA key verifies RS256 only,
// a P-256 key ES256 only, an Ed25519 key EdDSA only.
func fits(method jwt.SigningMethod, key any) bool {
	switch k := key.(type) {
	case *rsa.PublicKey:
		return method == jwt.SigningMethodRS256
	case *ecdsa.PublicKey:
		return method == jwt.SigningMethodES256 && k.Curve == elliptic.P256()
	case ed25519.PublicKey:
		return method == jwt.SigningMethodEdDSA
	}
	return false
}

// identity turns verified claims into the caller's Identity.
func (v *JWT) identity(c *claims) (Identity, error) {
	sub, err := c.subject()
	if err != nil {
		return Identity{}, err
	}
	agents, ok, err := c.agents(v.claim)
	if err != nil {
		return Identity{}, err
	}
	if !ok {
		agents = v.templates.expand(sub)
	}
	perms, err := c.perms()
	if err != nil {
		return Identity{}, err
	}
	return Identity{Kind: KindUser, Subject: sub, Agents: agents, Perms: perms, Expires: c.ExpiresAt.Time}, nil
}

// refusal turns the jwt package's error into one a person can act on. A
// token that fails several checks is refused for the one a new token from
// the same place would fail too, before its time.
func (v *JWT) refusal(tok *jwt.Token, c *claims, err error) error {
	if te, ok := errors.AsType[*tokenError](err); ok {
		return te
	}
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return &tokenError{kind: ErrInvalid, msg: "the token is not a well-formed JWT: " + malformed(err), foreign: true}
	case tok != nil && !slices.Contains(v.methods, alg(tok)):
		return invalidf("the token is signed with %s; %s", clip.String(alg(tok), 16), v.accepts())
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return invalidf("the token's signature does not match %s", v.keyName(tok))
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return invalidf("the token's issuer %q is not AUTH_JWT_ISSUER", clip.String(c.Issuer, 128))
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return invalidf("the token's audience %q does not include AUTH_JWT_AUDIENCE", clip.String(strings.Join(c.Audience, " "), 128))
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return v.missing(c)
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return invalidf("the token is not valid before %s (its nbf)", c.NotBefore.UTC().Format(time.RFC3339))
	case errors.Is(err, jwt.ErrTokenExpired):
		return expired(c.ExpiresAt.Time)
	}
	return invalidf("the token is not valid: %s", clip.String(err.Error(), 200))
}

// missing names the required claim a token lacks.
func (v *JWT) missing(c *claims) error {
	switch {
	case c.ExpiresAt == nil:
		return invalidf("the token has no exp claim: only tokens that expire are accepted")
	case c.Issuer == "":
		return invalidf("the token has no iss claim, and AUTH_JWT_ISSUER expects one")
	}
	return invalidf("the token has no aud claim, and AUTH_JWT_AUDIENCE expects one")
}

// accepts says which signing methods the verifier accepts.
func (v *JWT) accepts() string {
	if v.keys == nil {
		return "AUTH_JWT_SECRET verifies HS256 only"
	}
	return "AUTH_JWKS_URL's keys verify " + strings.Join(v.methods, ", ") + " only"
}

// keyName names the key a token's signature was checked with.
func (v *JWT) keyName(tok *jwt.Token) string {
	if v.keys == nil {
		return "AUTH_JWT_SECRET"
	}
	if kid, ok := tok.Header["kid"].(string); ok {
		return fmt.Sprintf("the key %q of AUTH_JWKS_URL", clip.String(kid, 64))
	}
	return "any key of AUTH_JWKS_URL"
}

// alg is the token's alg header, or "no alg".
func alg(tok *jwt.Token) string {
	if a, ok := tok.Header["alg"].(string); ok {
		return a
	}
	return "no alg"
}

// malformed says what the jwt package found malformed, in its own words
// ("could not JSON decode header"), without the decoder's error beneath
// them, which may quote a piece of the token ("invalid character 'i'").
func malformed(err error) string {
	s := strings.TrimPrefix(err.Error(), jwt.ErrTokenMalformed.Error()+": ")
	s, _, _ = strings.Cut(s, ": ")
	return clip.String(s, 200)
}
