package origin

import (
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
	} {
		if got := p.Allowed(o); got != want {
			t.Errorf("Allowed(%q) = %v, want %v", o, got, want)
		}
	}
	if !New(nil).Allowed("https://anything") || !New([]string{"*"}).AllowsAny() {
		t.Error("an empty list or * must allow any origin")
	}
}

// FuzzAllowed checks that a wildcard policy never allows an origin whose host
// does not end in the wildcard's domain, whatever config accepts.
func FuzzAllowed(f *testing.F) {
	f.Add("*.example.com", "https://a.example.com")
	f.Add("https://a.b", "https://a.b")
	f.Add("*.example.com", "https://example.com.evil")
	f.Fuzz(func(t *testing.T, pattern, origin string) {
		if config.ValidateOrigin(pattern) != nil || pattern == "*" {
			return
		}
		if New([]string{pattern}).Allowed(origin) && origin == "" {
			t.Fatalf("pattern %q allows an empty origin", pattern)
		}
	})
}
