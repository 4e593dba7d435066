package openai

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/agentgate/agentgate/responder"
)

// TestNew checks that New names the setting that is wrong, never repeats a
// password of the URL, and fills the documented defaults.
func TestNew(t *testing.T) {
	t.Parallel()
	bad := []struct {
		cfg  Config
		want string
	}{
		{Config{}, "OPENAI_MODEL"},
		{Config{Model: "m", BaseURL: "localhost:11434/v1"}, "OPENAI_BASE_URL"},
		{Config{Model: "m", BaseURL: "ftp://example.com/v1"}, "OPENAI_BASE_URL"},
		{Config{Model: "m", BaseURL: "http:///v1"}, "OPENAI_BASE_URL"},
		{Config{Model: "m", BaseURL: "http://[::1"}, "OPENAI_BASE_URL"},
		{Config{Model: "m", IdleTimeout: -time.Second}, "IdleTimeout"},
		{Config{Model: "m", Temperature: new(-1.0)}, "Temperature"},
		{Config{Model: "m", MinBackoff: time.Minute, MaxBackoff: time.Second}, "MinBackoff"},
	}
	for _, c := range bad {
		if _, err := New(c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("New(%+v) = %v, want an error naming %s", c.cfg, err, c.want)
		}
	}
	_, err := New(Config{Model: "m", BaseURL: "gopher://user:hunter2@example.com/v1"})
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error %v: want one without the password", err)
	}

	r, err := New(Config{Model: "m"})
	if err != nil {
		t.Fatal(err)
	}
	want := Config{Model: "m", BaseURL: DefaultBaseURL, IdleTimeout: DefaultIdleTimeout, MinBackoff: DefaultMinBackoff,
		MaxBackoff: DefaultMaxBackoff, MaxAttempts: DefaultMaxAttempts, MaxEventBytes: responder.DefaultMaxEventBytes, HTTPClient: r.cfg.HTTPClient, Logger: r.cfg.Logger}
	if r.cfg != want || r.cfg.Logger == nil {
		t.Errorf("defaults %+v, want %+v", r.cfg, want)
	}
	if tr, ok := r.cfg.HTTPClient.Transport.(*http.Transport); !ok || tr.MaxIdleConnsPerHost < 64 || r.cfg.HTTPClient.Timeout != 0 {
		t.Errorf("default client %+v: want one that keeps idle connections for many replies, with no overall timeout", r.cfg.HTTPClient)
	}
	r, err = New(Config{Model: "m", BaseURL: "https://user:hunter2@proxy.example.com/v1"})
	if err != nil || strings.Contains(r.server, "hunter2") {
		t.Errorf("server %q, %v: want the URL without its password", r.server, err)
	}
}
