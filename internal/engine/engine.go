// Package engine stores agents' event logs and fans their events out to
// subscribers. The agent service is written against the Engine interface only,
// so where the logs live (process memory, Redis) is a deployment choice.
//
// Every implementation passes the same contract tests (enginetest): the
// guarantees below are the ones the agent service relies on.
package engine

import (
	"context"
	"crypto/rand"
	"errors"
	"time"

	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
)

// Errors returned by engines. Callers compare with errors.Is.
var (
	// ErrNotFound: the agent has no log (never used, or deleted).
	ErrNotFound = errors.New("engine: agent not found")
	// ErrLeaseLost: the caller's reply lease expired or was taken over, so the
	// reply was not appended. Another replica answers the message instead.
	ErrLeaseLost = errors.New("engine: reply lease lost")
	// ErrAlreadyAnswered: the user message was answered already.
	ErrAlreadyAnswered = errors.New("engine: message already answered")
	// ErrUnavailable: the backing store cannot be reached. Wrapped with the
	// underlying cause.
	ErrUnavailable = errors.New("engine: unavailable")
	// ErrOverflow: a subscription was dropped because its consumer did not keep
	// up. The consumer can resume from the last seq it saw.
	ErrOverflow = errors.New("engine: subscriber too slow")
	// ErrDeleted: a subscription ended because its agent was deleted.
	ErrDeleted = errors.New("engine: agent deleted")
	// ErrClosed: the engine was closed.
	ErrClosed = errors.New("engine: closed")
	// ErrNoRun: CancelRun found no active run, or another run than the one
	// named.
	ErrNoRun = errors.New("engine: no such active run")
)

