package openai

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/http"
	"syscall"
	"time"

	"github.com/agentgate/agentgate/internal/upstreamerr"
	"github.com/agentgate/agentgate/responder"
	"github.com/openai/openai-go/v3/packages/ssestream"
)

// The codes of the run errors this responder returns.
const (
	CodeUnauthenticated = "upstream_unauthenticated"
	CodeRateLimited     = "upstream_rate_limited"
	CodeFailed          = "upstream_failed"
	CodeIncomplete      = "upstream_incomplete"
	CodeTimeout         = "upstream_timeout"
	CodeEventTooLarge   = "upstream_event_too_large"
	// CodeContextTooLong is responder.CodeContextTooLong: the conversation
	// does not fit in the model's context window. Its error wraps
	// responder.ErrContextTooLong.
	CodeContextTooLong = responder.CodeContextTooLong
)

// failure is why one attempt did not finish the reply: the makings of a
// *responder.Error, and whether another attempt may help.
type failure struct {
	code string
	// what happened, naming the server; advice says what a person can do.
	what, advice string
	cause        error
	retry        bool
	// after is the wait the server asked for, or 0.
	after time.Duration
	// outOfTime is set when the reply's deadline passed before this attempt
	// wrote anything: a retry ran out of time, and the failure before it
	// is the reason the reply failed.
	outOfTime bool
}

// Error is for the log; it is redacted before it is written.
func (f *failure) Error() string { return f.code + ": " + f.what + ": " + f.cause.Error() }

// fail makes the run error of the last of n attempts. The API key is taken
// out of everything in it, the server's own words included: a proxy may
// echo the header it was sent.
func (r *Responder) fail(f *failure, n int) *responder.Error {
	msg := f.what
	if n > 1 {
		msg += fmt.Sprintf(", after %d attempts", n)
	}
	return &responder.Error{Code: f.code, Message: r.red.String(msg + ": " + f.advice), Err: r.cause(f.cause)}
}

// cause is what the run error keeps of the failure's cause, for the
// server's log: its text without the key, and no more of it than a timeout
// sentinel. The SDK's error holds the request, and the request's
// Authorization header is the key.
func (r *Responder) cause(err error) error {
	msg := r.red.String(err.Error())
	for _, sentinel := range []error{context.DeadlineExceeded, errIdle, responder.ErrContextTooLong} {
		if errors.Is(err, sentinel) {
			return &redacted{msg: msg, err: sentinel}
		}
	}
	return errors.New(msg)
}

// redacted is a cause whose text has the key taken out.
type redacted struct {
	msg string
	err error
}

func (e *redacted) Error() string { return e.msg }
func (e *redacted) Unwrap() error { return e.err }

// classify says why an attempt ended without a finish reason. The caller's
// cancellation is returned as it is: the gateway records the reply as
// cancelled. ctx is Respond's context, actx the attempt's.
func (r *Responder) classify(ctx, actx context.Context, err error, rs *response, emitted bool) error {
	var se *ssestream.StreamError
	var big *eventTooLarge
	switch {
	case errors.Is(ctx.Err(), context.Canceled):
		return ctx.Err()
	case ctx.Err() != nil:
		f := r.failure(CodeTimeout, "did not finish the reply within the reply timeout",
			"raise REPLY_TIMEOUT, or use a faster model", ctx.Err())
		f.outOfTime = !emitted
		return f
	case errors.Is(context.Cause(actx), errIdle):
		return r.failure(CodeTimeout, fmt.Sprintf("sent nothing for %s: the stream stalled", r.cfg.IdleTimeout),
			"send the message again, and check the model server's load", errIdle)
	case errors.As(err, &big), errors.Is(err, bufio.ErrTooLong):
		return r.failure(CodeEventTooLarge, fmt.Sprintf("sent a chunk that is too large: an event of more than %d bytes (the limit)", r.cfg.MaxEventBytes),
			"check the model server; UPSTREAM_MAX_EVENT_BYTES raises the limit", err)
	case errors.As(err, &se):
		return r.inBandFailure(parseAPIError(se.Event.Data), err, emitted)
	case rs.status >= 400:
		return r.statusFailure(rs)
	case rs.status == 0:
		return r.unreachable(err)
	case isDecodeError(err):
		return r.failure(CodeFailed, "sent a chunk that is not Chat Completions JSON",
			"check that OPENAI_BASE_URL is the root of an OpenAI-compatible API", err)
	}
	return r.incomplete(err, rs, emitted)
}

// failure makes a failure whose message names the server.
func (r *Responder) failure(code, what, advice string, cause error) *failure {
	return &failure{code: code, what: "the model server at " + r.server + " " + what, advice: advice, cause: cause}
}

// inBandFailure is an error the server sent inside a stream it had begun
// with 200 (data: {"error":{…}}), classified by its code, type and words as
// an HTTP error is by its status. A rate limit that came before anything
// was written is worth another attempt.
func (r *Responder) inBandFailure(e apiError, err error, emitted bool) *failure {
	said := r.quoted(e.Message)
	switch e.kind() {
	case upstreamerr.Unauthenticated:
		return r.failure(CodeUnauthenticated, "refused the API key while streaming"+said, "check OPENAI_API_KEY", err)
	case upstreamerr.RateLimited:
		f := r.failure(CodeRateLimited, "is rate-limiting requests (said while streaming"+said+")",
			"wait a little and send the message again, or raise the account's rate limit", err)
		f.retry = !emitted
		return f
	case upstreamerr.ContextTooLong:
		return r.contextTooLong("while streaming"+said, err)
	}
	return r.failure(CodeFailed, "reported an error while streaming"+said,
		"send the message again; the model server's log says more", err)
}

