package bench

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
)

// The issuer and audience of the tokens an Issuer mints, which the
// gateway under test is told (AUTH_JWT_ISSUER, AUTH_JWT_AUDIENCE).
const (
	IssuerName     = "https://idp.bench/"
	IssuerAudience = "agentgate"
)

// Issuer is the identity provider of the benchmarks of users' JWTs: a key
// made at its start, whose key set it serves at URL (for RS256 and ES256,
// as AUTH_JWKS_URL), and a token it minted with it: subject bench, every
// agent, every scope, valid for a day. For HS256 it serves nothing, and
// the token is signed with the secret it was given (AUTH_JWT_SECRET).
type Issuer struct {
	// URL is the key set's, empty for HS256.
	URL string
	// Token is the minted JWT.
	Token string
	srv   *http.Server
}

// StartIssuer makes a key for alg (RS256, ES256, or HS256 with secret),
// mints the token, and for a key pair serves its key set on addr (such as
// 127.0.0.1:0) until Close.
func StartIssuer(alg, secret, addr string) (*Issuer, error) {
	now := time.Now()
	claims := jwt.MapClaims{
		"iss": IssuerName, "aud": IssuerAudience, "sub": "bench",
		"agents": []string{"*"}, "scope": "agents:read agents:write agents:admin",
		"iat": now.Unix(), "exp": now.Add(24 * time.Hour).Unix(),
	}
	if alg == "HS256" {
		if secret == "" {
			return nil, errors.New("HS256 needs the secret (-secret), the gateway's AUTH_JWT_SECRET")
		}
		tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(secret))
		return &Issuer{Token: tok}, err
	}
	var key crypto.Signer
	var method jwt.SigningMethod
	var err error
	switch alg {
	case "RS256":
		method = jwt.SigningMethodRS256
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	case "ES256":
		method = jwt.SigningMethodES256
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	default:
		return nil, fmt.Errorf("alg %q: want RS256, ES256 or HS256", alg)
	}
	if err != nil {
		return nil, err
	}
	jwk, err := jwkset.NewJWKFromKey(key.Public(), jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: "bench", USE: jwkset.UseSig}})
	if err != nil {
		return nil, err
	}
	set, err := json.Marshal(jwkset.JWKSMarshal{Keys: []jwkset.JWKMarshal{jwk.Marshal()}})
	if err != nil {
		return nil, err
	}
	t := jwt.NewWithClaims(method, claims)
	t.Header["kid"] = "bench"
	tok, err := t.SignedString(key)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	iss := &Issuer{URL: "http://" + ln.Addr().String() + "/jwks", Token: tok}
	iss.srv = &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/jwk-set+json")
		_, _ = w.Write(set)
	})}
	go func() { _ = iss.srv.Serve(ln) }()
	return iss, nil
}

// Close stops serving the key set.
func (i *Issuer) Close(ctx context.Context) error {
	if i.srv == nil {
		return nil
	}
	return i.srv.Shutdown(ctx)
}
