// Package engine stores agents' event logs and fans their events out to
// subscribers. The agent service is written against its interfaces only, so
// where the logs live (process memory, Redis) is a deployment choice.
//
// An Engine is four small parts over one store: the Log (appends, reads,
// stats, deletion), the Leases (one writer per agent, and the agents whose
// messages wait with nobody answering), the Runs (the progress of the reply
// being written, its cancellation, and the answers a paused run waits for)
// and the Broker (live events to subscriptions, through one local fan-out,
// localSubs, under both engines).
//
// # Runs that pause
//
// A run answers one user message in steps, each appended under the lease
// (AppendRun). A step that waits for answers (a client's tool result, a
// person's decision) pauses the run: the message counts as answered, the
// lease is settled, and the store keeps what the run waits for (Pending).
// Each answer is appended by AnswerCall, on any replica, which checks in
// the same step that it is awaited, once; the last one makes the run
// resumable: the agent is due again, and the caller takes the lease with
// the work if it is free. Whoever holds the lease next sees the run in its
// Work (Page.Resume) before any later message, and the append that ends
// or pauses the run again clears it: so a paused run goes on exactly once,
// also when the replica that paused it is gone. A user message appended
// while a run is paused closes it in the same step (the closing events
// were given with the pause), and so does CancelRun.
// The memory engine serves one process; the Redis engine any number of
// replicas, with its multi-step changes as Lua scripts (lua/*.lua).
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
	// ErrNotPending: AnswerCall found nothing pending under the key: the
	// call was answered, closed, never paused a run, or is unknown.
	ErrNotPending = errors.New("engine: nothing pending under this key")
	// ErrAwaitsResult and ErrAwaitsDecision: AnswerCall was given the other
	// kind of answer than the one pending.
	ErrAwaitsResult   = errors.New("engine: the call waits for a result, not a decision")
	ErrAwaitsDecision = errors.New("engine: the call waits for a decision, not a result")
	// ErrApprovalMismatch: a decision named another approval than the one
	// pending.
	ErrApprovalMismatch = errors.New("engine: the approval id is not the pending request's")
)

// Engine is a whole store: every part below, over one backing store, and
// its lifecycle. The parts are small on purpose, in the manner of
// centrifuge's Broker and PresenceManager, so that each user names the
// part it needs: the agent service's follower reads the Log and the Runs
// and subscribes through the Broker, its replier writes through all four,
// and the metrics wrap each part they count (see Parts).
//
// All methods are safe for concurrent use. Events passed in are not
// modified and must not be modified by the caller afterwards; events
// returned or delivered are shared and must be treated as read-only.
type Engine interface {
	Log
	Leases
	Runs
	Broker
	Store
}

// Store is what an engine's backing store as a whole answers.
type Store interface {
	// Ping reports whether the engine can serve requests now. Readiness
	// follows it.
	Ping(ctx context.Context) error

	// Close stops the engine: subscriptions end with ErrClosed and later calls
	// fail. It is idempotent.
	Close() error
}

