package config

import "github.com/agentgate/agentgate/internal/redact"

// Secrets lists every secret of the configuration, for a redact.Redactor:
// AUTH_TOKENS, AUTH_JWT_SECRET, OPENAI_API_KEY, AGUI_TOKEN, and the
// passwords and query values of REDIS_URL, AUTH_JWKS_URL, OPENAI_BASE_URL
// and AGUI_URL (see redact.URLSecrets).
func (c Config) Secrets() []string {
	out := append([]string(nil), c.AuthTokens...)
	out = append(out, c.JWT.secrets()...)
	out = append(out, c.Responder.OpenAI.APIKey, c.Responder.AGUI.Token)
	for _, u := range []string{c.RedisURL, c.Responder.OpenAI.BaseURL, c.Responder.AGUI.URL} {
		out = append(out, redact.URLSecrets(u)...)
	}
	return out
}