// contextTooLong is the server's refusal of a conversation too long for
// the model. It is not retried here: the same request would be refused
// again, and the gateway retries the step with less of the conversation.
func (r *Responder) contextTooLong(said string, err error) *failure {
	return r.failure(CodeContextTooLong, "says the conversation is too long for the model's context window ("+said+")",
		fmt.Sprintf("lower CONTEXT_TOKENS or CONTEXT_MESSAGES, start a new conversation, or use a model with a larger context window than %q", r.cfg.Model),
		fmt.Errorf("%w: %w", responder.ErrContextTooLong, err))
}

// statusFailure is an HTTP error. Only rate limits and server errors are
// worth another attempt; a refused key or a bad request stays refused.
func (r *Responder) statusFailure(rs *response) *failure {
	e := parseAPIError(rs.body)
	said := r.quoted(e.Message)
	status := fmt.Sprintf("HTTP %d%s", rs.status, said)
	// The SDK's error says no more than the status, or, for a body not in
	// OpenAI's shape, that it could not decode it.
	err := fmt.Errorf("HTTP %d %s", rs.status, http.StatusText(rs.status))
	var f *failure
	switch code := rs.status; {
	case code != 401 && code != 403 && code != 429 && e.kind() == upstreamerr.ContextTooLong:
		return r.contextTooLong(status, err)
	case code == 401 && r.cfg.APIKey == "":
		f = r.failure(CodeUnauthenticated, "asks for an API key ("+status+")", "set OPENAI_API_KEY", err)
	case code == 401:
		f = r.failure(CodeUnauthenticated, "refused the API key ("+status+")", "check OPENAI_API_KEY", err)
	case code == 403:
		f = r.failure(CodeUnauthenticated, "refused access ("+status+")",
			fmt.Sprintf("check that the key in OPENAI_API_KEY may use the model %q", r.cfg.Model), err)
	case code == 429:
		f = r.failure(CodeRateLimited, "is rate-limiting requests ("+status+")",
			"wait a little and send the message again, or raise the account's rate limit", err)
		f.retry = true
	case code >= 500:
		f = r.failure(CodeFailed, "failed ("+status+")", "try again later; the model server's log says more", err)
		f.retry = true
	case code == 404:
		f = r.failure(CodeFailed, "found no such model or API ("+status+")",
			fmt.Sprintf("check OPENAI_MODEL (%q) and that OPENAI_BASE_URL is the API's root, which usually ends in /v1", r.cfg.Model), err)
	default:
		f = r.failure(CodeFailed, "rejected the request ("+status+")",
			fmt.Sprintf("check that the model %q (OPENAI_MODEL) takes chat messages; the model server's log says more", r.cfg.Model), err)
	}
	if f.retry {
		f.after = retryAfter(rs.header, time.Now())
	}
	return f
}

// unreachable is a request that got no response. Most such failures pass
// (a restarting server, a dropped connection); an unknown host or an
// untrusted certificate does not.
func (r *Responder) unreachable(err error) *failure {
	if err == nil {
		err = errors.New("no response")
	}
	reason, retry := "the connection failed", true
	var dnsErr *net.DNSError
	var certErr *tls.CertificateVerificationError
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		reason = "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		reason = "connection reset"
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound:
		reason, retry = "no such host", false
	case errors.As(err, &certErr):
		reason, retry = "its TLS certificate is not trusted", false
	}
	f := &failure{code: CodeFailed, what: "cannot reach the model server at " + r.server + " (" + reason + ")",
		advice: "check OPENAI_BASE_URL and that the server is running", cause: err, retry: retry}
	return f
}

// incomplete is a stream that ended, or broke off, without a finish
// reason: the reply is not whole, so it is not a reply. A connection that
// broke before anything was written is worth another attempt.
func (r *Responder) incomplete(err error, rs *response, emitted bool) *failure {
	if ct := rs.header.Get("Content-Type"); !emitted && !isEventStream(ct) {
		return r.failure(CodeIncomplete, fmt.Sprintf("answered with %q instead of an event stream", ct),
			"check that OPENAI_BASE_URL is the root of an OpenAI-compatible API, which usually ends in /v1",
			errors.New("not an event stream"))
	}
	if err == nil {
		return r.failure(CodeIncomplete, "ended the stream before the reply was finished (no finish reason)",
			"send the message again", errors.New("stream ended without a finish reason"))
	}
	f := r.failure(CodeIncomplete, "broke off the stream before the reply was finished", "send the message again", err)
	f.retry = !emitted
	return f
}

func isEventStream(contentType string) bool {
	mt, _, _ := mime.ParseMediaType(contentType)
	return mt == "text/event-stream"
}

func isInBand(err error) bool {
	var se *ssestream.StreamError
	return errors.As(err, &se)
}

func isDecodeError(err error) bool {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	return errors.As(err, &syntax) || errors.As(err, &typ)
}

// maxQuoted bounds how much of the server's words a message repeats.
const maxQuoted = 200

// quoted renders the server's words for a message: `: "…"`, the secrets
// taken out first, then on one line and shortened, or nothing when there
// are none. Cutting first would leave most of an echoed key behind.
func (r *Responder) quoted(s string) string {
	s = r.red.Excerpt(s, maxQuoted)
	if s == "" {
		return ""
	}
	return fmt.Sprintf(": %q", s)
}