// Log holds the agents' ordered event logs and the idempotency keys of
// their messages. Appending is also where a user message meets the reply
// lease (AppendOptions.Claim) and a reply hands its writer the next
// message (AppendReply's next): folded into the append, taking the lease
// and reading what waits cost no round trip of their own.
type Log interface {
	// AppendUser appends a user message to the agent's log, creating the
	// agent on first use, and assigns it the next seq. If the agent's run
	// is paused, it is closed first, in the same step: the events given
	// for that (Pending.MovedOn, RunAppend.Closing) are appended before the
	// message. If
	// opts.IdempotencyKey is not empty and an earlier message of this agent
	// used it, nothing is appended and that earlier event is returned with
	// Duplicate set. The appended event is delivered to subscribers before
	// AppendUser returns.
	//
	// The message waits for a reply from then on (see Leases.Due). If
	// opts.Claim has a TTL and the agent's reply lease is free, the
	// append takes it for the caller and returns the Work: the caller
	// must answer (or release) it. A duplicate takes nothing.
	AppendUser(ctx context.Context, agentID string, ev *agentv1.AgentEvent, opts AppendOptions) (Appended, error)

	// AppendReply appends the answer (an assistant message or a run error)
	// to the user message at seq answers. It succeeds only while lease is
	// still the agent's current reply lease (ErrLeaseLost otherwise) and
	// only if answers is greater than every seq answered so far
	// (ErrAlreadyAnswered otherwise). It advances Stat.Answered to answers
	// and ends the run's progress (see Runs).
	//
	// Then it settles the lease as Leases.Settle does, in the same step: if
	// next has a TTL, a user message after answers that waits keeps the
	// lease (for next.TTL) and comes back as Appended.Work, and with none
	// waiting the lease is released. With a zero next the lease is left as
	// it is.
	AppendReply(ctx context.Context, agentID string, ev *agentv1.AgentEvent, answers uint64, lease Lease, next Claim) (Appended, error)

	// AppendRun appends evs, events of the run that answers the user
	// message at opts.Answers, in order, under opts.Lease (ErrLeaseLost
	// otherwise), if that message is not answered yet or its run is the
	// one to resume (Page.Resume); otherwise ErrAlreadyAnswered. It ends
	// the run's progress. What else it does is opts.End's: RunGoesOn
	// nothing more; RunEnds what AppendReply does; RunPauses that too, and
	// the store keeps opts.Pending, what the run waits for, until
	// AnswerCall answers each, or a user message or CancelRun closes the
	// run. If a newer user message waits already, a run that would pause
	// is closed at once (RunAppended.Closed): the user moved on.
	// AppendReply is AppendRun of one event that ends the run.
	AppendRun(ctx context.Context, agentID string, evs []*agentv1.AgentEvent, opts RunAppend) (RunAppended, error)

	// Read returns up to limit persisted events with seq > after, in seq
	// order, with the log's bounds. A limit of 0 reads the bounds only. An
	// unknown agent gives an empty Page and no error.
	Read(ctx context.Context, agentID string, after uint64, limit int) (Page, error)

	// Stat describes the agent, or returns ErrNotFound.
	Stat(ctx context.Context, agentID string) (Stat, error)

	// List returns up to limit agents with ids greater than after, ordered by
	// id.
	List(ctx context.Context, after string, limit int) ([]Stat, error)

	// Delete removes the agent's log, idempotency keys, lease, run progress
	// and waiting work, and ends its subscriptions with ErrDeleted. It
	// returns ErrNotFound if the agent has no log.
	Delete(ctx context.Context, agentID string) error
}

// Leases hold each agent's reply lease, the right to append its replies,
// so that one replica at a time answers an agent, and know which agents'
// messages wait with nobody answering them.
type Leases interface {
	// AcquireLease tries to take the agent's reply lease for ttl. It
	// returns ok false, without error, while another holder's lease is
	// current.
	AcquireLease(ctx context.Context, agentID string, ttl time.Duration) (lease Lease, ok bool, err error)

	// RenewLease extends a lease the caller holds, or returns ErrLeaseLost.
	RenewLease(ctx context.Context, lease Lease, ttl time.Duration) error

	// ReleaseLease gives a lease up without settling it: the messages
	// that wait stay due (see Due). Releasing a lost lease is a no-op.
	ReleaseLease(ctx context.Context, lease Lease) error

	// Settle is what the holder of lease calls when it found nothing to
	// answer in the log up to seq seen: if a user message after seen (and
	// after the answered ones) waits, the lease is kept for next.TTL and
	// the Work returned; otherwise the lease is released and the agent is
	// no longer due. It returns ErrLeaseLost if lease is not the agent's.
	// A lease is never given up while a message waits that its holder has
	// not seen, so an append that found the lease held is always answered.
	Settle(ctx context.Context, lease Lease, seen uint64, next Claim) (*Work, error)

	// Due lists up to limit agents with user messages that wait for a reply
	// and no lease holder, the agents whose work waited longest first: a
	// replica that crashed mid-reply leaves them so once its lease expires,
	// and every replica looks for them (the agent service's sweep).
	Due(ctx context.Context, limit int) ([]string, error)
}

