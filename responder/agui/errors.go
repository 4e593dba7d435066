package agui

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"

	"github.com/agentgate/agentgate/responder"
)

// The run error codes of this responder: the gateway's codes for upstream
// failures, the same whichever responder runs, so that a client handles
// them once. A RUN_ERROR keeps the upstream's own code instead.
const (
	codeUnauthenticated = "upstream_unauthenticated"
	codeRateLimited     = "upstream_rate_limited"
	codeFailed          = "upstream_failed"
	codeIncomplete      = "upstream_incomplete"
	codeTimeout         = "upstream_timeout"
	codeEventTooLarge   = "upstream_event_too_large"
)

// errIdle is the cause of a run's context when IdleTimeout passed in
// silence.
var errIdle = errors.New("agui: the upstream was idle too long")

// errorBodyBytes is how much of an error response is kept for the log:
// readBodyBytes are read and redacted, then cut to errorBodyBytes.
const (
	errorBodyBytes = 512
	readBodyBytes  = 64 << 10
)

// checkResponse turns a status other than 2xx, or a body that is not an
// event stream, into a run error. Some of the body goes to the log through
// Err, never to the message, which people see; the token is taken out of it
// before it is cut, as an agent may echo the header it was sent.
func (r *Responder) checkResponse(resp *http.Response) error {
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, readBodyBytes))
		code, hint := statusCode(resp.StatusCode)
		return &responder.Error{
			Code:    code,
			Message: fmt.Sprintf("the AG-UI agent at %s answered HTTP %s%s", r.where, r.red.Excerpt(resp.Status, 100), hint),
			Err:     fmt.Errorf("response body: %q", r.red.Excerpt(string(body), errorBodyBytes)),
		}
	}
	ct := resp.Header.Get("Content-Type")
	if mt, _, _ := mime.ParseMediaType(ct); ct != "" && mt != "text/event-stream" {
		return responder.Errorf(codeFailed,
			"the AG-UI agent at %s answered %q, not an event stream (text/event-stream): is the URL its AG-UI endpoint?", r.where, r.red.Excerpt(ct, 100))
	}
	return nil
}

// statusCode maps an HTTP status to a run error code and a hint for people.
func statusCode(status int) (code, hint string) {
	switch status {
	case http.StatusUnauthorized, http.StatusForbidden:
		return codeUnauthenticated, "; check the token the gateway sends"
	case http.StatusTooManyRequests:
		return codeRateLimited, "; try again later"
	default:
		return codeFailed, ""
	}
}

// failure classifies an error of the request or the stream. The caller's
// own cancellation comes first: the gateway cancelled the reply, and
// ctx.Err() tells it so. what says what failed, for the message.
func (r *Responder) failure(ctx, runCtx context.Context, err error, what string) error {
	var se streamError
	var re *responder.Error
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case errors.Is(context.Cause(runCtx), errIdle):
		return &responder.Error{Code: codeTimeout, Err: errIdle, Message: fmt.Sprintf(
			"the AG-UI agent at %s sent nothing for %v", r.where, r.cfg.IdleTimeout)}
	case errors.As(err, &se):
		return se.err
	case errors.As(err, &re):
		return re
	case errors.Is(err, errFrameTooLarge):
		return &responder.Error{Code: codeEventTooLarge, Err: err, Message: fmt.Sprintf(
			"the AG-UI agent at %s sent an event or line that is too large: more than %d bytes (the limit; UPSTREAM_MAX_EVENT_BYTES raises it)",
			r.where, r.cfg.MaxFrameBytes)}
	case errors.Is(err, errBadEvent):
		return &responder.Error{Code: codeFailed, Err: err, Message: fmt.Sprintf(
			"the AG-UI agent at %s sent an event that is not valid AG-UI JSON", r.where)}
	default:
		return &responder.Error{Code: codeFailed, Err: unwrapURL(err), Message: fmt.Sprintf(
			"%s the AG-UI agent at %s", what, r.where)}
	}
}

// unwrapURL drops the *url.Error around a transport error: it repeats the
// full URL, query included, which may hold a secret.
func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
