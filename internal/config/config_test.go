package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// Load is LoadWith without options, as the tests of the variables read.
func Load(lookup func(string) (string, bool)) (Config, error) {
	return LoadWith(lookup, Options{})
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	c, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr() != ":8080" || c.HistoryLimit != 1000 || c.ShutdownTimeout != 10*time.Second || c.LogFormat != "json" ||
		c.WSPingInterval != 25*time.Second || c.WSPongTimeout != 60*time.Second || c.WSReadLimit != 64<<10 || !c.Console ||
		c.MaxReplyBytes != 1<<20 || c.MaxContextBytes != 1<<20 {
		t.Fatalf("defaults: %+v", c)
	}
}

func TestValues(t *testing.T) {
	t.Parallel()
	c, err := Load(env(map[string]string{
		"PORT": "9000", "HOST": "::", "REDIS_URL": "redis://:pw@redis:6379/0", "ALLOWED_ORIGINS": "https://a.example.com, *.example.org",
		"AUTH_TOKENS": "aaaaaaaaaaaaaaaa,bbbbbbbbbbbbbbbb", "LOG_LEVEL": "DEBUG", "LOG_FORMAT": "text", "METRICS_ADDR": ":9090",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c, err := Load(env(map[string]string{"MAX_REPLY_BYTES": "65536", "MAX_CONTEXT_BYTES": "4096"})); err != nil ||
		c.MaxReplyBytes != 65536 || c.MaxContextBytes != 4096 {
		t.Fatalf("MAX_REPLY_BYTES, MAX_CONTEXT_BYTES: %+v, %v", c, err)
	}
	if c.Addr() != "[::]:9000" || len(c.AllowedOrigins) != 2 || len(c.AuthTokens) != 2 || c.LogFormat != "text" || c.MetricsAddr != ":9090" {
		t.Fatalf("parsed: %+v", c)
	}
}

func TestErrorsNameTheVariable(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, value string }{
		{"PORT", "abc"}, {"PORT", "-1"}, {"HOST", "not a host"}, {"HISTORY_LIMIT", "0"},
		{"SHUTDOWN_TIMEOUT", "10"}, {"LOG_LEVEL", "loud"}, {"LOG_FORMAT", "xml"},
		{"REDIS_URL", "localhost:6379"}, {"ALLOWED_ORIGINS", "ftp://x"}, {"AUTH_TOKENS", "short"},
		{"WS_PONG_TIMEOUT", "1s"}, {"METRICS_ADDR", "9090"}, {"CONSOLE_ENABLED", "maybe"}, {"DRAIN_DELAY", "1h"},
		{"MAX_REPLY_BYTES", "1k"}, {"MAX_REPLY_BYTES", "100"}, {"MAX_CONTEXT_BYTES", "-1"},
	} {
		_, err := Load(env(map[string]string{tc.name: tc.value}))
		var cerr *Error
		if !errors.As(err, &cerr) || cerr.Var != tc.name || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s=%q: %v, want one line naming %s", tc.name, tc.value, err, tc.name)
		}
	}
}

func TestSecretsAreNotEchoed(t *testing.T) {
	t.Parallel()
	_, err := Load(env(map[string]string{"AUTH_TOKENS": "has space secret-value"}))
	if err == nil || strings.Contains(err.Error(), "secret-value") {
		t.Fatalf("error %v echoes the token", err)
	}
	_, err = Load(env(map[string]string{"REDIS_URL": "http://user:hunter2@redis:6379"}))
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("error %v echoes the Redis password", err)
	}
}

