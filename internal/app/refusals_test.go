package app_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/agentgate/agentgate/internal/apptest"
)

// TestUpgradeRefusalsAreJSON: what the socket's URL refuses before the
// upgrade, and /metrics without a token, is answered like a door's
// refusal: the status and {"code", "message"}.
func TestUpgradeRefusalsAreJSON(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t, map[string]string{
		"AUTH_TOKENS": token, "ALLOWED_ORIGINS": "https://app.example.com", "MAX_CONNECTIONS": "1",
	})
	ctx := testCtx(t)
	auth := "access_token=" + token
	held, _ := dial(t, wsURL(srv, "held", auth), nil)
	if held == nil {
		t.Fatal("the first socket was refused")
	}
	for _, tc := range []struct {
		name   string
		res    func() *http.Response
		status int
		code   string
	}{
		{"no token", func() *http.Response { _, r := dial(t, wsURL(srv, "a", ""), nil); return r }, 401, "unauthenticated"},
		{"a bad agent id", func() *http.Response { _, r := dial(t, wsURL(srv, "a%20b", auth), nil); return r }, 400, "invalid_argument"},
		{"a bad query", func() *http.Response { _, r := dial(t, wsURL(srv, "a", auth+"&after_seq=x"), nil); return r }, 400, "invalid_argument"},
		{"an origin not allowed", func() *http.Response {
			_, r := dial(t, wsURL(srv, "a", auth), http.Header{"Origin": {"https://evil.example.org"}})
			return r
		}, 403, "permission_denied"},
		{"the connection cap", func() *http.Response { _, r := dial(t, wsURL(srv, "a", auth), nil); return r }, 503, "resource_exhausted"},
		{"not an upgrade", func() *http.Response { return get(t, ctx, srv.URL+"/ws/agent/a?"+auth) }, 426, "invalid_argument"},
		{"metrics without a token", func() *http.Response { return get(t, ctx, srv.URL+"/metrics") }, 401, "unauthenticated"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := tc.res()
			defer res.Body.Close()
			var e struct{ Code, Message string }
			ct := res.Header.Get("Content-Type")
			if err := json.NewDecoder(res.Body).Decode(&e); err != nil || ct != "application/json" {
				t.Fatalf("status %d, Content-Type %q: not a JSON error (%v)", res.StatusCode, ct, err)
			}
			if res.StatusCode != tc.status || e.Code != tc.code || e.Message == "" {
				t.Fatalf("status %d, %s %q; want %d %s", res.StatusCode, e.Code, e.Message, tc.status, tc.code)
			}
		})
	}
}

// get sends a plain GET; the caller closes the body.
func get(t *testing.T, ctx context.Context, url string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := httpClient(t, false).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return res
}
