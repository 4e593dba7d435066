package app_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/agentgate/agentgate/internal/apptest"
)

// TestConsole checks that the console is served by default, beside the plain
// healthcheck at /, and that CONSOLE_ENABLED=false removes it.
func TestConsole(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		env     map[string]string
		status  int
		content string
	}{
		{name: "default", env: nil, status: http.StatusOK, content: "text/html; charset=utf-8"},
		{name: "enabled", env: map[string]string{"CONSOLE_ENABLED": "true"}, status: http.StatusOK, content: "text/html; charset=utf-8"},
		{name: "disabled", env: map[string]string{"CONSOLE_ENABLED": "false"}, status: http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := apptest.Start(t, tt.env)
			client := httpClient(t, false)
			for _, path := range []string{"/console", "/console/console.js"} {
				res, err := client.Get(srv.URL + path)
				if err != nil {
					t.Fatal(err)
				}
				res.Body.Close()
				if res.StatusCode != tt.status {
					t.Errorf("GET %s: status %d, want %d", path, res.StatusCode, tt.status)
				}
			}
			res, err := client.Get(srv.URL + "/console")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if tt.status == http.StatusOK {
				if got := res.Header.Get("Content-Type"); got != tt.content {
					t.Errorf("Content-Type = %q, want %q", got, tt.content)
				}
				if !strings.Contains(string(body), "agentgate console") {
					t.Errorf("GET /console: the page is not the console: %.200s", body)
				}
			}
			// The healthcheck at / is untouched either way.
			res, err = client.Get(srv.URL + "/")
			if err != nil {
				t.Fatal(err)
			}
			body, _ = io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusOK || strings.TrimSpace(string(body)) != "OK" {
				t.Errorf("GET /: %d %q, want 200 OK", res.StatusCode, body)
			}
		})
	}
}
