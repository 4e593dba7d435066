package openai

import "github.com/agentgate/agentgate/internal/config"

// ConfigFromEnv reads the variables the gateway reads for RESPONDER=openai,
// through lookup (os.LookupEnv, say), checked as the gateway checks them:
//
//	OPENAI_BASE_URL     Config.BaseURL (default DefaultBaseURL)
//	OPENAI_API_KEY      Config.APIKey
//	OPENAI_MODEL        Config.Model (required)
//	SYSTEM_PROMPT       Config.SystemPrompt
//	OPENAI_TEMPERATURE  Config.Temperature (0 to 2)
//	UPSTREAM_MAX_EVENT_BYTES  Config.MaxEventBytes (default 1 MiB)
//
// A Go program that wraps the built-in responder (to add a tool, a filter
// or its own prompt) configures it as the server does, then sets what it
// wants on the result before New. A missing or bad variable is an error of
// one line naming it (agentgate.ConfigError), never showing the key.
func ConfigFromEnv(lookup func(string) (string, bool)) (Config, error) {
	r, err := config.LoadOpenAI(lookup)
	if err != nil {
		return Config{}, err
	}
	o := r.OpenAI
	return Config{
		BaseURL: o.BaseURL, APIKey: o.APIKey, Model: o.Model,
		SystemPrompt: o.SystemPrompt, Temperature: o.Temperature, MaxEventBytes: r.MaxEventBytes,
	}, nil
}