// Runs hold the progress of the reply being written to each agent, and
// carry CancelRun to its writer.
type Runs interface {
	// PublishRun delivers an ephemeral event (seq 0) of the run being
	// written under lease (a run_started, text_delta or tool call event)
	// to the agent's subscribers on every replica, without storing it in
	// the log. It may return before the event is delivered, but what the
	// caller appends or publishes afterwards reaches subscribers after it.
	//
	// It also records the event as the agent's run progress, which Run
	// returns: a run_started, or a step_started, begins the progress anew
	// if lease is held (so the progress is the step being written), and the
	// run's later events are added to it. The progress is gone
	// once AppendReply appends a reply, or when the lease expires, so a
	// run whose writer died is not shown for long. An event published
	// without the lease is delivered all the same, and not recorded.
	PublishRun(ctx context.Context, lease Lease, ev *agentv1.AgentEvent) error

	// Run returns the agent's active run so far, compacted; none if no
	// reply is being written. It starts with the run_started, or the
	// step_started of the step being written (the earlier steps are
	// persisted); then
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
	// stop it: the listeners of Broker.SubscribeCancels, on every replica,
	// are called with the run's id. With no active run, a paused run is
	// closed instead, at once: the events given for that
	// (Pending.Cancelled, RunAppend.Closing) are appended. If runID is not
	// empty it must be that run. It returns the id of the run asked to stop
	// or closed, or ErrNoRun.
	CancelRun(ctx context.Context, agentID, runID string) (string, error)

	// PendingCall returns what the paused run waits for under key
	// (CallKey, InterruptKey), and false if nothing is pending under it.
	PendingCall(ctx context.Context, agentID, key string) (PendingCall, bool, error)

	// AnswerCall appends a.Events, the answer to what is pending under
	// a.Key, if it is pending and waits for a.Kind (ErrNotPending,
	// ErrAwaitsResult, ErrAwaitsDecision otherwise) and, when a.ApprovalID
	// is set, is that approval (ErrApprovalMismatch); the key is answered
	// then, once. If it was the last answer the run waited for, the run
	// becomes resumable (Answered.Resumed): the agent is due, and, if
	// a.Claim has a TTL and the lease is free, the caller takes it with
	// the Work, which holds the run (Page.Resume).
	AnswerCall(ctx context.Context, agentID string, a Answer) (Answered, error)
}

// Broker fans the agents' live events out to subscriptions on every
// replica, through one local fan-out per engine (see localSubs).
type Broker interface {
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
	// and Err tell. The agent's replier holds one while it lives.
	SubscribeCancels(ctx context.Context, agentID string, onCancel func(runID string)) (Subscription, error)
}

// Parts is an Engine made of parts, each embedded part answering its own
// methods: a wrapper of some parts (the metrics) puts them back together
// with the rest.
type Parts struct {
	Log
	Leases
	Runs
	Broker
	Store
}

var _ Engine = Parts{}

// AppendOptions tune AppendUser.
type AppendOptions struct {
	// IdempotencyKey, if not empty, makes the append idempotent: a message
	// appended before with the same key is returned instead, and nothing
	// is appended.
	IdempotencyKey string
	// Claim, if its TTL is set, takes the agent's reply lease with the
	// append when it is free (see Appended.Work).
	Claim Claim
	// Begin, if it is a run_started, is the start of the run that will
	// answer the message, made by a caller that writes that run itself: its run id,
	// message id, create_time and run_seq are kept; its reply_to_seq and
	// epoch are the engine's to set. If the append takes the lease
	// (Claim) and the message is the one its holder answers first (no
	// older message waits, no paused run goes on before it), the run
	// begins in the same step: the run_started, with reply_to_seq the
	// message's seq and the log's epoch, becomes the run's progress under
	// the lease and is delivered right after the message, as PublishRun
	// would, and Work.Begun is it. Otherwise nothing begins, and the
	// caller publishes its run's start itself. A caller that gives Begin
	// listens for cancels (Broker.SubscribeCancels) before it appends: a
	// CancelRun finds the run from then on.
	Begin *agentv1.AgentEvent
}

