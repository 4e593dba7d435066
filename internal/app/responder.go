package app

import (
	"log/slog"

	"github.com/agentgate/agentgate/internal/config"
	"github.com/agentgate/agentgate/responder"
	"github.com/agentgate/agentgate/responder/agui"
	"github.com/agentgate/agentgate/responder/openai"
)

// newResponder builds the responder RESPONDER chose. Its settings were
// checked by config.LoadWith; what only the responder itself can check is
// reported as a *config.Error naming the variable, so that the server
// stops at start (exit 2) rather than failing every reply.
func newResponder(cfg config.Config, log *slog.Logger) (responder.Responder, error) {
	rc := cfg.Responder
	switch rc.Kind {
	case "agui":
		r, err := agui.New(agui.Config{URL: rc.AGUI.URL, Token: rc.AGUI.Token, MaxFrameBytes: rc.MaxEventBytes, Logger: log})
		if err != nil {
			return nil, &config.Error{Var: "AGUI_URL", Value: "(see below)", Accept: err.Error()}
		}
		return r, nil
	case "openai":
		o := rc.OpenAI
		r, err := openai.New(openai.Config{
			BaseURL: o.BaseURL, APIKey: o.APIKey, Model: o.Model, SystemPrompt: o.SystemPrompt,
			Temperature: o.Temperature, MaxEventBytes: rc.MaxEventBytes, Logger: log,
		})
		if err != nil {
			return nil, &config.Error{Var: "OPENAI_BASE_URL", Value: "(see below)", Accept: err.Error()}
		}
		return r, nil
	}
	return responder.Echo{Delay: cfg.EchoDelay}, nil
}
