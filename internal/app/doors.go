package app

import (
	"log/slog"
	"net/http"

	"github.com/agentgate/agentgate/internal/accesslog"
	"github.com/agentgate/agentgate/internal/clip"
	"github.com/agentgate/agentgate/internal/door"
	"github.com/agentgate/agentgate/internal/door/agui"
	"github.com/agentgate/agentgate/internal/door/aisdk"
	"github.com/agentgate/agentgate/internal/logattr"
)

// doorRoutes mounts the frontend doors, AG-UI and the AI SDK's UI message
// stream, behind the same CORS and bearer tokens as the Connect API, with
// their streams counted against MAX_CONNECTIONS and CONNECTION_RATE like
// WebSockets. The patterns carry no method, so that CORS preflights
// (OPTIONS) reach protect; each door then refuses the methods it does not
// serve. Other paths under the doors' prefixes (no agent id, a slash in
// it) get a JSON 404, like every other refusal of a door.
func (a *App) doorRoutes(routes map[string]http.Handler) {
	ag := agui.New(a.doorConfig(agui.Name))
	ai := aisdk.New(a.doorConfig(aisdk.Name))
	routes["/agui/{agent_id}"] = a.protect(only(http.MethodPost, ag))
	routes["/ai/chat"] = a.protect(only(http.MethodPost, http.HandlerFunc(ai.Chat)))
	routes["/ai/chat/{agent_id}/stream"] = a.protect(only(http.MethodGet, http.HandlerFunc(ai.Resume)))
	routes["/agui/"] = a.protect(http.HandlerFunc(noDoor))
	routes["/ai/chat/"] = a.protect(http.HandlerFunc(noDoor))
}

// noDoor answers a path under a door's prefix that no door serves.
func noDoor(w http.ResponseWriter, _ *http.Request) {
	door.WriteError(w, &door.Error{Status: http.StatusNotFound, Code: "not_found",
		Message: "no door here: the doors are POST /agui/{agent_id}, POST /ai/chat and GET /ai/chat/{agent_id}/stream"})
}

func (a *App) doorConfig(name string) door.Config {
	streams := a.metrics.DoorStreams.WithLabelValues(name)
	return door.Config{
		Service:      a.service,
		Draining:     a.health.Draining(),
		Heartbeat:    a.cfg.Heartbeat,
		MaxBodyBytes: int64(a.cfg.ReadMaxBytes),
		CheckOrigin: func(r *http.Request) bool {
			if a.origins.CheckRequest(r) {
				return true
			}
			a.metrics.Refused("origin")
			return false
		},
		Admit: func(r *http.Request) (func(), string) {
			release, reason, ok := a.gate.Enter()
			if !ok {
				a.metrics.Refused(reason)
				return nil, reason
			}
			streams.Inc()
			return func() {
				streams.Dec()
				release()
			}, ""
		},
		Observe: a.observeDoor,
		Logger:  a.log,
	}
}

// observeDoor writes the access log line of a door request and counts it.
// What the client sent (method, path, agent id) is cut to clip.ValueLen:
// a door refuses an id of a megabyte, and its log line must not hold it.
func (a *App) observeDoor(r *http.Request, rec door.Record) {
	a.metrics.DoorRequests.WithLabelValues(rec.Door, rec.Outcome).Inc()
	a.metrics.DoorDuration.WithLabelValues(rec.Door).Observe(rec.Duration.Seconds())
	level := slog.LevelInfo
	if rec.Outcome == door.OutcomeFailed {
		level = slog.LevelWarn
	}
	attrs := []slog.Attr{
		slog.String("door", rec.Door),
		slog.String("method", clip.Value(r.Method)),
		slog.String("path", clip.Value(r.URL.Path)),
		slog.Int("status", rec.Status),
		slog.String("outcome", rec.Outcome),
		logattr.Millis("duration_ms", rec.Duration),
		slog.String("peer", r.RemoteAddr),
		slog.String("request_id", accesslog.RequestID(r.Context())),
	}
	if rec.AgentID != "" {
		attrs = append(attrs, slog.String("agent", clip.Value(rec.AgentID)))
	}
	if rec.Code != "" {
		attrs = append(attrs, slog.String("code", rec.Code))
	}
	if rec.Duplicate {
		attrs = append(attrs, slog.Bool("duplicate", true))
	}
	a.log.LogAttrs(r.Context(), level, "door", attrs...)
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
