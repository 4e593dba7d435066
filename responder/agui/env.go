package agui

import "github.com/agentgate/agentgate/internal/config"

// ConfigFromEnv reads the variables the gateway reads for RESPONDER=agui,
// through lookup (os.LookupEnv, say), checked as the gateway checks them:
//
//	AGUI_URL    Config.URL (required)
//	AGUI_TOKEN  Config.Token
//	UPSTREAM_MAX_EVENT_BYTES  Config.MaxFrameBytes (default 1 MiB)
//
// A missing or bad variable is an error of one line naming it
// (agentgate.ConfigError), never showing the token.
func ConfigFromEnv(lookup func(string) (string, bool)) (Config, error) {
	r, err := config.LoadAGUI(lookup)
	if err != nil {
		return Config{}, err
	}
	return Config{URL: r.AGUI.URL, Token: r.AGUI.Token, MaxFrameBytes: r.MaxEventBytes}, nil
}