// Claim asks for the reply lease with the work it comes with.
type Claim struct {
	// TTL is how long the lease is taken, or kept, for. Zero asks for
	// nothing.
	TTL time.Duration
	// Context is how many events before the oldest waiting message the
	// Work carries, so that its holder can give the responder that
	// message's conversation without reading the log again.
	Context int
}

// WorkEvents is how many events a Work carries beyond Claim.Context: the
// waiting messages of a burst, and the replies around them.
const WorkEvents = 64

// Work is an agent's reply lease, held by the caller, and the log as its
// holder needs it to answer: Page holds the events from Claim.Context
// events before the oldest user message that waits (those after
// Page.Answered wait, and the one of Page.Resume, whose run goes on, comes
// first), at most Claim.Context+WorkEvents of them, with the log's bounds. Messages past the page are answered in turn: each reply
// hands back the next Work (AppendReply), and Settle tells the rest.
type Work struct {
	Lease Lease
	Page  Page
	// Begun, if not nil, is the run_started the append began the run of
	// the message it appended with (AppendOptions.Begin): that run's
	// progress holds it, and subscribers have it.
	Begun *agentv1.AgentEvent
}

// Appended is what an append did.
type Appended struct {
	// Event is the stored event: the earlier one for a Duplicate.
	Event *agentv1.AgentEvent
	// Duplicate is set when AppendUser found the idempotency key used,
	// and appended nothing.
	Duplicate bool
	// Work, if not nil, is the agent's reply lease, held now by the
	// caller, and what waits for it (see Claim).
	Work *Work
}

// RunEnd says what an AppendRun does to its run.
type RunEnd int

// The ends of an AppendRun.
const (
	// RunGoesOn: the events are a step (or results) after which the run
	// goes on under the same lease.
	RunGoesOn RunEnd = iota
	// RunEnds: the run's last events. The message counts as answered (a
	// run resumed is no longer to resume) and the lease is settled as
	// AppendReply settles it.
	RunEnds
	// RunPauses: the run waits for RunAppend.Pending. The message counts
	// as answered and the lease is settled, as for RunEnds.
	RunPauses
)

// RunAppend says what an AppendRun appends under, and what it does.
type RunAppend struct {
	// Lease must be the agent's current lease.
	Lease Lease
	// Answers is the seq of the user message the run answers.
	Answers uint64
	// End is what the append does to the run.
	End RunEnd
	// With RunPauses: the run's id (CancelRun names it), what it waits
	// for, and Closing, the message that ends it if it is closed before
	// every answer came (by a user message or CancelRun), appended after
	// the closing results of what was still pending.
	RunID   string
	Pending []Pending
	Closing *agentv1.AgentEvent
	// Next settles the lease with RunEnds and RunPauses, as AppendReply's
	// next does.
	Next Claim
}

// Pending is one answer a paused run waits for.
type Pending struct {
	// Key names it: CallKey of a tool call, InterruptKey of an upstream
	// interrupt that holds no call.
	Key string
	// Call is what is kept of it, for PendingCall.
	Call PendingCall
	// MovedOn and Cancelled are what closing the run appends for it,
	// without create_time (the store stamps it): when a user message
	// comes first, or CancelRun. Nil appends nothing.
	MovedOn, Cancelled *agentv1.AgentEvent
}

// PendingKind is the kind of answer a pending key waits for.
type PendingKind string

// The kinds of answer.
const (
	// PendingResult: a client's tool result.
	PendingResult PendingKind = "result"
	// PendingDecision: a person's decision.
	PendingDecision PendingKind = "decision"
)

