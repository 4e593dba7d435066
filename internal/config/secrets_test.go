package config

import (
	"slices"
	"strings"
	"testing"
)

// TestURLErrorsHideSecrets gives each URL variable a bad value that holds
// a password and query values: the error names the variable and shows the
// URL's shape, never the secrets.
func TestURLErrorsHideSecrets(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, value string }{
		{"REDIS_URL", "http://user:pw-5ecret@redis:6379/?password=q-5ecret"},
		{"REDIS_URL", "redis://:pw-5ecret@[::1/?x=q-5ecret"},
		{"OPENAI_BASE_URL", "ftp://user:pw-5ecret@proxy/v1?api-key=q-5ecret"},
		{"OPENAI_BASE_URL", "https://proxy:port/v1?api-key=q-5ecret"},
		{"AGUI_URL", "ftp://agent/?token=q-5ecret#pw-5ecret"},
	} {
		vars := map[string]string{tc.name: tc.value, "RESPONDER": "openai", "OPENAI_MODEL": "m"}
		if tc.name == "AGUI_URL" {
			vars["RESPONDER"] = "agui"
		}
		_, err := Load(env(vars))
		if err == nil {
			t.Fatalf("%s=%q accepted", tc.name, tc.value)
		}
		if msg := err.Error(); !strings.Contains(msg, tc.name) || strings.Contains(msg, "5ecret") {
			t.Errorf("%s=%q: %s; want the variable named and no secret", tc.name, tc.value, msg)
		}
	}
}

func TestSecrets(t *testing.T) {
	t.Parallel()
	c, err := Load(env(map[string]string{
		"AUTH_TOKENS": "aaaaaaaaaaaaaaaa,bbbbbbbbbbbbbbbb", "REDIS_URL": "redis://:redis-pw@redis:6379",
		"RESPONDER": "openai", "OPENAI_MODEL": "m", "OPENAI_API_KEY": "sk-key",
		"OPENAI_BASE_URL": "https://proxy/v1?api-key=azure-key",
	}))
	if err != nil {
		t.Fatal(err)
	}
	got := c.Secrets()
	for _, want := range []string{"aaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbb", "redis-pw", "sk-key", "azure-key"} {
		if !slices.Contains(got, want) {
			t.Errorf("Secrets() = %q lacks %q", got, want)
		}
	}
	c, err = Load(env(map[string]string{"RESPONDER": "agui", "AGUI_URL": "http://u:agui-pw@agent/?k=agui-q", "AGUI_TOKEN": "agui-token"}))
	if err != nil {
		t.Fatal(err)
	}
	got = c.Secrets()
	for _, want := range []string{"agui-pw", "agui-q", "agui-token"} {
		if !slices.Contains(got, want) {
			t.Errorf("Secrets() = %q lacks %q", got, want)
		}
	}
}

func TestMaxEventBytes(t *testing.T) {
	t.Parallel()
	c, err := Load(env(nil))
	if err != nil || c.Responder.MaxEventBytes != 1<<20 {
		t.Fatalf("default %d, %v; want 1 MiB", c.Responder.MaxEventBytes, err)
	}
	c, err = Load(env(map[string]string{"UPSTREAM_MAX_EVENT_BYTES": "65536"}))
	if err != nil || c.Responder.MaxEventBytes != 65536 {
		t.Fatalf("65536: %d, %v", c.Responder.MaxEventBytes, err)
	}
	for _, v := range []string{"100", "1e9", "x", "17000000"} {
		if _, err := Load(env(map[string]string{"UPSTREAM_MAX_EVENT_BYTES": v})); err == nil || !strings.Contains(err.Error(), "UPSTREAM_MAX_EVENT_BYTES") {
			t.Errorf("UPSTREAM_MAX_EVENT_BYTES=%s: %v, want it refused", v, err)
		}
	}
}
