package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestStartupWarnings runs the binary with and without AUTH_TOKENS and
// ALLOWED_ORIGINS: each one left empty is a warning in the log before the
// server serves (SPEC: empty means open, and the operator is told), and a
// set one is not, nor is the token printed.
func TestStartupWarnings(t *testing.T) {
	t.Parallel()
	const (
		token      = "startup-token-0123456789"
		noAuth     = "AUTH_TOKENS is empty: anyone who reaches this port can talk to every agent"
		anyOrigins = "ALLOWED_ORIGINS is empty: web pages from any site may open the WebSocket"
	)
	for _, tc := range []struct {
		name string
		env  []string
		want map[string]bool // warning → expected
	}{
		{"both empty", nil, map[string]bool{noAuth: true, anyOrigins: true}},
		{"tokens set", []string{"AUTH_TOKENS=" + token}, map[string]bool{noAuth: false, anyOrigins: true}},
		{"origins set", []string{"ALLOWED_ORIGINS=https://app.example.com"}, map[string]bool{noAuth: true, anyOrigins: false}},
		{"both set", []string{"AUTH_TOKENS=" + token, "ALLOWED_ORIGINS=*.example.com"}, map[string]bool{noAuth: false, anyOrigins: false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := start(t, tc.env...)
			warned := map[string]bool{}
			for _, line := range p.early {
				var rec struct{ Level, Msg string }
				if err := json.Unmarshal([]byte(line), &rec); err != nil {
					t.Fatalf("log line %q is not JSON: %v", line, err)
				}
				if rec.Level == "WARN" {
					warned[rec.Msg] = true
				}
				if strings.Contains(line, token) {
					t.Errorf("the log shows the token: %s", line)
				}
			}
			for msg, want := range tc.want {
				if warned[msg] != want {
					t.Errorf("warning %q logged: %v, want %v (warnings: %v)", msg, warned[msg], want, warned)
				}
			}
		})
	}
}
