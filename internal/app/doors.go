package app

import (
	"net/http"

	"github.com/agentgate/agentgate/internal/config"
	"github.com/agentgate/agentgate/internal/door"
	"github.com/agentgate/agentgate/internal/door/agui"
	"github.com/agentgate/agentgate/internal/door/aisdk"
	"github.com/agentgate/agentgate/internal/edge"
)

// doorRoutes mounts the frontend doors, AG-UI and the AI SDK's UI message
// stream, behind the edge as the Connect API is (CORS and the bearer
// token before the door; the door then meets the rest of the policy:
// origins, permissions, and its streams counted against MAX_CONNECTIONS
// and CONNECTION_RATE like WebSockets). The patterns carry no method, so
// that CORS preflights (OPTIONS) reach the edge; each door then refuses
// the methods it does not serve. Other paths under the doors' prefixes (no
// agent id, a slash in it) get a JSON 404, like every other refusal of a
// door.
func (a *App) doorRoutes(routes map[string]http.Handler) {
	c := door.Config{
		Service:      a.service,
		Edge:         a.edge,
		Draining:     a.health.Draining(),
		Heartbeat:    a.cfg.Heartbeat,
		WriteTimeout: config.WriteTimeout,
		MaxBodyBytes: int64(a.cfg.ReadMaxBytes),
		Logger:       a.log,
	}
	ag, ai := agui.New(c), aisdk.New(c)
	routes["/agui/{agent_id}"] = a.edge.ProtectDoor(edge.AGUI, only(http.MethodPost, ag))
	routes["/ai/chat"] = a.edge.ProtectDoor(edge.AISDK, only(http.MethodPost, http.HandlerFunc(ai.Chat)))
	routes["/ai/chat/{agent_id}/stream"] = a.edge.ProtectDoor(edge.AISDK, only(http.MethodGet, http.HandlerFunc(ai.Resume)))
	routes["/agui/"] = a.edge.ProtectDoor(edge.AGUI, http.HandlerFunc(noDoor))
	routes["/ai/chat/"] = a.edge.ProtectDoor(edge.AISDK, http.HandlerFunc(noDoor))
}

// noDoor answers a path under a door's prefix that no door serves.
func noDoor(w http.ResponseWriter, _ *http.Request) {
	door.WriteError(w, &door.Error{Status: http.StatusNotFound, Code: "not_found",
		Message: "no door here: the doors are POST /agui/{agent_id}, POST /ai/chat and GET /ai/chat/{agent_id}/stream"})
}

// only answers 405 to other methods than method.
func only(method string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != method {
			w.Header().Set("Allow", method)
			door.WriteError(w, &door.Error{Status: http.StatusMethodNotAllowed, Code: "invalid_argument",
				Message: r.Method + " is not allowed here; use " + method})
			return
		}
		h.ServeHTTP(w, r)
	})
}
