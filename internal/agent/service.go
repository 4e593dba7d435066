// Package agent is the domain of the gateway: agents, their ordered event
// logs, and the replies of their responder. It knows nothing of HTTP,
// Connect or WebSockets; adapters in other packages translate (package api
// for Connect, the bridge for the WebSocket, the doors for AG-UI and the AI
// SDK), and package errcode maps its error kinds to their codes.
//
// # Writing
//
// A Service is the one object the adapters call. A SendMessage reads
// straight down:
//
//   - append: the user message, with the client tools it lends, is
//     appended to the agent's log in the engine (Enqueue; Send and Ask
//     also follow its reply), and takes the engine's reply lease with it
//     when the lease is free, so that one replica at a time writes;
//   - replier: the agent's replier in this process (replier.go) answers
//     the waiting messages in seq order, each reply handing the lease on
//     to the next message or releasing it, so that answering costs the
//     store no round trip of its own; a SendMessage whose append took the
//     lease answers its own message on its caller's goroutine, and has
//     the reply in hand, and the replier's goroutine is handed the rest;
//   - steps: the message's run (loop.go) calls the responder once per
//     step, with the conversation before the message, within a message
//     count, a byte budget and CONTEXT_TOKENS (conversation.go), the
//     tools of the step (tools.go) and the run so far; each step streams
//     as the run's ephemeral events (run.go: run_started or step_started,
//     text deltas, tool call events), capped at MaxReplyBytes;
//   - tools: the step's calls get their kind and state (step.go): the
//     server tools' calls run, concurrently, before the step is appended;
//     a client tool's call, or one that needs a person's approval, pauses
//     the run, and the store keeps what it waits for until
//     SubmitToolResult and DecideToolCall (calls.go) bring each answer,
//     the last of which resumes the run on whichever replica takes the
//     lease, read back from the log (state.go);
//   - reply: each step is appended as one assistant message with its
//     calls; the one that ends or pauses the run (or a run error, so that
//     every message is answered) is the reply SendMessage returns.
//
// Cancel stops a run on whichever replica writes it, and closes a paused
// one. A replica that died mid-reply leaves messages (or a run to resume)
// that nobody answers once its lease expires: every replica's sweep finds
// them and goes on from the log.
//
// # Reading
//
// History, Get and List read the log and the agents' stats. A Follower is a
// subscription to one agent's events as a client expects it: persisted
// events in seq order, each once, gaps filled from the log, a log created
// anew announced with history_reset, and, when it starts mid-reply, the run
// so far first. It follows the whole agent (Subscribe, Converse, the
// WebSocket push) or the reply to one message (the frontend doors, and
// SendMessage's wait). Followers own no goroutine: their user selects on
// Ready with its other work and calls Pump, so that an idle subscriber
// costs no stack. Reading never starts writing.
package agent

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
	"unicode/utf8"

	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/agentgate/agentgate/internal/agentid"
	"github.com/agentgate/agentgate/internal/engine"
	"github.com/agentgate/agentgate/internal/logattr"
	"github.com/agentgate/agentgate/responder"
	"github.com/agentgate/agentgate/tool"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Config configures a Service. The zero value of every field but Engine is a
