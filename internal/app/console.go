package app

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/agentgate/agentgate/internal/agent"
	"github.com/agentgate/agentgate/internal/clip"
	"github.com/agentgate/agentgate/internal/console"
	"github.com/agentgate/agentgate/internal/edge"
	"github.com/agentgate/agentgate/internal/identity"
)

// consoleCheckPath answers the console page when its socket closed before
// it opened: a browser sees only 1006 for a refused upgrade, never the
// HTTP status or the reason.
const consoleCheckPath = console.Path + "/check"

// consoleCheck is the console's reason for a refused socket. The page posts
// to it (a browser sends its Origin on a POST, and the token goes as an
// Authorization header), and it runs the edge's checks of the upgrade, in
// the same order, answering the first that fails:
//
//	401 unauthenticated / invalid_token / expired_token: no token, or one
//	    the gateway does not accept (or no longer)
//	403 origin: the page's origin is not in ALLOWED_ORIGINS
//	400 invalid_argument: the agent id is not one
//	403 permission_denied: the token may not administer the agent (the
//	    console is an operator's: its socket, which says it is the
//	    console's, needs agents:admin)
//	503 max_connections: the server is at MAX_CONNECTIONS
//	200 ok: nothing stands in the way now (retrying may help)
//
// retry tells the page whether retrying can help without a change on its
// side. It reveals nothing the refused upgrade does not: whoever can post
// here can try the upgrade itself. It observes nothing: it explains a
// refusal the edge observed already.
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
	id, err := a.edge.AuthenticateRequest(r)
	agentID := r.URL.Query().Get("agent")
	switch {
	case errors.Is(err, edge.ErrMissing):
		refuse(http.StatusUnauthorized, "unauthenticated", "this gateway needs a token (AUTH_TOKENS is set): type one in the token field", false)
	case errors.Is(err, identity.ErrExpired):
		refuse(http.StatusUnauthorized, "expired_token", "the token expired: fetch a new one and connect again", false)
	case err != nil:
		refuse(http.StatusUnauthorized, "invalid_token", "the token is not one of this gateway's AUTH_TOKENS: check it and connect again", false)
	case !a.edge.OriginAllowed(r):
		refuse(http.StatusForbidden, "origin", "this page's origin "+clip.String(r.Header.Get("Origin"), 100)+
			" is not in the gateway's ALLOWED_ORIGINS: add it there, or open the console from an allowed origin", false)
	default:
		if err := agent.ValidateID(agentID); err != nil {
			refuse(http.StatusBadRequest, "invalid_argument", err.Error(), false)
		} else if err := id.Allows(agentID, identity.Admin); err != nil {
			refuse(http.StatusForbidden, "permission_denied", "the console is for operators: "+err.Error(), false)
		} else if a.edge.Full() {
			refuse(http.StatusServiceUnavailable, "max_connections", "the gateway is at its connection limit (MAX_CONNECTIONS); the page retries", true)
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(ans)
}
