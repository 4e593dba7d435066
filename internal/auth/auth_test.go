package auth

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/agentgate/agentgate/internal/identity"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestValid(t *testing.T) {
	t.Parallel()
	tok := New([]string{"first-token-0000000", "second-token-000000"})
	for s, want := range map[string]bool{"first-token-0000000": true, "second-token-000000": true, "first-token-000000": false, "": false} {
		if tok.Valid(s) != want {
			t.Errorf("Valid(%q) = %v, want %v", s, !want, want)
		}
	}
	if !New(nil).Valid("anything") || New(nil).Enabled() {
		t.Error("no tokens must mean auth off")
	}
}

// TestVerify: a service token is the Service identity; any other token is
// refused as invalid, never as expired.
func TestVerify(t *testing.T) {
	t.Parallel()
	tok := New([]string{"first-token-0000000"})
	if id, err := tok.Verify(context.Background(), "first-token-0000000"); err != nil || id.Kind != identity.KindService {
		t.Errorf("a service token: %v, %v", id, err)
	}
	_, err := tok.Verify(context.Background(), "other-token-0000000")
	if !errors.Is(err, identity.ErrInvalid) || errors.Is(err, identity.ErrExpired) || strings.Contains(err.Error(), "other-token") {
		t.Errorf("another token: %v; want ErrInvalid, without the token", err)
	}
}

func TestWebSocketToken(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, header, query, protocols string
		want                           string
		sub                            bool
	}{
		{name: "header", header: "Bearer h-token", want: "h-token"},
		{name: "query", query: "access_token=q-token", want: "q-token"},
		{name: "subprotocol", protocols: "agent.v1, bearer.s-token", want: "s-token", sub: true},
		{name: "none", protocols: "agent.v1"},
	} {
		r := httptest.NewRequest(http.MethodGet, "/ws/agent/a?"+tc.query, nil)
		if tc.header != "" {
			r.Header.Set("Authorization", tc.header)
		}
		if tc.protocols != "" {
			r.Header.Set("Sec-WebSocket-Protocol", tc.protocols)
		}
		got, sub := WebSocketToken(r)
		if got != tc.want || sub != tc.sub {
			t.Errorf("%s: got %q, %v; want %q, %v", tc.name, got, sub, tc.want, tc.sub)
		}
	}
}

// FuzzBearerToken checks the Authorization parser: a token it returns is
// non-empty and trimmed, and comes from a Bearer header.
func FuzzBearerToken(f *testing.F) {
	for _, s := range []string{"Bearer abc", "bearer  abc ", "Basic abc", "Bearer", "", "Bearer \t"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		tok, ok := BearerToken(header)
		if ok != (tok != "") {
			t.Fatalf("BearerToken(%q) = %q, %v", header, tok, ok)
		}
		if ok && (strings.TrimSpace(tok) != tok || !strings.HasPrefix(strings.ToLower(strings.TrimSpace(header)), "bearer ")) {
			t.Fatalf("BearerToken(%q) = %q", header, tok)
		}
	})
}

// FuzzSubprotocols checks the Sec-WebSocket-Protocol parser: entries are
// trimmed and non-empty, and a token is only ever taken from a bearer. entry.
func FuzzSubprotocols(f *testing.F) {
	for _, s := range []string{"agent.v1, bearer.tok", ",,", "bearer.", " bearer.x ,agent.v1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("Sec-WebSocket-Protocol", header)
		for _, p := range Subprotocols(r) {
			if p == "" || strings.TrimSpace(p) != p || strings.Contains(p, ",") {
				t.Fatalf("Subprotocols(%q) has entry %q", header, p)
			}
		}
		tok, sub := WebSocketToken(r)
		if sub != (tok != "") || (sub && !strings.Contains(header, "bearer."+tok)) {
			t.Fatalf("WebSocketToken from %q = %q, %v", header, tok, sub)
		}
	})
}
