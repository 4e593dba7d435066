// Package openai is the built-in responder that answers with a model behind an
// OpenAI-compatible Chat Completions API: OpenAI itself, or any server that
// speaks it (vLLM, Ollama, llama.cpp's server, LiteLLM, OpenRouter, Groq…).
// It streams the reply through the official Go SDK,
// github.com/openai/openai-go/v3.
//
// The gateway fills Config from its environment:
//
//	OPENAI_BASE_URL           Config.BaseURL
//	OPENAI_API_KEY            Config.APIKey
//	OPENAI_MODEL              Config.Model
//	SYSTEM_PROMPT             Config.SystemPrompt
//	UPSTREAM_MAX_EVENT_BYTES  Config.MaxEventBytes
//
// and bounds every reply with REPLY_TIMEOUT, the deadline of Respond's
// context. Retries of rate limits, server errors and connection errors happen
// inside that deadline and only until the first delta of the reply was
// written, so a reply is never written twice.
//
// # Tools
//
// Each step of a run offers the model Request.Tools as function tools, and
// sends the conversation as the model wrote it: History, the user message,
// then the run so far (Request.Steps), each step as an assistant message
// with its tool_calls followed by one tool message per call, a failed call's
// content prefixed with "Error: ". The model's tool calls stream to the
// Stream as they come (start, argument pieces, end), and a step that called
// tools finishes with tool_calls; the gateway runs them and calls Respond
// again. Servers stream calls in different shapes (Ollama without an index
// or with every call at index 0, vLLM without ids), and each is read as the
// calls the model made; a call the server gave no id gets one.
//
// # Errors
//
// Every failure is a *responder.Error whose Code says which:
// upstream_unauthenticated, upstream_rate_limited, upstream_failed,
// upstream_incomplete, upstream_timeout, upstream_event_too_large or
// upstream_context_too_long. An error the server sends inside a stream it
// began with 200 is classified by its code and type as an HTTP error is by
// its status. A conversation too long for the model (OpenAI's
// context_length_exceeded, and the words vLLM, llama.cpp, Ollama and
// proxies use for it) is upstream_context_too_long, whose error wraps
// responder.ErrContextTooLong: the gateway retries the step once with less
// of the conversation. The Message names the model server and what to
// check; the API key and the base URL's password and query values never
// appear in an error or a log line, even where the server echoes them.
package openai

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/agentgate/agentgate/internal/logattr"
	"github.com/agentgate/agentgate/internal/redact"
	"github.com/agentgate/agentgate/internal/upstreamhttp"
	"github.com/agentgate/agentgate/responder"
	sdk "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
)

// The defaults that a zero Config field stands for.
const (
	DefaultBaseURL     = "https://api.openai.com/v1"
	DefaultIdleTimeout = 30 * time.Second
	DefaultMinBackoff  = 500 * time.Millisecond
	DefaultMaxBackoff  = 10 * time.Second
	DefaultMaxAttempts = 6
)