// FuzzLoad feeds arbitrary values to every variable: Load must either accept
// them or return one *Error naming the variable, in one line, and never
// panic.
func FuzzLoad(f *testing.F) {
	f.Add("PORT", "8080")
	f.Add("HOST", "[::1]")
	f.Add("ALLOWED_ORIGINS", "*.example.com,https://a.b:8443")
	f.Add("REDIS_URL", "rediss://u:p@h:1/2")
	f.Add("SHUTDOWN_TIMEOUT", "1e9h")
	f.Add("WS_FRAME_RATE", "NaN")
	f.Add("METRICS_ADDR", "[::]:9090")
	f.Add("RESPONDER", "openai")
	f.Add("CONTEXT_MESSAGES", "-1")
	f.Add("MAX_REPLY_BYTES", "1048576")
	f.Add("MCP_SERVERS", `[{"name": "a", "url": "http://x/${HOME}", "headers": {"A": "$$"}}, {"name": "b", "command": ["x"]}]`)
	f.Add("AUTH_JWKS_URL", "https://idp/jwks")
	f.Add("AUTH_JWT_SECRET", "0123456789abcdef0123456789abcdef")
	f.Add("AUTH_DEFAULT_AGENTS", "{sub},{sub}:*")
	f.Add("AUTH_AGENTS_CLAIM", "https://app.example.com/agents")
	f.Add("USER_MESSAGE_RATE", "0")
	f.Fuzz(func(t *testing.T, name, value string) {
		_, err := Load(env(map[string]string{name: value}))
		if err == nil {
			return
		}
		var cerr *Error
		if errors.As(err, &cerr) && name == "RESPONDER" && (cerr.Var == "OPENAI_MODEL" || cerr.Var == "AGUI_URL") {
			return // the chosen responder's required variable is missing
		}
		if errors.As(err, &cerr) && name == "AUTH_JWKS_URL" && (cerr.Var == "AUTH_JWT_ISSUER" || cerr.Var == "AUTH_JWT_AUDIENCE") {
			return // a key set needs an issuer and an audience
		}
		if !errors.As(err, &cerr) || cerr.Var != name {
			t.Fatalf("%s=%q: error %v does not name the variable", name, value, err)
		}
		// Values of a few characters are in any message by chance.
		if (name == "AUTH_TOKENS" || name == "AUTH_JWT_SECRET") && len(value) >= 8 && strings.Contains(err.Error(), value) {
			t.Fatalf("%s error echoes the value", name)
		}
	})
}

func TestResponderSettings(t *testing.T) {
	t.Parallel()
	c, err := Load(env(nil))
	if err != nil || c.Responder.Kind != "echo" || c.Responder.ContextMessages != 50 {
		t.Fatalf("defaults: %+v, %v", c.Responder, err)
	}
	c, err = Load(env(map[string]string{"RESPONDER": "openai", "OPENAI_MODEL": "tiny", "OPENAI_API_KEY": "sk-secret",
		"SYSTEM_PROMPT": "Be brief.", "CONTEXT_MESSAGES": "8"}))
	if err != nil || c.Responder.OpenAI != (OpenAI{BaseURL: "https://api.openai.com/v1", APIKey: "sk-secret", Model: "tiny", SystemPrompt: "Be brief."}) ||
		c.Responder.ContextMessages != 8 {
		t.Fatalf("openai: %+v, %v", c.Responder, err)
	}
	c, err = Load(env(map[string]string{"RESPONDER": "openai", "OPENAI_MODEL": "tiny", "OPENAI_TEMPERATURE": "0"}))
	if err != nil || c.Responder.OpenAI.Temperature == nil || *c.Responder.OpenAI.Temperature != 0 {
		t.Fatalf("OPENAI_TEMPERATURE=0: %+v, %v", c.Responder.OpenAI, err)
	}
	c, err = Load(env(map[string]string{"RESPONDER": "agui", "AGUI_URL": "http://agent:8000/", "AGUI_TOKEN": "t0k"}))
	if err != nil || c.Responder.AGUI != (AGUI{URL: "http://agent:8000/", Token: "t0k"}) {
		t.Fatalf("agui: %+v, %v", c.Responder, err)
	}
	// The variables of a responder that is not chosen are not read.
	if _, err := Load(env(map[string]string{"OPENAI_BASE_URL": "not a url"})); err != nil {
		t.Fatalf("OPENAI_BASE_URL without RESPONDER=openai: %v", err)
	}
	for _, tc := range []struct {
		env  map[string]string
		name string
	}{
		{map[string]string{"RESPONDER": "gpt"}, "RESPONDER"},
		{map[string]string{"RESPONDER": "openai"}, "OPENAI_MODEL"},
		{map[string]string{"RESPONDER": "openai", "OPENAI_MODEL": "m", "OPENAI_BASE_URL": "localhost:11434"}, "OPENAI_BASE_URL"},
		{map[string]string{"RESPONDER": "agui"}, "AGUI_URL"},
		{map[string]string{"RESPONDER": "agui", "AGUI_URL": "ftp://agent"}, "AGUI_URL"},
		{map[string]string{"CONTEXT_MESSAGES": "lots"}, "CONTEXT_MESSAGES"},
		{map[string]string{"RESPONDER": "openai", "OPENAI_MODEL": "m", "OPENAI_TEMPERATURE": "3"}, "OPENAI_TEMPERATURE"},
	} {
		_, err := Load(env(tc.env))
		var cerr *Error
		if !errors.As(err, &cerr) || cerr.Var != tc.name || strings.Contains(err.Error(), "\n") {
			t.Errorf("%v: %v, want one line naming %s", tc.env, err, tc.name)
		}
	}
	_, err = Load(env(map[string]string{"RESPONDER": "openai", "OPENAI_MODEL": "m", "OPENAI_API_KEY": "sk-secret\nmore"}))
	if err == nil || strings.Contains(err.Error(), "sk-secret") {
		t.Fatalf("a bad OPENAI_API_KEY: %v; want an error that does not echo it", err)
	}
}

