// Package door holds what the gateway's frontend doors share: the AG-UI door
// (package agui) and the AI SDK UI message stream door (package aisdk). Each
// door is an adapter: it maps its wire's request to a call of the agent
// service and the events of one reply to its wire's frames, and holds no
// agent logic, so every door behaves as the WebSocket and the Connect API
// do.
//
// This package has the pieces in between. A request is an Exchange: it is
// checked (Config.CheckRequest, Config.DecodeBody) and admitted, asks the service (Exchange.Ask), and is recorded
// for the access log and metrics when it ends. Its reply is relayed
// (Config.Relay): Follow streams the reply's events until it ends, the
// client goes or the server drains; an Assembler turns them into a
// well-formed sequence of calls on the door's Translator, filling in from
// the persisted reply what the live events missed; and SSE writes the Translator's wire events as Server-Sent
// Events frames. Errors become an Error (ErrorOf): an HTTP status and a
// JSON body before the stream, the wire's error event after it. Config is
// the settings and hooks the wiring gives every door.
package door

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/agentgate/agentgate/internal/agent"
)

// Service is what the doors need of agent.Service.
type Service interface {
	// Ask appends a user message (idempotent by clientMessageID) and
	// follows its reply.
	Ask(ctx context.Context, agentID, text, clientMessageID string) (*agent.Follower, error)
	// ActiveRun follows the reply being written to the agent, or returns
	// nil if none is.
	ActiveRun(ctx context.Context, agentID string) (*agent.Follower, error)
}

var _ Service = (*agent.Service)(nil)

// Config is what every door gets from the wiring. The zero value of each
// field is a documented default.
type Config struct {
	// Service answers. Required.
	Service Service
	// Draining is closed when the server begins to shut down: open streams
	// then end with an error the client can act on (retry). Nil means
	// never.
	Draining <-chan struct{}
	// Heartbeat is the longest silence on a stream before an SSE comment is
	// sent, so that proxies with idle timeouts keep it open. Default 15s.
	Heartbeat time.Duration
	// WriteTimeout bounds each write to the client: a client that stops
	// reading is cut off after it. Default 10s.
	WriteTimeout time.Duration
	// MaxBodyBytes is the largest request body accepted (413 beyond).
	// Default 1 MiB.
	MaxBodyBytes int64
	// CheckOrigin reports whether a browser request's Origin may use the
	// door (403 otherwise). Nil allows every origin.
	CheckOrigin func(*http.Request) bool
	// Admit lets a stream in under the connection limits. On success the
	// door calls release when the stream ends; otherwise refusal says why,
	// and the door answers 503. Nil admits every stream.
	Admit func(*http.Request) (release func(), refusal string)
	// Observe is told of every request once it is answered, for access logs
	// and metrics. Nil means nobody is told.
	Observe func(*http.Request, Record)
	// Logger receives the door's own logs. Default slog.Default().
	Logger *slog.Logger
}

// WithDefaults returns c with its defaults filled in.
func (c Config) WithDefaults() Config {
	if c.Heartbeat <= 0 {
		c.Heartbeat = 15 * time.Second
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 10 * time.Second
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = 1 << 20
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Record describes one answered door request.
type Record struct {
	// Door is "agui" or "aisdk".
	Door string
	// AgentID is the agent named by the request, if any.
	AgentID string
	// Status is the HTTP status sent.
	Status int
	// Outcome is how the request ended: one of the Outcome constants.
	Outcome string
	// Code is the error code sent to the client, if any.
	Code string
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
	// OutcomeFailed: the stream ended on a failure of the gateway.
	OutcomeFailed = "failed"
	// OutcomeRefused: the request was refused before any stream (bad
	// body, origin, limits, a failed append).
	OutcomeRefused = "refused"
)