// Engine holds agents' event logs, the idempotency keys of their messages, a
// reply lease per agent, and the fan-out of live events.
//
// All methods are safe for concurrent use. Events passed in are not modified
// and must not be modified by the caller afterwards; events returned or
// delivered are shared and must be treated as read-only.
type Engine interface {
	// AppendUser appends a user message to the agent's log, creating the agent
	// on first use, and assigns it the next seq. If idemKey is not empty and an
	// earlier message of this agent used it, nothing is appended and that
	// earlier event is returned with duplicate true. The appended event is
	// delivered to subscribers before AppendUser returns.
	AppendUser(ctx context.Context, agentID string, ev *agentv1.AgentEvent, idemKey string) (stored *agentv1.AgentEvent, duplicate bool, err error)

	// AppendReply appends the answer (an assistant message or a run error) to
	// the user message at seq answers. It succeeds only while lease is still
	// the agent's current reply lease (ErrLeaseLost otherwise) and only if
	// answers is greater than every seq answered so far
	// (ErrAlreadyAnswered otherwise). It advances Stat.Answered to answers.
	AppendReply(ctx context.Context, agentID string, ev *agentv1.AgentEvent, answers uint64, lease Lease) (*agentv1.AgentEvent, error)

	// PublishRun delivers an ephemeral event (seq 0) of the run being
	// written under lease (a run_started, text_delta or tool call event)
	// to the agent's subscribers on every replica, without storing it in
	// the log. It may return before the event is delivered, but what the
	// caller appends or publishes afterwards reaches subscribers after it.
	//
	// It also records the event as the agent's run progress, which Run
	// returns: a run_started begins the progress anew if lease is held,
	// and the run's later events are added to it. The progress is gone
	// once AppendReply appends a reply, or when the lease expires, so a
	// run whose writer died is not shown for long. An event published
	// without the lease is delivered all the same, and not recorded.
	PublishRun(ctx context.Context, lease Lease, ev *agentv1.AgentEvent) error

	// Run returns the agent's active run so far, compacted; none if no
	// reply is being written. It starts with the run's run_started; then
	// comes at most one text_delta holding all the text published so far,
	// whose run_seq is that of the newest text delta folded into it; then
	// the tool call events in order, where the tool_call_args of one call
	// are folded likewise into one event carrying the newest folded
	// run_seq. So the progress costs the bytes written, not an event per
	// delta. Subscribe first, then call Run: each live event of the run
	// either is in what Run returned (its run_seq is at most the greatest
	// returned) or arrives after it with a greater run_seq.
	Run(ctx context.Context, agentID string) ([]*agentv1.AgentEvent, error)

	// CancelRun asks whichever replica writes the agent's active run to
	// stop it: the listeners of SubscribeCancels, on every replica, are
	// called with the run's id. If runID is not empty it must be the
	// active run. It returns the id of the run asked to stop, or ErrNoRun.
	CancelRun(ctx context.Context, agentID, runID string) (string, error)

	// Read returns up to limit persisted events with seq > after, in seq
	// order, with the log's bounds. A limit of 0 reads the bounds only. An
	// unknown agent gives an empty Page and no error.
	Read(ctx context.Context, agentID string, after uint64, limit int) (Page, error)

	// Subscribe starts delivering the agent's live events, persisted and
	// ephemeral, in the order they were appended or published. Events
	// appended before Subscribe returns are not delivered: read them with
	// Read. Subscribing does not create the agent.
	Subscribe(ctx context.Context, agentID string, opts SubscribeOptions) (Subscription, error)

	// SubscribeCancels starts hearing CancelRun for the agent, on every
	// replica: onCancel is called with the id of the run asked to stop. It
	// must not block. The subscription queues no events and is not counted
	// in Stat.Subscribers; it ends as any subscription does (ErrDeleted
	// when the agent is deleted, ErrClosed, ErrUnavailable), which Notify
	// and Err tell. The reply worker holds one while it writes.
	SubscribeCancels(ctx context.Context, agentID string, onCancel func(runID string)) (Subscription, error)

	// Stat describes the agent, or returns ErrNotFound.
	Stat(ctx context.Context, agentID string) (Stat, error)

	// List returns up to limit agents with ids greater than after, ordered by
	// id.
	List(ctx context.Context, after string, limit int) ([]Stat, error)

	// Delete removes the agent's log, idempotency keys and lease, and ends
	// its subscriptions with ErrDeleted. It returns ErrNotFound if the agent
	// has no log.
	Delete(ctx context.Context, agentID string) error

	// AcquireLease tries to take the agent's reply lease for ttl. It returns
	// ok false, without error, while another holder's lease is current.
	AcquireLease(ctx context.Context, agentID string, ttl time.Duration) (lease Lease, ok bool, err error)

	// RenewLease extends a lease the caller holds, or returns ErrLeaseLost.
	RenewLease(ctx context.Context, lease Lease, ttl time.Duration) error

	// ReleaseLease gives a lease up early; releasing a lost lease is a no-op.
	ReleaseLease(ctx context.Context, lease Lease) error

	// Ping reports whether the engine can serve requests now. Readiness
	// follows it.
	Ping(ctx context.Context) error

	// Close stops the engine: subscriptions end with ErrClosed and later calls
	// fail. It is idempotent.
	Close() error
}

// Lease is a held reply lease: the right to append replies to one agent until
// it expires. Token tells holders apart (fencing), so that a replica whose
// lease expired cannot append a duplicate reply.
type Lease struct {
	AgentID string
	Token   string
}

// Page is a slice of an agent's log and the log's bounds at the time of the
// read.
type Page struct {
	// Events with seq > after, in order, at most limit of them.
	Events []*agentv1.AgentEvent
	// FirstSeq is the oldest retained seq, 0 if the log is empty.
	FirstSeq uint64
	// LastSeq is the newest seq, 0 if the log is empty.
	LastSeq uint64
	// Answered is the seq of the newest user message that has an answer.
	Answered uint64
	// Epoch is the log's epoch, empty if the agent has no log.
	Epoch string
}

