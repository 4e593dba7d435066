package identity

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/agentgate/agentgate/internal/clip"
	"github.com/golang-jwt/jwt/v5"
)

// DefaultAgentsClaim is the claim that lists a token's agents unless
// AUTH_AGENTS_CLAIM names another.
const DefaultAgentsClaim = "agents"

// maxSubjectLen bounds the sub claim: it names the caller in every log line.
const maxSubjectLen = 256

// The scopes, as SPEC names them.
const (
	scopeRead  = "agents:read"
	scopeWrite = "agents:write"
	scopeAdmin = "agents:admin"
)

// payload is what Verify reads of a token's claims. encoding/json decodes
// it in one pass; the rest of the payload is skipped.
type payload struct {
	// RegisteredClaims are iss, sub, aud, exp, nbf, iat and jti, which
	// the jwt package checks.
	jwt.RegisteredClaims
	// Scope is the scope claim (RFC 9068: space-separated), Scp the scp
	// claim some providers use instead (a list, or a string).
	Scope json.RawMessage `json:"scope"`
	Scp   json.RawMessage `json:"scp"`
	// Agents is the agents claim when it has its default name.
	Agents json.RawMessage `json:"agents"`
}

// claims is the jwt.Claims that Verify hands the parser. The payload is
// untrusted when it is decoded (the signature is checked after it), so
// nothing here may fail other than with an error.
type claims struct {
	payload
	// named, when the agents claim is not "agents", is a struct type of
	// one json.RawMessage field tagged with the claim's name (see
	// agentsClaimType), decoded in a second pass.
	named reflect.Type
}

// UnmarshalJSON decodes the payload, and the agents claim under its
// configured name.
func (c *claims) UnmarshalJSON(b []byte) error {
	if err := json.Unmarshal(b, &c.payload); err != nil {
		return err
	}
	if c.named == nil {
		return nil
	}
	v := reflect.New(c.named)
	if err := json.Unmarshal(b, v.Interface()); err != nil {
		return err
	}
	c.Agents = v.Elem().Field(0).Interface().(json.RawMessage)
	return nil
}

// agentsClaimType returns the struct type that decodes the claim name, or
// nil for the default name, which payload decodes.
func agentsClaimType(name string) reflect.Type {
	if name == DefaultAgentsClaim {
		return nil
	}
	return reflect.StructOf([]reflect.StructField{{
		Name: "Agents",
		Type: reflect.TypeFor[json.RawMessage](),
		Tag:  reflect.StructTag(`json:"` + name + `"`),
	}})
}

// reservedClaims may not be the agents claim: they mean something else.
var reservedClaims = []string{"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "scope", "scp", "typ", "client_id"}

// CheckAgentsClaim reports whether name may be the agents claim
// (AUTH_AGENTS_CLAIM): 1 to 128 characters, letters, digits and
// punctuation other than quotes, backslashes and commas (a namespaced
// claim such as https://app.example.com/agents is fine), and not a claim
// that means something else.
func CheckAgentsClaim(name string) error {
	if name == "" || len(name) > 128 {
		return fmt.Errorf("want a claim name of 1 to 128 characters")
	}
	for _, r := range name {
		ok := r < utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune("!#$%&()*+-./:;<=>?@[]^_{|}~", r))
		if !ok {
			return fmt.Errorf("want a claim name of letters, digits and punctuation other than quotes, backslashes, commas and spaces")
		}
	}
	for _, r := range reservedClaims {
		if strings.EqualFold(name, r) {
			return fmt.Errorf("the %s claim means something else: name the claim that lists the agents", r)
		}
	}
	return nil
}

// subject returns the sub claim if it can name the caller.
func (c *claims) subject() (string, error) {
	sub := c.Subject
	switch {
	case sub == "":
		return "", invalidf("the token has no sub claim: the gateway needs a subject to know whose agents are whose")
	case len(sub) > maxSubjectLen:
		return "", invalidf("the token's sub claim is %d bytes long; the limit is %d", len(sub), maxSubjectLen)
	case !utf8.ValidString(sub) || strings.ContainsFunc(sub, unicode.IsControl):
		return "", invalidf("the token's sub claim holds control characters or invalid UTF-8")
	}
	return sub, nil
}

// agents returns the patterns of the agents claim, named name in
// messages; ok is false when the token has no such claim (or null).
func (c *claims) agents(name string) (patterns []string, ok bool, err error) {
	list, ok, err := stringsClaim(c.Agents)
	if err != nil {
		return nil, true, invalidf("the token's %s claim must be a list of agent ids or one space-separated string of them: %v", name, err)
	}
	if len(list) > maxPatterns {
		return nil, true, invalidf("the token's %s claim lists %d agents; the limit is %d (use prefixes ending in *)", name, len(list), maxPatterns)
	}
	for _, p := range list {
		if err := checkPattern(p); err != nil {
			return nil, true, invalidf("the token's %s claim holds %v", name, err)
		}
	}
	return list, ok, nil
}

// perms returns the permissions of the scope claim, or of scp when there
// is no scope claim; with neither, read and write (SPEC).
func (c *claims) perms() (Permission, error) {
	raw, name := c.Scope, "scope"
	if isNull(raw) {
		raw, name = c.Scp, "scp"
	}
	scopes, ok, err := stringsClaim(raw)
	if err != nil {
		return 0, invalidf("the token's %s claim must be a space-separated string of scopes (or a list of them): %v", name, err)
	}
	if !ok {
		return Read | Write, nil
	}
	var p Permission
	for _, s := range scopes {
		switch s {
		case scopeRead:
			p |= Read
		case scopeWrite:
			p |= Write
		case scopeAdmin:
			p |= Read | Write | Admin
		}
	}
	return p, nil
}

// stringsClaim decodes a claim that is either a JSON array of strings or
// one string of space-separated words. ok is false when the claim is
// absent or null.
func stringsClaim(raw json.RawMessage) (list []string, ok bool, err error) {
	if isNull(raw) {
		return nil, false, nil
	}
	switch raw[0] {
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, true, err
		}
		return strings.Fields(s), true, nil
	case '[':
		if err := json.Unmarshal(raw, &list); err != nil {
			return nil, true, fmt.Errorf("a list of strings only")
		}
		return list, true, nil
	}
	return nil, true, fmt.Errorf("found %s", clip.String(string(raw), 32))
}

// isNull reports whether a claim is absent or JSON null.
func isNull(raw json.RawMessage) bool {
	return len(raw) == 0 || bytes.Equal(raw, []byte("null"))
}