// documented default.
type Config struct {
	// Engine stores the logs and fans events out. Required.
	Engine engine.Engine
	// Responder writes the replies. Default responder.Echo{}.
	Responder responder.Responder
	// ContextMessages is how many persisted messages and replies before a
	// user message the responder gets as the conversation; 0 (or less)
	// gives none. The gateway's default is DefaultContextMessages
	// (CONTEXT_MESSAGES).
	ContextMessages int
	// Logger receives the service's logs. Default slog.Default().
	Logger *slog.Logger
	// LeaseTTL is how long a replica may hold an agent's reply lease without
	// renewing it: after a crash, the agent answers again within about
	// twice this time (the lease expires, then a sweep finds the message).
	// Default DefaultLeaseTTL.
	LeaseTTL time.Duration
	// ReplyTimeout bounds one call of the Responder. Default 60s.
	ReplyTimeout time.Duration
	// MaxTextBytes is the longest message text accepted. Default
	// DefaultMaxTextBytes.
	MaxTextBytes int
	// MaxReplyBytes caps one step of a reply (one call of the
	// responder): the bytes of its text, tool call names, arguments and
	// results together, as the responder streams them. Past it the stream
	// refuses more (responder.ErrReplyTooLarge), and the step is kept with
	// what fitted and finish reason length, which ends the run. It bounds
	// what a step holds in memory, in the engine's run progress and in the
	// log, whatever the upstream sends. Default 1 MiB.
	MaxReplyBytes int
	// MaxContextBytes is the byte budget of the conversation a responder
	// gets with a message (see conversation): the oldest messages are left
	// out first, and a single message larger than the budget is cut with a
	// marker. Default 1 MiB.
	MaxContextBytes int
	// ReleaseMemory, if set, is called by the replier after a large run
	// (largeRun bytes or more written), once its reply is appended: the
	// server returns the run's garbage to the OS there (gctune.Releaser).
	// Default none.
	ReleaseMemory func()
	// PollInterval is how often a waiting SendMessage, or a door following
	// a reply, looks at the log itself, a backstop for fan-out lost in a
	// store outage. Default 2s.
	PollInterval time.Duration
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Redact takes the gateway's secrets out of a run error's code and
	// message before it is persisted and sent to every client, whichever
	// responder gave them: an upstream may echo a credential it was sent.
	// Default: the text as it is.
	Redact func(string) string

	// Tools are the sources of server tools: the gateway offers their
	// tools to the model at every step and runs the calls itself. A name
	// two sources offer is the first one's. A client tool may not have a
	// name a source offers or owns (tool.Owner). Default none.
	Tools []tool.Source
	// ClientTools are CLIENT_TOOLS: client tools every message lends, as
	// if it sent them (a message's own of the same name replaces one).
	// They must pass ValidateDef. Default none.
	ClientTools []tool.Def
	// ToolApproval is TOOL_APPROVAL: the server tools whose calls wait for
	// a person's decision (DecideToolCall), by name, or "*" for all.
	// Default none.
	ToolApproval []string
	// MaxSteps is MAX_STEPS: how many times a run may call the responder.
	// The last step's tool calls are not run, and the run ends with
	// finish reason max_steps. Default DefaultMaxSteps.
	MaxSteps int
	// ToolTimeout is TOOL_TIMEOUT: the bound on one call of a server tool.
	// Default tool.DefaultTimeout (60s).
	ToolTimeout time.Duration
	// ToolResultMaxBytes is TOOL_RESULT_MAX_BYTES: a server tool's result
	// is cut to it, with a marker; a client's longer result is refused.
	// Default tool.DefaultMaxResultBytes (64 KiB).
	ToolResultMaxBytes int
	// ContextTokens is CONTEXT_TOKENS: the most tokens of context a step
	// sends the responder, estimated as a quarter of the bytes of the
	// conversation, the message, the run so far and the tools' schemas.
	// 0 bounds nothing beyond MaxContextBytes.
	ContextTokens int
	// OnToolCall, if set, is told of every call of a server tool the
	// gateway ran, when it ends, for metrics and the call's log line. It
	// must return quickly.
	OnToolCall func(ToolCallDone)
}

// ToolCallDone describes a call of a server tool that ended: never its
// arguments or its result.
type ToolCallDone struct {
	// Source is the tool's source (nil for a name no source offers or
	// owns); Tool its name as offered.
	Source tool.Source
	Tool   string
	// Call names the agent, the run and the call.
	Call tool.CallInfo
	// Outcome is ok, tool_error, timeout, cancelled, failed, or
	// unknown_tool for a tool no longer offered: the outcomes of the MCP
	// source's calls, so that one set of words counts every call.
	Outcome  string
	Duration time.Duration
}

// DefaultMaxSteps is the default of Config.MaxSteps (MAX_STEPS). Ten
// steps let a model look something up a few times and act, and stop one
// that loops before it costs much. Those of Config.ToolTimeout and
// Config.ToolResultMaxBytes are tool.DefaultTimeout and
// tool.DefaultMaxResultBytes, which the MCP source applies too.
const DefaultMaxSteps = 10