// Stat describes an agent.
type Stat struct {
	AgentID  string
	FirstSeq uint64
	LastSeq  uint64
	// Answered is the seq of the newest user message that has an answer; user
	// messages with a greater seq are waiting for the reply lease holder.
	Answered uint64
	// Subscribers counts live subscriptions on all replicas.
	Subscribers int64
	Created     time.Time
	LastActive  time.Time
	// Epoch is the log's epoch: a random id given to the log when it was
	// created, and so new after Delete or after the store lost the agent.
	Epoch string
}

// SubscribeOptions tunes one subscription.
type SubscribeOptions struct {
	// Internal subscriptions (the service's own bookkeeping) are not counted
	// in Stat.Subscribers, which reports client connections.
	Internal bool
	// SkipDeltas leaves text deltas out of the subscription: they are
	// never queued, so that a subscriber that shows whole replies only is
	// not woken, and takes no buffer room, for them.
	SkipDeltas bool
}

// Subscription is a live feed of one agent's events.
//
// Events wait in a Queue, in order. The engine never blocks on a subscriber:
// when the queue holds Config.SubscriberBuffer events the subscription is
// dropped and Err returns ErrOverflow. It also ends when the agent is deleted
// (ErrDeleted), the engine closes (ErrClosed), or the store fails
// (ErrUnavailable). Persisted events may be missing after a store outage;
// consumers detect the gap from the seq and fill it with Read.
//
// The consumer waits on Ready, takes events with Next until it returns false,
// then checks Err.
type Subscription interface {
	// Ready has a value, or is closed, when events wait or the subscription
	// ended.
	Ready() <-chan struct{}
	// Next takes the oldest waiting event; ok is false when none waits.
	Next() (ev *agentv1.AgentEvent, ok bool)
	// Err is why the subscription ended, once every queued event was taken;
	// nil while it runs. After Close it stays nil.
	Err() error
	// Close ends the subscription. It is idempotent.
	Close()
	// Notify sets f to be called, without blocking, whenever Ready becomes
	// ready, and at once if it is: a consumer can be told instead of
	// parking a goroutine on Ready. As with Ready, one call may stand for a
	// burst of events: the consumer receives from Ready, then takes events
	// with Next until none is left, and is called again for the next ones.
	Notify(f func())
}

// RunID is the run an event belongs to, empty if none.
func RunID(ev *agentv1.AgentEvent) string {
	switch k := ev.GetKind().(type) {
	case *agentv1.AgentEvent_RunStarted:
		return k.RunStarted.GetRunId()
	case *agentv1.AgentEvent_TextDelta:
		return k.TextDelta.GetRunId()
	case *agentv1.AgentEvent_ToolCallStart:
		return k.ToolCallStart.GetRunId()
	case *agentv1.AgentEvent_ToolCallArgs:
		return k.ToolCallArgs.GetRunId()
	case *agentv1.AgentEvent_ToolCallEnd:
		return k.ToolCallEnd.GetRunId()
	case *agentv1.AgentEvent_ToolCallResult:
		return k.ToolCallResult.GetRunId()
	case *agentv1.AgentEvent_Message:
		return k.Message.GetRunId()
	case *agentv1.AgentEvent_RunError:
		return k.RunError.GetRunId()
	}
	return ""
}

// NewEpoch returns a fresh log epoch: 128 random bits, so that two logs of
// one agent never share one, whichever replica created them.
func NewEpoch() string { return rand.Text() }

// Config holds the settings every engine shares.
type Config struct {
	// HistoryLimit is how many persisted events each agent keeps; older ones
	// are trimmed. Default 1000.
	HistoryLimit int
	// SubscriberBuffer is how many events may wait for one subscriber before
	// it is dropped (see Queue: the memory is taken only while they wait).
	// Default 1024.
	SubscriberBuffer int
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// WithDefaults returns c with zero fields set to their defaults.
func (c Config) WithDefaults() Config {
	if c.HistoryLimit <= 0 {
		c.HistoryLimit = 1000
	}
	if c.SubscriberBuffer <= 0 {
		c.SubscriberBuffer = 1024
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}