// Config configures a Responder. The zero value of every field but Model
// stands for the default its comment states.
type Config struct {
	// BaseURL is the API's root, up to and including its version path, such
	// as http://127.0.0.1:11434/v1 for Ollama. It must be an http or https
	// URL. Default DefaultBaseURL (OpenAI). From OPENAI_BASE_URL.
	BaseURL string
	// APIKey is sent as a bearer token. Default none: local servers need
	// none, and no Authorization header is sent then. From OPENAI_API_KEY.
	APIKey string
	// Model is the model that answers, as the server names it. Required.
	// From OPENAI_MODEL.
	Model string
	// SystemPrompt, when set, is sent first, as a system message, before the
	// conversation. Default none. From SYSTEM_PROMPT.
	SystemPrompt string
	// Temperature, when set, is sent as the sampling temperature; 0 makes
	// the reply as repeatable as the server allows. Default: not sent, so
	// that the server's default applies (1 for OpenAI, and also for
	// Ollama's OpenAI-compatible API, whatever the model's Modelfile says).
	Temperature *float64
	// HTTPClient makes the requests. Default: net/http's, keeping up to 256
	// idle connections to the server rather than 2. Its Timeout,
	// if any, bounds whole streams; leave it zero and rely on IdleTimeout and
	// the context's deadline instead.
	HTTPClient *http.Client
	// IdleTimeout is the longest silence accepted from the server: before
	// its first chunk and between two chunks. A server that stays silent for
	// longer fails the reply with upstream_timeout. Default
	// DefaultIdleTimeout.
	IdleTimeout time.Duration
	// MinBackoff is the wait before the first retry, doubled for each
	// retry after it, with jitter. A Retry-After header from the server
	// replaces it. Default DefaultMinBackoff.
	MinBackoff time.Duration
	// MaxBackoff caps the doubling of MinBackoff. Default DefaultMaxBackoff.
	MaxBackoff time.Duration
	// MaxAttempts bounds the requests made for one reply, the first one
	// included; the context's deadline bounds them too. Default
	// DefaultMaxAttempts.
	MaxAttempts int
	// MaxEventBytes caps one server-sent event of the stream, its lines,
	// field names and line ends included, and so any single line. A server
	// that sends more without ending the event (a huge delta, an endless
	// line) fails the reply with upstream_event_too_large, without a retry:
	// the same request would get the same answer. Default
	// responder.DefaultMaxEventBytes (1 MiB); at most 16 MiB. From UPSTREAM_MAX_EVENT_BYTES.
	MaxEventBytes int
	// Logger receives retries and failures, with the API key and the base
	// URL's secrets taken out. Default slog.Default(), which agentgate.Main
	// makes the gateway's logger.
	Logger *slog.Logger
}

// Responder answers through a Chat Completions API. It keeps no state
// between replies, and is safe for concurrent use.
type Responder struct {
	cfg Config
	// server is BaseURL without credentials or query values, as messages
	// name it.
	server string
	chat   sdk.ChatCompletionService
	log    *slog.Logger
	// red takes the API key and the base URL's secrets out of what the
	// server says, before it is cut, logged or returned.
	red *redact.Redactor
}

var _ responder.Responder = (*Responder)(nil)

// New checks cfg, applies the defaults and returns a Responder. Its errors
// name the setting that is wrong.
func New(cfg Config) (*Responder, error) {
	cfg, err := withDefaults(cfg)
	if err != nil {
		return nil, err
	}
	red := redact.New(append(redact.URLSecrets(cfg.BaseURL), cfg.APIKey)...)
	return &Responder{
		cfg:    cfg,
		server: redact.URL(cfg.BaseURL),
		chat:   sdk.NewChatCompletionService(clientOptions(cfg)...),
		log:    redact.Logger(cfg.Logger, red),
		red:    red,
	}, nil
}

// clientOptions configures the SDK. The service is built without
// sdk.NewClient, which would read OPENAI_* variables of the process
// (organisation, project, extra headers) behind the configuration's back.
// The SDK's own retries are off: they would retry after a delta was
// written, and outside the reply's deadline. Retries live in Respond.
//
// The base URL's query (?api-key=…&api-version=…, as Azure-style proxies
// take them) goes with every request: the SDK resolves each path against
// the base URL, which drops its query.
func clientOptions(cfg Config) []option.RequestOption {
	base, _ := url.Parse(cfg.BaseURL) // checked by withDefaults
	query := base.Query()
	base.RawQuery = ""
	opts := []option.RequestOption{
		option.WithBaseURL(base.String()),
		option.WithHTTPClient(cfg.HTTPClient),
		option.WithMaxRetries(0),
	}
	for k, vs := range query {
		for _, v := range vs {
			opts = append(opts, option.WithQueryAdd(k, v))
		}
	}
	if cfg.APIKey != "" {
		opts = append(opts, option.WithAPIKey(cfg.APIKey))
	}
	return opts
}

