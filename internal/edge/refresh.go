package edge

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"connectrpc.com/connect"
	"github.com/agentgate/agentgate/internal/accesslog"
	"github.com/agentgate/agentgate/internal/clip"
	"github.com/agentgate/agentgate/internal/identity"
)

// Refresh verifies a fresh token that a client hands its open socket on
// agentID (docs/websocket.md, the refresh frame), for the socket to go on
// as its identity from then on: the caller it had (cur) with a later
// expiry. The token must pass the Verifiers (401 unauthenticated, as at
// the upgrade); be of the same caller, a user of the same subject (403
// permission_denied, reason subject: a socket does not change hands, and
// another user opens a socket of their own); still allow perm on the
// agent, what the upgrade needed (403 permission_denied, reason agent or
// scope); and not have expired with its grace (401). A refused refresh
// changes nothing: the socket keeps the token it had, until that one's
// end. The refusal is observed, with the socket's subject and the reason,
// never the token.
func (p *Policy) Refresh(ctx context.Context, cur identity.Identity, token, agentID string, perm identity.Permission) (identity.Identity, *Refusal) {
	id, err := p.Authenticate(ctx, token)
	var ref *Refusal
	switch {
	case err != nil:
		ref = authRefusal(err, "the refresh needs a valid token: send a fresh one from where the socket's came from")
	case id.Kind != cur.Kind || id.Subject != cur.Subject:
		ref = &Refusal{Status: http.StatusForbidden, Code: connect.CodePermissionDenied, Reason: "subject",
			Message: "the token is another caller's: a socket keeps its caller (" + clip.String(cur.Name(), 64) +
				"); open a new socket for another"}
	default:
		var d *identity.Denied
		if errors.As(id.Allows(agentID, perm), &d) {
			ref = deniedRefusal(d)
		} else {
			ref = p.expiredRefusal(id)
		}
	}
	if ref != nil {
		p.m.Refused(ref.Reason, string(WebSocket))
		attrs := []slog.Attr{
			slog.String("reason", ref.Reason),
			slog.String("subject", clip.Value(cur.Name())),
			slog.String("agent", clip.Value(agentID)),
			slog.String("request_id", clip.Value(accesslog.RequestID(ctx))),
			slog.String("door", string(WebSocket)),
		}
		if d := ref.detail(); d != "" {
			attrs = append(attrs, slog.String("detail", d))
		}
		p.log.LogAttrs(ctx, slog.LevelWarn, "websocket refresh refused", attrs...)
		return cur, ref
	}
	p.log.LogAttrs(ctx, slog.LevelDebug, "websocket token refreshed",
		slog.String("subject", clip.Value(id.Name())),
		slog.String("agent", clip.Value(agentID)),
		slog.Time("expires", id.Expires),
		slog.String("request_id", clip.Value(accesslog.RequestID(ctx))))
	return id, nil
}