// PendingCall is what the store keeps of one pending answer: enough for
// the service to build the answer's events without reading the log.
type PendingCall struct {
	Kind PendingKind `json:"k"`
	// ApprovalID is the approval request's id, for a decision.
	ApprovalID string `json:"a,omitempty"`
	// RunID, MessageID and Step name the run and the step that asked;
	// ReplyTo is the seq of the user message the run answers.
	RunID     string `json:"r"`
	MessageID string `json:"m"`
	Step      uint32 `json:"p,omitempty"`
	ReplyTo   uint64 `json:"s"`
	// ToolCallID and Name are the call's, if the key is one;
	// InterruptID is the upstream interrupt's, if any.
	ToolCallID  string `json:"t,omitempty"`
	Name        string `json:"n,omitempty"`
	InterruptID string `json:"i,omitempty"`
	// Order is the answer's place among the step's, for the closing.
	Order int `json:"o"`
}

// CallKey is the Pending.Key of a tool call.
func CallKey(toolCallID string) string { return "c:" + toolCallID }

// InterruptKey is the Pending.Key of an upstream interrupt that holds no
// tool call.
func InterruptKey(interruptID string) string { return "i:" + interruptID }

// RunAppended is what an AppendRun did.
type RunAppended struct {
	// Events are the events as stored, in order.
	Events []*agentv1.AgentEvent
	// Closed is set when a run that would pause was closed at once,
	// since a newer user message waits.
	Closed bool
	// Work, if not nil, is the lease kept with what waits (see Claim).
	Work *Work
}

// Answer is an answer to what a paused run waits for.
type Answer struct {
	// Key is what it answers (Pending.Key); Kind the kind of answer.
	Key  string
	Kind PendingKind
	// ApprovalID, if set, must be the pending approval's.
	ApprovalID string
	// Events are appended, in order, if the key is answered.
	Events []*agentv1.AgentEvent
	// Claim takes the lease with the run, if this answer makes it
	// resumable and the lease is free.
	Claim Claim
}

// Answered is what AnswerCall did.
type Answered struct {
	// Events are the answer's events as stored.
	Events []*agentv1.AgentEvent
	// Resumed is set when this was the last answer: the run goes on.
	Resumed bool
	// Work, if not nil, is the lease taken with the run.
	Work *Work
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
	// Answered is the seq of the newest user message that has an answer
	// (a run that paused counts as one).
	Answered uint64
	// Resume is the seq of the user message whose paused run has every
	// answer it waited for and goes on (see Runs.AnswerCall), 0 if none:
	// the lease holder continues it before any later message.
	Resume uint64
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
	case *agentv1.AgentEvent_StepStarted:
		return k.StepStarted.GetRunId()
	case *agentv1.AgentEvent_ToolCallDecision:
		return k.ToolCallDecision.GetRunId()
	case *agentv1.AgentEvent_ToolApprovalRequest:
		return k.ToolApprovalRequest.GetRunId()
	}
	return ""
}

// BeginsStep reports whether ev, an ephemeral event, begins a step's
// progress (see Runs.PublishRun): a run_started or a step_started.
func BeginsStep(ev *agentv1.AgentEvent) bool {
	return ev.GetRunStarted() != nil || ev.GetStepStarted() != nil
}

// NewEpoch returns a fresh log epoch: 128 random bits, so that two logs of
// one agent never share one, whichever replica created them.
func NewEpoch() string { return rand.Text() }

// Config holds the settings every engine shares.
type Config struct {
	// HistoryLimit is how many persisted events each agent keeps; older ones
	// are trimmed. Default DefaultHistoryLimit.
	HistoryLimit int
	// SubscriberBuffer is how many events may wait for one subscriber before
	// it is dropped (see Queue: the memory is taken only while they wait).
	// Default 1024.
	SubscriberBuffer int
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// DefaultHistoryLimit is Config.HistoryLimit's default, and HISTORY_LIMIT's:
// a thousand events are some five hundred exchanges, more than any
// conversation a client scrolls back through, at a few hundred KB an agent.
const DefaultHistoryLimit = 1000

// WithDefaults returns c with zero fields set to their defaults.
func (c Config) WithDefaults() Config {
	if c.HistoryLimit <= 0 {
		c.HistoryLimit = DefaultHistoryLimit
	}
	if c.SubscriberBuffer <= 0 {
		c.SubscriberBuffer = 1024
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}
