package app

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/agentgate/agentgate/internal/agent"
	"github.com/agentgate/agentgate/internal/auth"
	"github.com/agentgate/agentgate/internal/clip"
	"github.com/agentgate/agentgate/internal/console"
)

// consoleCheckPath answers the console page when its socket closed before
// it opened: a browser sees only 1006 for a refused upgrade, never the
// HTTP status or the reason.
const consoleCheckPath = console.Path + "/check"

// consoleCheck is the console's reason for a refused socket. The page posts
// to it (a browser sends its Origin on a POST, and the token goes as an
// Authorization header), and it runs the checks the upgrade runs, in the
// same order, answering the first that fails:
//
//	401 unauthenticated / invalid_token: no token, or not one of AUTH_TOKENS
//	403 origin: the page's origin is not in ALLOWED_ORIGINS
//	400 invalid_argument: the agent id is not one
//	503 max_connections: the server is at MAX_CONNECTIONS
//	200 ok: nothing stands in the way now (retrying may help)
//
// retry tells the page whether retrying can help without a change on its
// side. It reveals nothing the refused upgrade does not: whoever can post
// here can try the upgrade itself.
func (a *App) consoleCheck(w http.ResponseWriter, r *http.Request) {
	type answer struct {
		OK      bool   `json:"ok"`
		Reason  string `json:"reason,omitempty"`
		Message string `json:"message,omitempty"`
		Retry   bool   `json:"retry"`
	}
	status, ans := http.StatusOK, answer{OK: true, Retry: true}
	refuse := func(code int, reason, msg string, retry bool) {
		status, ans = code, answer{Reason: reason, Message: msg, Retry: retry}
	}
	switch err := a.tokens.CheckRequest(r); {
	case errors.Is(err, auth.ErrMissing):
		refuse(http.StatusUnauthorized, "unauthenticated", "this gateway needs a token (AUTH_TOKENS is set): type one in the token field", false)
	case err != nil:
		refuse(http.StatusUnauthorized, "invalid_token", "the token is not one of this gateway's AUTH_TOKENS: check it and connect again", false)
	case !a.origins.CheckRequest(r):
		refuse(http.StatusForbidden, "origin", "this page's origin "+clip.String(r.Header.Get("Origin"), 100)+
			" is not in the gateway's ALLOWED_ORIGINS: add it there, or open the console from an allowed origin", false)
	default:
		if err := agent.ValidateID(r.URL.Query().Get("agent")); err != nil {
			refuse(http.StatusBadRequest, "invalid_argument", err.Error(), false)
		} else if a.gate.Full() {
			refuse(http.StatusServiceUnavailable, "max_connections", "the gateway is at its connection limit (MAX_CONNECTIONS); the page retries", true)
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(ans)
}
