// Package origin decides which browser origins may use the gateway, from
// ALLOWED_ORIGINS: the WebSocket upgrade is refused with 403 for others, and
// CORS for Connect and gRPC-Web follows the same list.
package origin

import (
	"net/http"
	"net/url"
	"strings"
)

// Policy is a list of allowed origins. An empty Policy allows any origin.
type Policy struct {
	any      bool
	exact    map[string]bool // "https://app.example.com"
	suffixes []wildcard      // "*.example.com", "https://*.example.com"
}

type wildcard struct {
	scheme string // empty: any scheme
	suffix string // ".example.com" or ".example.com:8443"
}

// New builds a Policy from patterns already validated by config: "*", exact
// origins "scheme://host[:port]", and "*.domain" or "scheme://*.domain"
// wildcards that match subdomains (not the bare domain).
func New(patterns []string) *Policy {
	p := &Policy{exact: map[string]bool{}, any: len(patterns) == 0}
	for _, pat := range patterns {
		pat = strings.ToLower(strings.TrimSuffix(pat, "/"))
		scheme, rest, hasScheme := strings.Cut(pat, "://")
		if !hasScheme {
			scheme, rest = "", pat
		}
		switch {
		case pat == "*":
			p.any = true
		case strings.HasPrefix(rest, "*."):
			p.suffixes = append(p.suffixes, wildcard{scheme: scheme, suffix: rest[1:]})
		default:
			p.exact[pat] = true
		}
	}
	return p
}

// AllowsAny reports whether every origin is allowed.
func (p *Policy) AllowsAny() bool { return p.any }

// Allowed reports whether a browser at origin (the Origin header) may call.
func (p *Policy) Allowed(origin string) bool {
	if p.any {
		return true
	}
	origin = strings.ToLower(origin)
	if p.exact[origin] {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return false
	}
	for _, w := range p.suffixes {
		if (w.scheme == "" || w.scheme == u.Scheme) && strings.HasSuffix(u.Host, w.suffix) && len(u.Host) > len(w.suffix) {
			return true
		}
	}
	return false
}

// CheckRequest allows requests without an Origin header (not from a
// browser, so not a cross-site risk) and browser requests from an allowed
// origin.
func (p *Policy) CheckRequest(r *http.Request) bool {
	o := r.Header.Get("Origin")
	return o == "" || p.Allowed(o)
}
