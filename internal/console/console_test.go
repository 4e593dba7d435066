package console

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// serve mounts the console's routes on a mux, as the server does.
func serve(t *testing.T) *http.ServeMux {
	t.Helper()
	mux := http.NewServeMux()
	for pattern, h := range New().Routes() {
		mux.Handle(pattern, h)
	}
	return mux
}

func TestServesFiles(t *testing.T) {
	t.Parallel()
	mux := serve(t)
	tests := []struct {
		path, contentType, contains string
	}{
		{"/console", "text/html; charset=utf-8", `<script src="/console/console.js"`},
		{"/console/", "text/html; charset=utf-8", "<title>agentgate console</title>"},
		{"/console/console.js", "text/javascript; charset=utf-8", `"/ws/agent/"`},
		{"/console/console.css", "text/css; charset=utf-8", ".msg"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			t.Parallel()
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tt.path, nil))
			if rec.Code != http.StatusOK {
				t.Fatalf("GET %s: status %d, want 200", tt.path, rec.Code)
			}
			if got := rec.Header().Get("Content-Type"); got != tt.contentType {
				t.Errorf("Content-Type = %q, want %q", got, tt.contentType)
			}
			if got := rec.Header().Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("X-Content-Type-Options = %q, want nosniff", got)
			}
			if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
				t.Errorf("Content-Security-Policy = %q, want script-src 'self'", csp)
			}
			if !strings.Contains(rec.Body.String(), tt.contains) {
				t.Errorf("body does not contain %q", tt.contains)
			}
		})
	}
}

func TestNotFound(t *testing.T) {
	t.Parallel()
	mux := serve(t)
	for _, path := range []string{"/console/missing.js", "/console/index.html", "/console/static/console.js", "/consoles"} {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != http.StatusNotFound {
			t.Errorf("GET %s: status %d, want 404", path, rec.Code)
		}
	}
}

func TestMethodNotAllowed(t *testing.T) {
	t.Parallel()
	rec := httptest.NewRecorder()
	serve(t).ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/console", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST /console: status %d, want 405", rec.Code)
	}
}

func TestRevalidation(t *testing.T) {
	t.Parallel()
	mux := serve(t)
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/console/console.js", nil))
	etag := rec.Header().Get("ETag")
	if etag == "" || rec.Header().Get("Cache-Control") != "no-cache" {
		t.Fatalf("ETag %q, Cache-Control %q: want an ETag and no-cache", etag, rec.Header().Get("Cache-Control"))
	}
	req := httptest.NewRequest(http.MethodGet, "/console/console.js", nil)
	req.Header.Set("If-None-Match", etag)
	rec = httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	if rec.Code != http.StatusNotModified || rec.Body.Len() != 0 {
		t.Errorf("conditional GET: status %d with %d bytes, want 304 and no body", rec.Code, rec.Body.Len())
	}
}

func TestHead(t *testing.T) {
	t.Parallel()
	rec := httptest.NewRecorder()
	serve(t).ServeHTTP(rec, httptest.NewRequest(http.MethodHead, "/console", nil))
	if rec.Code != http.StatusOK || rec.Body.Len() != 0 {
		t.Errorf("HEAD /console: status %d with %d bytes, want 200 and no body", rec.Code, rec.Body.Len())
	}
}
