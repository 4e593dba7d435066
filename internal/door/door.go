// Package door holds what the gateway's frontend doors share: the AG-UI door
// (package agui) and the AI SDK UI message stream door (package aisdk). Each
// door is an adapter: it maps its wire's request to a call of the agent
// service and the events of one reply to its wire's frames, and holds no
// agent logic, so every door behaves as the WebSocket and the Connect API
// do.
//
// This package has the pieces in between. A request is an Exchange, which
// meets the edge's policy (package edge) step by step: it is checked
// (Exchange.Check: the origin, the content type; Config.DecodeBody),
// authorized (Exchange.Authorize: Write on the agent, or Read to resume)
// and admitted (Exchange.Admit: the connection limits), asks the service
// (Exchange.Ask) or answers what the agent's paused run waits for
// (Exchange.Answer: a client tool's result, a person's decision), and is
// observed, its access-log line and metrics, when it ends. Its reply, a
// run of one or more steps, is relayed (Config.Relay): Follow streams the
// reply's events until the run ends or pauses, the client goes or the
// server drains; an Assembler turns them into a well-formed sequence of
// calls on the door's Translator, filling in from the persisted steps what
// the live events missed; and SSE writes the Translator's wire events as
// Server-Sent Events frames. A run that still waits after the answers is
// told as it stands (WaitingStep), without a follower. Errors become an Error (ErrorOf): an HTTP status and a
// JSON body before the stream, the wire's error event after it. Config is
// the settings and the policy the wiring gives every door.
package door

import (
	"context"
	"log/slog"
	"time"

	"github.com/agentgate/agentgate/internal/agent"
	"github.com/agentgate/agentgate/internal/config"
	"github.com/agentgate/agentgate/internal/edge"
	"github.com/agentgate/agentgate/tool"
)

// Service is what the doors need of agent.Service.
type Service interface {
	// Ask appends a user message (idempotent by clientMessageID), with
	// the client tools it lends, and follows its reply.
	Ask(ctx context.Context, agentID, text, clientMessageID string, tools ...tool.Def) (*agent.Follower, error)
	// ActiveRun follows the reply being written to the agent, or returns
	// nil if none is.
	ActiveRun(ctx context.Context, agentID string) (*agent.Follower, error)
	// SubmitToolResult and DecideToolCall take a client's answer to what
	// a paused run waits for; with Follow, the answer that resumes the run
	// comes with a follower of what the run does next.
	SubmitToolResult(ctx context.Context, in agent.ToolResult) (agent.Answer, error)
	DecideToolCall(ctx context.Context, in agent.Decision) (agent.Answer, error)
	// Paused reads the run that waits for answers now, nil if none does.
	Paused(ctx context.Context, agentID string) (*agent.PausedRun, error)
}

var _ Service = (*agent.Service)(nil)

// Config is what every door gets from the wiring. The zero value of each
// field but Service and Edge is a documented default.
type Config struct {
	// Service answers. Required.
	Service Service
	// Edge is the policy of every request: origins, permissions,
	// connection limits, the access log and metrics (the token was checked
	// before the door, by edge.Policy.ProtectDoor). Required.
	Edge *edge.Policy
	// Draining is closed when the server begins to shut down: open streams
	// then end with an error the client can act on (retry). Nil means
	// never.
	Draining <-chan struct{}
	// Heartbeat is the longest silence on a stream before an SSE comment is
	// sent, so that proxies with idle timeouts keep it open. Default
	// config.DefaultHeartbeat.
	Heartbeat time.Duration
	// WriteTimeout bounds each write to the client: a client that stops
	// reading is cut off after it. Default config.WriteTimeout.
	WriteTimeout time.Duration
	// MaxBodyBytes is the largest request body accepted (413 beyond).
	// Default config.DefaultReadMaxBytes.
	MaxBodyBytes int64
	// Logger receives the door's own logs. Default slog.Default().
	Logger *slog.Logger
}

// WithDefaults returns c with its defaults filled in.
func (c Config) WithDefaults() Config {
	if c.Heartbeat <= 0 {
		c.Heartbeat = config.DefaultHeartbeat
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = config.WriteTimeout
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = config.DefaultReadMaxBytes
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}