// withDefaults validates cfg and fills its zero fields.
func withDefaults(cfg Config) (Config, error) {
	if cfg.Model == "" {
		return cfg, errors.New("openai responder: the model is not set: set OPENAI_MODEL (Config.Model) to a model the server serves, such as gpt-4o-mini")
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	if err := checkBaseURL(cfg.BaseURL); err != nil {
		return cfg, err
	}
	if t := cfg.Temperature; t != nil && !(*t >= 0) {
		return cfg, errors.New("openai responder: Temperature must be a number from 0")
	}
	if cfg.IdleTimeout < 0 || cfg.MinBackoff < 0 || cfg.MaxBackoff < 0 || cfg.MaxAttempts < 0 || cfg.MaxEventBytes < 0 {
		return cfg, errors.New("openai responder: IdleTimeout, MinBackoff, MaxBackoff, MaxAttempts and MaxEventBytes must not be negative")
	}
	if cfg.MaxEventBytes > maxEventBytes {
		return cfg, fmt.Errorf("openai responder: MaxEventBytes must be at most %d (16 MiB), got %d", maxEventBytes, cfg.MaxEventBytes)
	}
	cfg.MaxEventBytes = orDefault(cfg.MaxEventBytes, responder.DefaultMaxEventBytes)
	cfg.IdleTimeout = orDefault(cfg.IdleTimeout, DefaultIdleTimeout)
	cfg.MinBackoff = orDefault(cfg.MinBackoff, DefaultMinBackoff)
	cfg.MaxBackoff = orDefault(cfg.MaxBackoff, max(DefaultMaxBackoff, cfg.MinBackoff))
	cfg.MaxAttempts = orDefault(cfg.MaxAttempts, DefaultMaxAttempts)
	if cfg.MinBackoff > cfg.MaxBackoff {
		return cfg, fmt.Errorf("openai responder: MinBackoff (%s) is longer than MaxBackoff (%s)", cfg.MinBackoff, cfg.MaxBackoff)
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = upstreamhttp.NewClient()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return cfg, nil
}

// checkBaseURL accepts absolute http and https URLs with a host. Its errors
// never repeat the URL's password or query values, if it has them.
func checkBaseURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("openai responder: OPENAI_BASE_URL (Config.BaseURL) is not a URL: use the API's root, such as https://api.openai.com/v1")
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("openai responder: OPENAI_BASE_URL (Config.BaseURL) %q is not an http or https URL with a host: use the API's root, such as https://api.openai.com/v1", redact.URL(raw))
	}
	return nil
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// Respond implements responder.Responder: it streams the model's reply to
// out, retrying a failed attempt while nothing of the reply was written and
// the context's deadline leaves time for another one.
func (r *Responder) Respond(ctx context.Context, req responder.Request, out responder.Stream) (responder.Result, error) {
	params := r.params(req)
	var last *failure
	for n := 1; ; n++ {
		res, err := r.attempt(ctx, params, out)
		var f *failure
		if !errors.As(err, &f) {
			return res, err // nil, the caller's cancellation, or out's error
		}
		if f.outOfTime && last != nil {
			return res, r.fail(last, n)
		}
		last = f
		wait, ok := r.retryWait(ctx, f, n)
		if !ok {
			return res, r.fail(f, n)
		}
		r.log.LogAttrs(ctx, slog.LevelWarn, "openai: retrying the model server",
			slog.String("server", r.server), slog.Int("attempt", n),
			logattr.Millis("wait_ms", wait), slog.String("code", f.code),
			slog.String("cause", r.red.String(f.Error())))
		if err := sleep(ctx, wait); err != nil {
			if errors.Is(err, context.Canceled) {
				return res, err
			}
			return res, r.fail(f, n)
		}
	}
}