func TestRedisURLDatabase(t *testing.T) {
	t.Parallel()
	for _, v := range []string{"redis://user:pw@127.0.0.1:6379/abc", "redis://127.0.0.1:6379/-1", "redis://h:1/0?dial_timeout=soon"} {
		_, err := Load(env(map[string]string{"REDIS_URL": v}))
		var cerr *Error
		if !errors.As(err, &cerr) || cerr.Var != "REDIS_URL" || strings.Contains(err.Error(), "\n") || strings.Contains(err.Error(), ":pw@") {
			t.Errorf("REDIS_URL=%q: %v, want one line naming REDIS_URL without the password", v, err)
		}
	}
	for _, v := range []string{"redis://h:6379", "redis://h:6379/", "redis://h:6379/15", "rediss://u:p@h:1/2?dial_timeout=3s"} {
		if _, err := Load(env(map[string]string{"REDIS_URL": v})); err != nil {
			t.Errorf("REDIS_URL=%q: %v", v, err)
		}
	}
}

func TestResponderVariablesWithoutResponder(t *testing.T) {
	t.Parallel()
	c, err := Load(env(map[string]string{"OPENAI_MODEL": "gpt-4o-mini", "OPENAI_API_KEY": "sk-secret-value"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Responder.Kind != "echo" || len(c.Warnings) != 1 ||
		!strings.Contains(c.Warnings[0], "RESPONDER=openai") || strings.Contains(c.Warnings[0], "sk-secret-value") {
		t.Fatalf("kind %q, warnings %q: want echo and one warning naming RESPONDER=openai", c.Responder.Kind, c.Warnings)
	}
	c, err = Load(env(map[string]string{"AGUI_URL": "http://agent:8000/"}))
	if err != nil || len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0], "RESPONDER=agui") {
		t.Fatalf("AGUI_URL alone: %v, warnings %q", err, c.Warnings)
	}
	c, err = Load(env(map[string]string{"RESPONDER": "openai", "OPENAI_MODEL": "m"}))
	if err != nil || len(c.Warnings) != 0 {
		t.Fatalf("RESPONDER=openai: %v, warnings %q, want none", err, c.Warnings)
	}
}

func TestOwnResponderNeedsNoResponderVariables(t *testing.T) {
	t.Parallel()
	// RESPONDER=openai without OPENAI_MODEL stops a server that uses the
	// built-in responders, but not a program with a responder of its own.
	lookup := env(map[string]string{"RESPONDER": "openai", "CONTEXT_MESSAGES": "7"})
	if _, err := Load(lookup); err == nil {
		t.Fatal("Load accepted RESPONDER=openai without OPENAI_MODEL")
	}
	c, err := LoadWith(lookup, Options{OwnResponder: true})
	if err != nil {
		t.Fatal(err)
	}
	if c.Responder.Kind != "custom" || c.Responder.ContextMessages != 7 || len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0], "RESPONDER=openai is ignored") {
		t.Fatalf("responder %+v, warnings %q", c.Responder, c.Warnings)
	}
}
