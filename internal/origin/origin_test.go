package origin

import (
	"strings"
	"testing"

	"github.com/agentgate/agentgate/internal/config"
)

func TestAllowed(t *testing.T) {
	t.Parallel()
	p := New([]string{"https://app.example.com", "*.example.org", "https://*.example.net"})
	for o, want := range map[string]bool{
		"https://app.example.com":  true,
		"http://app.example.com":   false,
		"https://APP.example.com":  true,
		"https://a.example.org":    true,
		"http://a.b.example.org":   true,
		"https://example.org":      false,
		"https://x.example.net":    true,
		"http://x.example.net":     false,
		"https://evilexample.org":  false,
		"https://example.org.evil": false,
		"null":                     false,
		"//a.example.org":          false,
	} {
		if got := p.Allowed(o); got != want {
			t.Errorf("Allowed(%q) = %v, want %v", o, got, want)
		}
	}
	if !New(nil).Allowed("https://anything") || !New([]string{"*"}).AllowsAny() {
		t.Error("an empty list or * must allow any origin")
	}
}

// FuzzAllowed checks Allowed against what the package promises, for any
// pattern config accepts and any origin: an exact pattern allows only itself
// (case aside), and a wildcard allows only an origin of its scheme (when it
// names one) whose authority, as written, is a subdomain of its domain with
// the same port. The oracle reads the origin as text, not through url.Parse,
// so that it cannot share a mistake with the code it checks.
func FuzzAllowed(f *testing.F) {
	f.Add("*.example.com", "https://a.example.com")
	f.Add("https://a.b", "https://a.b")
	f.Add("*.example.com", "https://example.com.evil")
	f.Add("*.example.com", "https://example.com")
	f.Add("https://*.example.com:8443", "https://a.example.com:8443")
	f.Add("*.example.com", "https://a.example.com:8443")
	f.Add("*.example.com", "https://a.example.com@evil.com")
	f.Fuzz(func(t *testing.T, pattern, origin string) {
		if config.ValidateOrigin(pattern) != nil || pattern == "*" {
			return
		}
		if !New([]string{pattern}).Allowed(origin) {
			return
		}
		if broken := brokenPromise(pattern, origin); broken != "" {
			t.Fatalf("pattern %q allows origin %q: %s", pattern, origin, broken)
		}
	})
}

// brokenPromise says which promise of the package an allowed origin breaks,
// or "" if it breaks none.
func brokenPromise(pattern, origin string) string {
	pattern = strings.ToLower(strings.TrimSuffix(pattern, "/"))
	origin = strings.ToLower(origin)
	scheme, rest, hasScheme := strings.Cut(pattern, "://")
	if !hasScheme {
		scheme, rest = "", pattern
	}
	domain, wildcard := strings.CutPrefix(rest, "*.")
	if !wildcard {
		if origin != pattern {
			return "an exact pattern allows only itself"
		}
		return ""
	}
	originScheme, authority, ok := strings.Cut(origin, "://")
	switch {
	case !ok:
		return "an origin is scheme://host[:port]"
	case scheme != "" && originScheme != scheme:
		return "the wildcard names another scheme"
	}
	if i := strings.IndexAny(authority, "/?#\\"); i >= 0 {
		authority = authority[:i]
	}
	if !strings.HasSuffix(authority, "."+domain) || len(authority) == len(domain)+1 {
		return "the host is not a subdomain of " + domain + " (port included)"
	}
	return ""
}