// The defaults of Config.LeaseTTL and CONTEXT_MESSAGES (LEASE_TTL's too).
// Ten seconds of lease bound how long an agent stays silent after its
// replica died, at one renewal every few seconds while a reply is written;
// fifty messages are twenty-five exchanges, the recent conversation of a
// chat without its whole history.
const (
	DefaultLeaseTTL        = 10 * time.Second
	DefaultContextMessages = 50
)

// The defaults of Config.ReplyTimeout (REPLY_TIMEOUT) and
// Config.MaxTextBytes (MAX_TEXT_BYTES): a minute is longer than a model
// takes to stream a long answer, and 16 KiB is a long message for a person
// to type, or a page pasted in.
const (
	DefaultReplyTimeout = 60 * time.Second
	DefaultMaxTextBytes = 16384
)

func (c Config) withDefaults() Config {
	if c.Responder == nil {
		c.Responder = responder.Echo{}
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.LeaseTTL <= 0 {
		c.LeaseTTL = DefaultLeaseTTL
	}
	if c.ReplyTimeout <= 0 {
		c.ReplyTimeout = DefaultReplyTimeout
	}
	if c.MaxTextBytes <= 0 {
		c.MaxTextBytes = DefaultMaxTextBytes
	}
	if c.MaxReplyBytes <= 0 {
		c.MaxReplyBytes = DefaultMaxReplyBytes
	}
	if c.MaxContextBytes <= 0 {
		c.MaxContextBytes = DefaultMaxContextBytes
	}
	if c.PollInterval <= 0 {
		c.PollInterval = 2 * time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Redact == nil {
		c.Redact = func(s string) string { return s }
	}
	if c.MaxSteps <= 0 {
		c.MaxSteps = DefaultMaxSteps
	}
	if c.ToolTimeout <= 0 {
		c.ToolTimeout = tool.DefaultTimeout
	}
	if c.ToolResultMaxBytes <= 0 {
		c.ToolResultMaxBytes = tool.DefaultMaxResultBytes
	}
	if c.OnToolCall == nil {
		c.OnToolCall = func(ToolCallDone) {}
	}
	return c
}

// The defaults of Config.MaxReplyBytes and Config.MaxContextBytes. A MiB
// is sixteen times the longest reply today's models write in one turn
// (16k tokens of about four bytes), room for tool call arguments that carry
// whole files, while ten thousand replies at the cap still fit in a few
// GB. The conversation gets the same budget: about 250k tokens, beyond the
// window of most models, and no more than one reply at the cap.
const (
	DefaultMaxReplyBytes   = 1 << 20
	DefaultMaxContextBytes = 1 << 20
)

// largeRun is how many bytes a run writes before Config.ReleaseMemory is
// worth calling after it: a reply of 256 KiB streamed in small deltas has
// left some tens of MB of heap behind, a chat reply of a few KB nothing to
// speak of.
const largeRun = 256 << 10

// Service is the agent service. It is safe for concurrent use. Close it to
// stop its repliers and its sweep.
type Service struct {
	cfg Config
	log engine.Log
	// The other parts of the engine, each where it is used: the leases
	// by the repliers, the runs by followers and repliers, the broker by
	// followers and the repliers' cancel listeners.
	leases engine.Leases
	runs   engine.Runs
	broker engine.Broker
	store  engine.Store
	// claim is what an append or a reply asks of the lease (see
	// engine.Claim): the lease time, and the events the conversation
	// needs, so that the work comes with them.
	claim engine.Claim
	// contextMessages is how much of the conversation the responder gets:
	// Config.ContextMessages, or less if the responder says it needs less.
	contextMessages int
	logger          *slog.Logger

	// ctx lives as long as the Service; repliers run under it.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	repliers map[string]*replier // agents with a replier in this process
	closed   bool
}

// New returns a Service, and starts its sweep for waiting messages.
func New(cfg Config) *Service {
	cfg = cfg.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	n := max(cfg.ContextMessages, 0)
	if l, ok := cfg.Responder.(responder.HistoryLimiter); ok {
		n = min(n, max(l.HistoryLimit(), 0))
	}
	s := &Service{
		cfg:             cfg,
		log:             cfg.Engine,
		leases:          cfg.Engine,
		runs:            cfg.Engine,
		broker:          cfg.Engine,
		store:           cfg.Engine,
		claim:           engine.Claim{TTL: cfg.LeaseTTL, Context: 2 * n},
		contextMessages: n,
		logger:          cfg.Logger,
		ctx:             ctx,
		cancel:          cancel,
		repliers:        make(map[string]*replier),
	}
	s.wg.Add(1)
	go s.sweep()
	return s
}

// Close stops the repliers and the sweep and waits for them. Replies in
// progress are abandoned and their leases released; their messages are
// answered by the next replica that finds them (its sweep). Close does not
// close the engine.
func (s *Service) Close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	// A responder that ignores its context must not hold the process past
	// its shutdown deadline.
	t := time.NewTimer(closeWait)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		s.logger.Warn("repliers still running at exit", logattr.Millis("waited_ms", closeWait))
	}
	s.retireAll()
}

