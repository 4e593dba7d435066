package edge

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/agentgate/agentgate/internal/accesslog"
	"github.com/agentgate/agentgate/internal/clip"
	"github.com/agentgate/agentgate/internal/identity"
	"github.com/agentgate/agentgate/internal/logattr"
)

// DoorRecord describes one answered request of a frontend door (package
// door), for its access-log line and metrics.
type DoorRecord struct {
	// Door is AGUI or AISDK.
	Door Door
	// AgentID is the agent named by the request, if any.
	AgentID string
	// Status is the HTTP status sent.
	Status int
	// Outcome is how the request ended: one of the Outcome constants.
	Outcome string
	// Code is the error code sent to the client, if any.
	Code string
	// Reason is why the edge refused the request, if it did (origin,
	// max_connections, agent, scope …).
	Reason string
	// Duration is how long the request took.
	Duration time.Duration
	// Duplicate is true if the message was a retry and nothing was
	// appended.
	Duplicate bool
}

// The outcomes of a door request, as logged and counted.
const (
	// OutcomeFinished: the reply was streamed to its end.
	OutcomeFinished = "finished"
	// OutcomeRunError: the stream ended with the run's error.
	OutcomeRunError = "run_error"
	// OutcomeEmpty: there was nothing to stream (no new message, no
	// active reply).
	OutcomeEmpty = "empty"
	// OutcomeClientGone: the client left before the end; the reply is
	// written anyway.
	OutcomeClientGone = "client_gone"
	// OutcomeDraining: the server shut down during the stream.
	OutcomeDraining = "draining"
	// OutcomeExpired: the token expired during the stream (with
	// AUTH_EXPIRY_GRACE), which ended with unauthenticated.
	OutcomeExpired = "expired"
	// OutcomeFailed: the stream ended on a failure of the gateway.
	OutcomeFailed = "failed"
	// OutcomeRefused: the request was refused before any stream (bad
	// body, origin, limits, permission, a failed append).
	OutcomeRefused = "refused"
)

// ObserveDoor writes the access-log line of a door request and counts it.
// What the client sent (method, path, agent id) is cut to clip.ValueLen:
// a door refuses an id of a megabyte, and its log line must not hold it.
func (p *Policy) ObserveDoor(r *http.Request, rec DoorRecord) {
	if p.m != nil {
		p.m.DoorRequests.WithLabelValues(string(rec.Door), rec.Outcome).Inc()
		p.m.DoorDuration.WithLabelValues(string(rec.Door)).Observe(rec.Duration.Seconds())
	}
	level := slog.LevelInfo
	if rec.Outcome == OutcomeFailed {
		level = slog.LevelWarn
	}
	attrs := []slog.Attr{
		slog.String("door", string(rec.Door)),
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
	if id := IdentityFrom(r.Context()); id.Kind != identity.KindAnonymous {
		attrs = append(attrs, slog.String("subject", clip.Value(id.Name())))
	}
	if rec.Code != "" {
		attrs = append(attrs, slog.String("code", rec.Code))
	}
	if rec.Reason != "" {
		attrs = append(attrs, slog.String("reason", rec.Reason))
	}
	if rec.Duplicate {
		attrs = append(attrs, slog.Bool("duplicate", true))
	}
	p.log.LogAttrs(r.Context(), level, "door", attrs...)
}
