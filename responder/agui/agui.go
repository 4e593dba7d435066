// Package agui is the built-in responder that puts an agent with an AG-UI
// 1.0 HTTP endpoint behind the gateway: LangGraph, CrewAI, Pydantic AI,
// Google ADK, Agno, AWS Strands, Microsoft Agent Framework, or any server in
// any language that speaks AG-UI.
//
// For each step of a run it POSTs a RunAgentInput (the agent id as
// threadId, the run id as runId, the conversation, the new user message and
// the run so far as messages, the step's tools as tools) and reads the
// server-sent events back: the assistant's text becomes text deltas, tool
// call events become tool call events, RUN_FINISHED ends the step, and
// RUN_ERROR becomes a run error with the upstream's code, if it is a short
// snake_case word outside the gateway's own codes, and upstream_error
// otherwise; an agent's model that refused a conversation too long is
// upstream_context_too_long, and one rate-limited upstream_rate_limited,
// whatever the agent's code. A stream that ends without either is a
// failure (upstream_incomplete): the reply would otherwise be kept as if it
// were whole. Nothing the agent says reaches a message or a log line with
// the token or the URL's secrets in it.
//
// # Tools and interrupts
//
// The agent may call the client's tools the gateway passes it: a run that
// ends with such calls pending ends the step with tool_calls, and the next
// step, a new AG-UI run (runId "<run id>-<step>"), brings the calls and
// their results as assistant toolCalls and tool messages (a failure as the
// tool message's error). The agent's own tools, whose results it reports,
// pass through as they are. A run that ends with an interrupt outcome (a
// person must approve a call, or answer a question) reports each interrupt
// with Stream.Interrupt and ends the step with tool_calls; the next step's
// Request.Resume goes back as the run's resume entries ({"approved",
// "reason"} as a resolved entry's payload), and the result the resumed
// agent reports for the call it held reaches the Stream as that call's.
//
// The responder keeps no state between replies, so any replica can run it.
// It speaks SSE only, which every AG-UI server offers; the protobuf framing
// is optional in AG-UI and not requested.
package agui

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/agentgate/agentgate/internal/redact"
	"github.com/agentgate/agentgate/internal/upstreamhttp"
	"github.com/agentgate/agentgate/responder"
)

// The defaults of Config.
const (
	DefaultIdleTimeout = 60 * time.Second
)

// Config configures a Responder. The zero value of every field but URL is
// its documented default.
type Config struct {
	// URL is the agent's AG-UI endpoint, which gets one POST per reply, such
	// as http://localhost:8000/ for a LangGraph or ADK FastAPI app. Required;
	// http or https.
	URL string
	// Token, if set, is sent as "Authorization: Bearer <Token>" on every
	// request. It never appears in an error or a log. Default none.
	Token string
	// HTTPClient sends the requests. Default: net/http's, keeping up to 256
	// idle connections to the agent rather than 2. A
	// Client.Timeout bounds the whole reply, stream included; leave it 0 and
	// rely on IdleTimeout and the gateway's reply timeout.
	HTTPClient *http.Client
	// IdleTimeout is the longest the upstream may stay silent: from the
	// request to the response headers, and between any two reads of the
	// stream (keep-alive comments count, so an agent that pings while it
	// thinks is not cut off). Default 60s.
	IdleTimeout time.Duration
	// MaxFrameBytes caps the data of one event, and any one line of the
	// stream, so that a broken upstream cannot grow a buffer without bound;
	// a larger one fails the reply with upstream_event_too_large. Default
	// responder.DefaultMaxEventBytes (1 MiB). From UPSTREAM_MAX_EVENT_BYTES.
	MaxFrameBytes int
	// Logger receives what the responder skips (a tool result for an
	// unknown call, an interrupt's id given twice), with the token and the
	// URL's secrets taken out. Default slog.Default(), which agentgate.Main
	// makes the gateway's logger.
	Logger *slog.Logger
}

// Responder answers through an AG-UI agent. It is safe for concurrent use.
type Responder struct {
	cfg Config
	url string
	// where is the URL as errors name it: without credentials or query,
	// which may hold secrets.
	where string
	// red takes the token and the URL's secrets out of everything the
	// agent says, before it is cut, logged or returned: an agent may echo
	// the Authorization header it was sent.
	red *redact.Redactor
}

var _ responder.Responder = (*Responder)(nil)