// retireAll retires every replier once the service closed: an idle one
// lets go of its cancel listener now, one still answering when it is done.
func (s *Service) retireAll() {
	s.mu.Lock()
	var idle []*replier
	for id, r := range s.repliers {
		delete(s.repliers, id)
		r.retired = true
		r.idle.Stop()
		if !r.busy {
			idle = append(idle, r)
		}
	}
	s.mu.Unlock()
	for _, r := range idle {
		r.quiet()
	}
}

// closeWait bounds how long Close waits for repliers once cancelled.
const closeWait = 2 * time.Second

// Enqueue appends a user message and returns at once; the reply arrives as
// events. Converse uses it, since its client reads the events anyway.
// tools are the client tools the message lends (see ValidateTools).
func (s *Service) Enqueue(ctx context.Context, agentID, text, clientMessageID string, tools ...tool.Def) (*agentv1.AgentEvent, bool, error) {
	ev, err := s.validateSend(ctx, agentID, text, clientMessageID, tools)
	if err != nil {
		return nil, false, err
	}
	res, err := s.enqueue(ctx, agentID, ev, clientMessageID)
	return res.Event, res.Duplicate, err
}

// enqueue appends a user message, taking the agent's lease with it when it
// is free: then the replier here answers.
func (s *Service) enqueue(ctx context.Context, agentID string, ev *agentv1.AgentEvent, clientMessageID string) (engine.Appended, error) {
	res, err := s.log.AppendUser(ctx, agentID, ev,
		engine.AppendOptions{IdempotencyKey: clientMessageID, Claim: s.claim})
	if err != nil {
		return engine.Appended{}, s.engineError(ctx, "append message", err)
	}
	if res.Work != nil {
		s.hand(agentID, res.Work)
	}
	return res, nil
}

// validateSend checks a message to send and returns it as the event to
// append.
func (s *Service) validateSend(ctx context.Context, agentID, text, clientMessageID string, tools []tool.Def) (*agentv1.AgentEvent, error) {
	if err := ValidateID(agentID); err != nil {
		return nil, err
	}
	switch {
	case text == "":
		return nil, invalidf("text is required")
	case len(text) > s.cfg.MaxTextBytes:
		return nil, invalidf("text is %d bytes long; the limit is %d", len(text), s.cfg.MaxTextBytes)
	case !utf8.ValidString(text):
		return nil, invalidf("text is not valid UTF-8")
	case len(clientMessageID) > MaxIDLen:
		return nil, invalidf("client_message_id is %d characters long; the limit is %d", len(clientMessageID), MaxIDLen)
	}
	if err := s.ValidateTools(ctx, tools); err != nil {
		return nil, err
	}
	ev := s.userEvent(text, clientMessageID)
	if len(tools) > 0 {
		protos, err := toolProtos(tools)
		if err != nil {
			return nil, err
		}
		ev.GetMessage().Tools = protos
	}
	return ev, nil
}

func (s *Service) userEvent(text, clientMessageID string) *agentv1.AgentEvent {
	return &agentv1.AgentEvent{
		CreateTime: timestamppb.New(s.cfg.Now()),
		Kind: &agentv1.AgentEvent_Message{Message: &agentv1.Message{
			MessageId:       newID(),
			Role:            agentv1.Role_ROLE_USER,
			Text:            text,
			ClientMessageId: clientMessageID,
		}},
	}
}

