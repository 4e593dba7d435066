package openai_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/agentgate/agentgate"
	"github.com/agentgate/agentgate/responder/openai"
)

func lookup(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := env[k]; return v, ok }
}

// TestConfigFromEnv: the variables map onto Config as the gateway maps
// them, and a missing or bad one is a ConfigError naming it, never the key.
func TestConfigFromEnv(t *testing.T) {
	t.Parallel()
	cfg, err := openai.ConfigFromEnv(lookup(map[string]string{
		"OPENAI_MODEL": "llama3.2", "OPENAI_BASE_URL": "http://127.0.0.1:11434/v1", "OPENAI_API_KEY": "sk-x",
		"SYSTEM_PROMPT": "Be brief.", "OPENAI_TEMPERATURE": "0.5", "UPSTREAM_MAX_EVENT_BYTES": "65536",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Model != "llama3.2" || cfg.BaseURL != "http://127.0.0.1:11434/v1" || cfg.APIKey != "sk-x" ||
		cfg.SystemPrompt != "Be brief." || cfg.Temperature == nil || *cfg.Temperature != 0.5 || cfg.MaxEventBytes != 65536 {
		t.Fatalf("config %+v", cfg)
	}
	if _, err := openai.New(cfg); err != nil {
		t.Fatalf("New of ConfigFromEnv's config: %v", err)
	}
	for _, tc := range []struct {
		env  map[string]string
		name string
	}{
		{map[string]string{"OPENAI_API_KEY": "sk-do-not-print"}, "OPENAI_MODEL"},
		{map[string]string{"OPENAI_MODEL": "m", "OPENAI_BASE_URL": "localhost:11434"}, "OPENAI_BASE_URL"},
		{map[string]string{"OPENAI_MODEL": "m", "OPENAI_TEMPERATURE": "3"}, "OPENAI_TEMPERATURE"},
		{map[string]string{"OPENAI_MODEL": "m", "OPENAI_API_KEY": "sk-do-not-print\nX-Injected: 1"}, "OPENAI_API_KEY"},
	} {
		_, err := openai.ConfigFromEnv(lookup(tc.env))
		var cerr *agentgate.ConfigError
		if !errors.As(err, &cerr) || cerr.Var != tc.name || strings.Contains(err.Error(), "do-not-print") {
			t.Errorf("%v: %v, want a ConfigError naming %s without the key", tc.env, err, tc.name)
		}
	}
}

// A program that wraps the built-in responder reads its variables as the
// server does, then changes what it wants.
func ExampleConfigFromEnv() {
	env := map[string]string{"OPENAI_MODEL": "llama3.2", "OPENAI_BASE_URL": "http://127.0.0.1:11434/v1"}
	cfg, err := openai.ConfigFromEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		fmt.Println(err)
		return
	}
	cfg.SystemPrompt = "Answer in one sentence."
	r, err := openai.New(cfg)
	fmt.Println(cfg.Model, cfg.BaseURL, r != nil, err)
	// Output: llama3.2 http://127.0.0.1:11434/v1 true <nil>
}