// New validates cfg and returns a Responder. Its errors name the setting
// at fault.
func New(cfg Config) (*Responder, error) {
	where, err := checkURL(cfg.URL)
	if err != nil {
		return nil, err
	}
	if err := checkToken(cfg.Token); err != nil {
		return nil, err
	}
	if cfg.IdleTimeout < 0 {
		return nil, fmt.Errorf("agui: IdleTimeout must not be negative, got %v", cfg.IdleTimeout)
	}
	if cfg.MaxFrameBytes < 0 {
		return nil, fmt.Errorf("agui: MaxFrameBytes must not be negative, got %d", cfg.MaxFrameBytes)
	}
	red := redact.New(append(redact.URLSecrets(cfg.URL), cfg.Token)...)
	cfg = cfg.withDefaults()
	cfg.Logger = redact.Logger(cfg.Logger, red)
	return &Responder{cfg: cfg, url: cfg.URL, where: where, red: red}, nil
}

func (c Config) withDefaults() Config {
	if c.HTTPClient == nil {
		c.HTTPClient = upstreamhttp.NewClient()
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.MaxFrameBytes == 0 {
		c.MaxFrameBytes = responder.DefaultMaxEventBytes
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// checkURL returns the URL as errors show it.
func checkURL(raw string) (string, error) {
	if raw == "" {
		return "", errors.New("agui: URL is required: the agent's AG-UI endpoint, such as http://localhost:8000/")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", errors.New("agui: URL is not a valid URL; want the agent's AG-UI endpoint, such as http://localhost:8000/")
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("agui: URL %s must be an http or https URL with a host", redact.URL(raw))
	}
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String(), nil
}

// checkToken refuses what cannot go into a header, rather than failing on
// every request later.
func checkToken(token string) error {
	for _, c := range []byte(token) {
		if (c < 0x20 && c != '\t') || c == 0x7f {
			return errors.New("agui: Token contains a control character (a newline?), which an HTTP header cannot hold")
		}
	}
	return nil
}

// Respond implements responder.Responder: one POST, one event stream, per
// step.
func (r *Responder) Respond(ctx context.Context, req responder.Request, out responder.Stream) (responder.Result, error) {
	body, err := json.Marshal(newRunAgentInput(req))
	if err != nil {
		return responder.Result{}, fmt.Errorf("agui: encode RunAgentInput: %w", err)
	}
	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	idle := time.AfterFunc(r.cfg.IdleTimeout, func() { cancel(errIdle) })
	defer idle.Stop()

	resp, err := r.post(runCtx, body)
	if err != nil {
		return responder.Result{}, r.failure(ctx, runCtx, err, "could not reach")
	}
	defer resp.Body.Close()
	if err := r.checkResponse(resp); err != nil {
		return responder.Result{}, err
	}
	stream := &idleReader{r: resp.Body, timer: idle, d: r.cfg.IdleTimeout}
	log := r.cfg.Logger.With("agent_id", req.AgentID, "run_id", req.RunID)
	rep := newReply(out, log, req)
	rep.red = r.red
	res, err := r.read(newSSEReader(stream, r.cfg.MaxFrameBytes), rep)
	if err != nil {
		return responder.Result{}, r.failure(ctx, runCtx, err, "lost the stream of")
	}
	return res, nil
}

// post sends the RunAgentInput as AG-UI's HttpAgent does.
func (r *Responder) post(ctx context.Context, body []byte) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	if r.cfg.Token != "" {
		req.Header.Set("Authorization", "Bearer "+r.cfg.Token)
	}
	return r.cfg.HTTPClient.Do(req)
}

// read applies events until the run finishes or fails.
func (r *Responder) read(events *sseReader, rep *reply) (responder.Result, error) {
	for {
		data, err := events.Next()
		if errors.Is(err, io.EOF) {
			return responder.Result{}, responder.Errorf(codeIncomplete,
				"the AG-UI agent at %s ended its stream without RUN_FINISHED or RUN_ERROR, so the reply may be cut short", r.where)
		}
		if err != nil {
			return responder.Result{}, err
		}
		if len(bytes.TrimSpace(data)) == 0 {
			continue
		}
		res, err := rep.handle(data)
		if err != nil || res != nil {
			return deref(res), err
		}
	}
}

func deref(res *responder.Result) responder.Result {
	if res == nil {
		return responder.Result{}
	}
	return *res
}