// HistoryPage is a page of an agent's persisted events.
type HistoryPage struct {
	Events   []*agentv1.AgentEvent
	FirstSeq uint64
	LastSeq  uint64
	HasMore  bool
	Epoch    string
}

// MaxPage is the largest page History and List return.
const MaxPage = 1000

// History returns up to limit (default 100, at most MaxPage) persisted events
// with seq > after.
func (s *Service) History(ctx context.Context, agentID string, after uint64, limit int) (HistoryPage, error) {
	if err := ValidateID(agentID); err != nil {
		return HistoryPage{}, err
	}
	limit, err := pageSize("limit", limit)
	if err != nil {
		return HistoryPage{}, err
	}
	p, err := s.log.Read(ctx, agentID, after, limit)
	if err != nil {
		return HistoryPage{}, s.engineError(ctx, "read history", err)
	}
	hp := HistoryPage{Events: p.Events, FirstSeq: p.FirstSeq, LastSeq: p.LastSeq, Epoch: p.Epoch}
	if n := len(p.Events); n > 0 {
		hp.HasMore = p.Events[n-1].GetSeq() < p.LastSeq
	}
	return hp, nil
}

// Get describes an agent.
func (s *Service) Get(ctx context.Context, agentID string) (engine.Stat, error) {
	if err := ValidateID(agentID); err != nil {
		return engine.Stat{}, err
	}
	st, err := s.log.Stat(ctx, agentID)
	if errors.Is(err, engine.ErrNotFound) {
		return engine.Stat{}, &Error{Kind: KindNotFound, Msg: fmt.Sprintf("agent %q does not exist: send it a message to create it", agentID)}
	}
	if err != nil {
		return engine.Stat{}, s.engineError(ctx, "stat agent", err)
	}
	return st, nil
}

// Reach is which agents a listing shows its caller: ListAgents shows a
// user only the agents it reaches. identity.Identity is one.
type Reach interface {
	// Reaches reports whether the listing shows agentID.
	Reaches(agentID string) bool
	// Skip returns where the listing goes on after pos: a position p ≥
	// pos such that no agent the caller reaches sorts after pos and at or
	// before p, or ok false when it reaches none after pos. p must tell
	// nothing of the agents the caller does not reach: it becomes a page
	// token when a page ends on it.
	Skip(pos string) (p string, ok bool)
}

// everyAgent is the Reach of a caller that sees every agent.
type everyAgent struct{}

func (everyAgent) Reaches(string) bool            { return true }
func (everyAgent) Skip(pos string) (string, bool) { return pos, true }

// maxListReads bounds the reads of the log one List makes.
const maxListReads = 16

// List returns up to size (default 100, at most MaxPage) of the agents
// that reach shows (nil: every agent) with ids greater than after, and
// the page token to continue after, empty on the last page.
//
// The caller's filter applies before the paging, so that neither a page
// nor its token tells of an agent the caller does not reach: List reads
// the log on, jumping over what the caller cannot reach (Reach.Skip),
// until the page is full, and the token is the last agent shown. The work
// is bounded: at most maxListReads reads of the log, each of at most
// size+1 agents (each read shows an agent or passes one of the caller's
// patterns). A page that reaches the bound first is shorter than size,
// perhaps empty, and its token is the last agent shown or, with none, the
// position Reach.Skip gave, before the caller's next pattern.
//
// A page token is a position in the order of agent ids, not always an
// agent id: a string of at most MaxIDLen agent id characters.
func (s *Service) List(ctx context.Context, after string, size int, reach Reach) ([]engine.Stat, string, error) {
	if len(after) > MaxIDLen || !agentid.OfChars(after) {
		return nil, "", invalidf("page_token is not one this server returned")
	}
	size, err := pageSize("page_size", size)
	if err != nil {
		return nil, "", err
	}
	if reach == nil {
		reach = everyAgent{}
	}
	shown := make([]engine.Stat, 0, min(size+1, 100))
	pos := after
	for range maxListReads {
		from, ok := reach.Skip(pos)
		if !ok {
			return shown, "", nil
		}
		// One more than asked tells whether another page follows.
		stats, err := s.log.List(ctx, from, size+1)
		if err != nil {
			return nil, "", s.engineError(ctx, "list agents", err)
		}
		for _, st := range stats {
			pos = st.AgentID
			if !reach.Reaches(pos) {
				continue
			}
			if len(shown) == size {
				return shown, shown[size-1].AgentID, nil
			}
			shown = append(shown, st)
		}
		if len(stats) <= size {
			return shown, "", nil
		}
	}
	if n := len(shown); n > 0 {
		return shown, shown[n-1].AgentID, nil
	}
	next, ok := reach.Skip(pos)
	if !ok {
		return shown, "", nil
	}
	return shown, next, nil
}

