package agui_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/agentgate/agentgate"
	"github.com/agentgate/agentgate/responder/agui"
)

// TestConfigFromEnv: AGUI_URL and AGUI_TOKEN map onto Config as the
// gateway maps them; a missing URL is a ConfigError naming it, without the
// token.
func TestConfigFromEnv(t *testing.T) {
	t.Parallel()
	env := map[string]string{"AGUI_URL": "http://127.0.0.1:8000/", "AGUI_TOKEN": "tok-do-not-print", "UPSTREAM_MAX_EVENT_BYTES": "65536"}
	cfg, err := agui.ConfigFromEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil || cfg.URL != env["AGUI_URL"] || cfg.Token != env["AGUI_TOKEN"] || cfg.MaxFrameBytes != 65536 {
		t.Fatalf("config %+v, %v", cfg, err)
	}
	delete(env, "AGUI_URL")
	_, err = agui.ConfigFromEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	var cerr *agentgate.ConfigError
	if !errors.As(err, &cerr) || cerr.Var != "AGUI_URL" || strings.Contains(err.Error(), "do-not-print") {
		t.Fatalf("without AGUI_URL: %v, want a ConfigError naming it", err)
	}
}
