package config

import (
	"fmt"
	"net"
	"net/url"
	"time"

	"github.com/agentgate/agentgate/internal/identity"
	"github.com/agentgate/agentgate/internal/redact"
)

// JWT is how users' tokens are verified (the AUTH_JWT* variables and their
// companions): with the identity provider's key set (AUTH_JWKS_URL) or a
// shared secret (AUTH_JWT_SECRET), at most one of them. Neither means no
// JWT is accepted; AUTH_TOKENS still work either way.
type JWT struct {
	// JWKSURL is AUTH_JWKS_URL: the provider's key set, http(s).
	JWKSURL string
	// Secret is AUTH_JWT_SECRET: the HS256 key, at least 32 bytes.
	Secret string
	// Issuer is AUTH_JWT_ISSUER, the tokens' iss; required with JWKSURL.
	Issuer string
	// Audience is AUTH_JWT_AUDIENCE, one of the tokens' aud; required with
	// JWKSURL.
	Audience string
	// AgentsClaim is AUTH_AGENTS_CLAIM, the claim that lists a token's
	// agents. Default "agents".
	AgentsClaim string
	// DefaultAgents is AUTH_DEFAULT_AGENTS: the templates of the agents of
	// a token without that claim, such as {sub} or {sub}:*. Default none.
	DefaultAgents []string
	// ExpiryGrace is AUTH_EXPIRY_GRACE: how long a connection outlives its
	// token, for the client to hand a fresh one. Default 25s.
	ExpiryGrace time.Duration
}

// Enabled reports whether users' tokens are accepted.
func (j JWT) Enabled() bool { return j.JWKSURL != "" || j.Secret != "" }

// Verifier is the configuration of identity.NewJWT, for Enabled settings;
// the caller adds its logger.
func (j JWT) Verifier() identity.JWTConfig {
	return identity.JWTConfig{JWKSURL: j.JWKSURL, Secret: j.Secret, Issuer: j.Issuer, Audience: j.Audience,
		AgentsClaim: j.AgentsClaim, DefaultAgents: j.DefaultAgents}
}

// jwtVars are the variables that mean nothing without AUTH_JWKS_URL or
// AUTH_JWT_SECRET.
var jwtVars = []string{"AUTH_JWT_ISSUER", "AUTH_JWT_AUDIENCE", "AUTH_AGENTS_CLAIM", "AUTH_DEFAULT_AGENTS", "AUTH_EXPIRY_GRACE"}

func (p *parser) jwt() JWT {
	j := JWT{
		JWKSURL:       p.httpURL("AUTH_JWKS_URL", "", "an http:// or https:// URL of the identity provider's key set (its jwks_uri)"),
		Secret:        p.jwtSecret("AUTH_JWT_SECRET"),
		Issuer:        p.text("AUTH_JWT_ISSUER"),
		Audience:      p.text("AUTH_JWT_AUDIENCE"),
		AgentsClaim:   p.agentsClaim("AUTH_AGENTS_CLAIM"),
		DefaultAgents: p.defaultAgents("AUTH_DEFAULT_AGENTS"),
		ExpiryGrace:   p.duration("AUTH_EXPIRY_GRACE", 25*time.Second, 0, time.Hour),
	}
	switch {
	case j.JWKSURL != "" && j.Secret != "":
		p.fail("AUTH_JWT_SECRET", "(redacted)", "set AUTH_JWKS_URL or AUTH_JWT_SECRET, not both")
	case j.JWKSURL != "" && j.Issuer == "":
		p.fail("AUTH_JWT_ISSUER", "", "required with AUTH_JWKS_URL: the iss of the provider's tokens, such as https://idp.example.com/")
	case j.JWKSURL != "" && j.Audience == "":
		p.fail("AUTH_JWT_AUDIENCE", "", "required with AUTH_JWKS_URL: the aud the provider gives tokens for this gateway")
	case j.JWKSURL != "" && plainHTTP(j.JWKSURL):
		p.warn("AUTH_JWKS_URL is http:// to a host other than this one: keys fetched without TLS can be replaced on the way, and with them anyone's token forged; use https://")
	case !j.Enabled():
		p.warnUnusedJWTVars()
	}
	return j
}

// jwtSecret reads AUTH_JWT_SECRET: never echoed.
func (p *parser) jwtSecret(name string) string {
	v := p.secret(name)
	if v != "" && len(v) < identity.MinSecretLen {
		p.fail(name, "(redacted)", fmt.Sprintf("want at least %d bytes (HS256); make one with: openssl rand -hex 32", identity.MinSecretLen))
		return ""
	}
	return v
}

func (p *parser) agentsClaim(name string) string {
	v, ok := p.get(name)
	if !ok {
		return identity.DefaultAgentsClaim
	}
	if err := identity.CheckAgentsClaim(v); err != nil {
		p.fail(name, v, err.Error())
		return identity.DefaultAgentsClaim
	}
	return v
}

func (p *parser) defaultAgents(name string) []string {
	list := p.list(name)
	if err := identity.CheckDefaultAgents(list); err != nil {
		p.fail(name, p.text(name), err.Error())
		return nil
	}
	return list
}

// warnUnusedJWTVars warns of the JWT variables set without a way to verify
// JWTs: they would do nothing.
func (p *parser) warnUnusedJWTVars() {
	for _, name := range jwtVars {
		if _, set := p.get(name); set {
			p.warn(name + " is set but neither AUTH_JWKS_URL nor AUTH_JWT_SECRET is, so no JWT is accepted and it does nothing")
			return
		}
	}
}

// plainHTTP reports whether rawURL is http:// to a host other than a
// loopback address or localhost.
func plainHTTP(rawURL string) bool {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme != "http" {
		return false
	}
	host := u.Hostname()
	ip := net.ParseIP(host)
	return host != "localhost" && (ip == nil || !ip.IsLoopback())
}

// jwtSecrets are the JWT settings the logs must never show.
func (j JWT) secrets() []string {
	return append([]string{j.Secret}, redact.URLSecrets(j.JWKSURL)...)
}