// Delete removes an agent and its history.
func (s *Service) Delete(ctx context.Context, agentID string) error {
	if err := ValidateID(agentID); err != nil {
		return err
	}
	err := s.log.Delete(ctx, agentID)
	if errors.Is(err, engine.ErrNotFound) {
		return &Error{Kind: KindNotFound, Msg: fmt.Sprintf("agent %q does not exist", agentID)}
	}
	if err != nil {
		return s.engineError(ctx, "delete agent", err)
	}
	return nil
}

// Cancel stops the reply being written to the agent, on whichever replica
// writes it; the step is persisted with what was written and finish reason
// cancelled. A run paused for answers is closed instead: its pending calls
// get results saying it was cancelled, then the run ends. runID, if not
// empty, must be that run. It returns the id of the run asked to stop.
func (s *Service) Cancel(ctx context.Context, agentID, runID string) (string, error) {
	if err := ValidateID(agentID); err != nil {
		return "", err
	}
	if len(runID) > MaxIDLen {
		return "", invalidf("run_id is %d characters long; the limit is %d", len(runID), MaxIDLen)
	}
	id, err := s.runs.CancelRun(ctx, agentID, runID)
	switch {
	case errors.Is(err, engine.ErrNoRun) && runID != "":
		return "", &Error{Kind: KindFailedPrecondition, Msg: fmt.Sprintf("run %q is not the reply agent %q is writing; nothing was cancelled", runID, agentID)}
	case errors.Is(err, engine.ErrNoRun):
		return "", &Error{Kind: KindFailedPrecondition, Msg: fmt.Sprintf("agent %q is not writing a reply, and no run of it is paused; nothing was cancelled", agentID)}
	case err != nil:
		return "", s.engineError(ctx, "cancel run", err)
	}
	return id, nil
}

// Ready reports whether the service can do work now: its engine answers.
func (s *Service) Ready(ctx context.Context) error {
	return s.store.Ping(ctx)
}

func pageSize(field string, n int) (int, error) {
	switch {
	case n == 0:
		return 100, nil
	case n < 0 || n > MaxPage:
		return 0, invalidf("%s must be between 1 and %d (0 means 100); got %d", field, MaxPage, n)
	}
	return n, nil
}

// engineError turns an engine failure into an Error for the client: the
// caller's own cancellation and deadline come first, a store outage is
// unavailable, anything else internal (and logged, since the client is not
// told the cause).
func (s *Service) engineError(ctx context.Context, op string, err error) error {
	switch {
	case ctx.Err() != nil && errors.Is(err, ctx.Err()):
		return ctxError(ctx)
	case errors.Is(err, context.DeadlineExceeded):
		return &Error{Kind: KindDeadlineExceeded, Msg: "deadline exceeded", Err: err}
	case errors.Is(err, engine.ErrUnavailable), errors.Is(err, engine.ErrClosed):
		return &Error{Kind: KindUnavailable, Msg: "the agent store is unavailable; retry shortly", Err: err}
	}
	s.logger.Error("engine failure", "op", op, "err", err)
	return &Error{Kind: KindInternal, Msg: "internal error", Err: err}
}

func ctxError(ctx context.Context) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return &Error{Kind: KindDeadlineExceeded, Msg: "deadline exceeded", Err: ctx.Err()}
	}
	return &Error{Kind: KindCanceled, Msg: "canceled", Err: ctx.Err()}
}

// newID returns a random, URL-safe id for messages and runs. 128 bits of
// randomness make ids unique across replicas without coordination.
func newID() string { return rand.Text() }
