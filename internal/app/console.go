package app

import (
	"encoding/json"
	"net/http"

	"github.com/agentgate/agentgate/internal/bridge"
	"github.com/agentgate/agentgate/internal/clip"
	"github.com/agentgate/agentgate/internal/console"
	"github.com/agentgate/agentgate/internal/edge"
	"github.com/agentgate/agentgate/internal/identity"
)

// consoleCheckPath answers the console page when its socket closed before
// it opened: a browser sees only 1006 for a refused upgrade, never the
// HTTP status or the reason.
const consoleCheckPath = console.Path + "/check"

// consoleAnswer is the console check's answer: whether the socket would
// open now, and if not why, in words for the page, and whether retrying
// can help without a change on the page's side.
type consoleAnswer struct {
	OK      bool   `json:"ok"`
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
	Retry   bool   `json:"retry"`
}

// consoleCheck is the console's reason for a refused socket. The page posts
// to it (a browser sends its Origin on a POST, and the token goes as an
// Authorization header), and it runs the steps of the socket's upgrade at
// the edge, dry and in their order (edge.CheckUpgrade), so that its answer
// is the upgrade's. It answers the first that fails, with the edge's
// status and reason, in the console's words:
//
//	401 unauthenticated / invalid_token / expired_token: no token, one the
//	    gateway does not take (and why), or one whose time is up
//	400 invalid_argument: the agent id is not one
//	403 origin: the page's origin is not in ALLOWED_ORIGINS
//	403 permission_denied: the token may not do what the console's socket
//	    needs on the agent (consoleNeeds: agents:admin, the console being
//	    an operator's)
//	503 max_connections: the server is at MAX_CONNECTIONS
//	429 user_max_connections: the user holds USER_MAX_CONNECTIONS
//	200 ok: nothing stands in the way now (retrying may help)
//
// retry tells the page whether retrying can help without a change on its
// side. It reveals nothing the refused upgrade does not: whoever can post
// here can try the upgrade itself. It observes nothing: it explains a
// refusal the edge observed already.
func (a *App) consoleCheck(w http.ResponseWriter, r *http.Request) {
	ans := consoleAnswer{OK: true, Retry: true}
	status := http.StatusOK
	if ref := a.edge.CheckUpgrade(r, r.URL.Query().Get("agent"), consoleNeeds()); ref != nil {
		status, ans = ref.Status, consoleWords(r, ref)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(ans)
}

// consoleNeeds is what the console's socket needs of its caller on the
// agent, the one place the console check learns it: the bridge's rule for
// a socket that says it is the console's (agents:admin).
func consoleNeeds() identity.Permission { return bridge.ConsoleNeeds() }

// consoleWords is the answer to the page for the edge's refusal ref: the
// refusal's reason, and words that say what to do on the page.
func consoleWords(r *http.Request, ref *edge.Refusal) consoleAnswer {
	ans := consoleAnswer{Reason: ref.Reason, Message: ref.Message}
	switch ref.Reason {
	case "unauthenticated":
		ans.Message = "this gateway needs a token: type one in the token field"
	case "invalid_token":
		ans.Message = ref.Why() + ": check the token and connect again"
	case "expired_token":
		ans.Message = "the token expired: fetch a new one and connect again"
	case "origin":
		ans.Message = "this page's origin " + clip.String(r.Header.Get("Origin"), 100) +
			" is not in the gateway's ALLOWED_ORIGINS: add it there, or open the console from an allowed origin"
	case "bad_agent_id":
		ans.Reason = "invalid_argument"
	case "agent", "scope":
		ans.Reason, ans.Message = "permission_denied", "the console is for operators: "+ref.Message
	case "max_connections":
		ans.Message, ans.Retry = "the gateway is at its connection limit (MAX_CONNECTIONS); the page retries", true
	case "user_max_connections":
		ans.Message, ans.Retry = ref.Message+" (USER_MAX_CONNECTIONS); the page retries", true
	}
	return ans
}
