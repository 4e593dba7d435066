package engine

import "strings"

// keyspace names the Redis keys of one deployment. Every key starts with the
// configured prefix, so that several deployments (or tests) can share one
// Redis.
//
// An agent's keys share the hash tag {agent:<id>}, so they live together.
// Agent ids cannot contain braces (see agent.ValidateID), which keeps the
// tag intact. Only the agents index, the due index and the replica
// liveness keys are global; the scripts that append, settle and delete
// touch the indexes with the agent's keys, in one step, which one Redis
// (standalone or behind Sentinel) allows and a Cluster would not: the
// engine does not support Redis Cluster.
type keyspace struct {
	prefix string
}

// agentKeys are the keys and the pub/sub channel of one agent.
type agentKeys struct {
	// meta is a hash: last (the newest seq), user (the newest user
	// message's seq), answered, created and active (Config.Now in Unix
	// nanoseconds, kept as decimal strings so that Lua's floating-point
	// numbers never round them), and epoch (the log's epoch, set when the
	// hash is created, so a log that Redis lost comes back with a new one).
	// Messages wait for a reply while user is greater than answered.
	meta string
	// log is a list of the retained events, oldest first, each encoded as
	// protobuf. Only the append scripts write it, so element i always holds
	// seq last-len+1+i: Read computes positions instead of searching.
	log string
	// idem is a hash from idempotency key to the stored user event. It is not
	// trimmed with the log, so that a late retry still finds its original.
	idem string
	// lease is a string holding the reply lease's token, with a TTL.
	lease string
	// run is a list holding the active run's progress: its run id, then its
	// events as published, each encoded as protobuf, except text and
	// argument deltas, which are compact records (see redis_run.go). It
	// expires with the lease and is deleted when a reply is appended.
	run string
	// subs is a hash from replica epoch to that replica's count of client
	// subscriptions (see presence).
	subs string
	// calls is a hash of what the paused run waits for: from each
	// Pending.Key to its PendingCall as JSON, which the scripts read with
	// cjson. It exists while a run is paused; meta's paused field is the
	// seq of the message that run answers, pausedrun its run id, and
	// resume the seq of a run that has every answer and goes on.
	calls string
	// closes is a hash of the events that close the paused run: "m" and a
	// key for its closing result when a user message comes first, "c" and
	// a key for CancelRun's, and "end" for the message that ends the run;
	// each encoded as the append scripts store events, without create_time
	// (the closing stamps it).
	closes string
	// channel carries the agent's live events to every replica, and its
	// deletion.
	channel string
	// control carries CancelRun and the agent's deletion to the cancel
	// listeners (Broker.SubscribeCancels) of every replica. It is a
	// channel of its own so that a replica whose only interest in the
	// agent is its replier's listener receives none of the agent's
	// events: nobody there would take them.
	control string
}

// agent returns the agent's keys, all of them slices of one string: every
// call of the engine names its agent's keys, and eleven allocations a
// call were more than the rest of some calls took.
func (k keyspace) agent(id string) agentKeys {
	suffixes := [...]string{"meta", "log", "idem", "lease", "run", "subs", "calls", "closes", "events", "control"}
	n := 0
	for _, s := range suffixes {
		n += len(s)
	}
	base := len(k.prefix) + len("{agent:") + len(id) + len("}:")
	var b strings.Builder
	b.Grow(len(suffixes)*base + n)
	var keys [len(suffixes)][2]int // each key's bounds in b
	for i, s := range suffixes {
		keys[i][0] = b.Len()
		b.WriteString(k.prefix)
		b.WriteString("{agent:")
		b.WriteString(id)
		b.WriteString("}:")
		b.WriteString(s)
		keys[i][1] = b.Len()
	}
	all := b.String()
	key := func(i int) string { return all[keys[i][0]:keys[i][1]] }
	return agentKeys{
		meta:    key(0),
		log:     key(1),
		idem:    key(2),
		lease:   key(3),
		run:     key(4),
		subs:    key(5),
		calls:   key(6),
		closes:  key(7),
		channel: key(8),
		control: key(9),
	}
}

// index is a sorted set of agent ids, all with score 0, so that ZRANGEBYLEX
// pages them in id order for List.
func (k keyspace) index() string { return k.prefix + "agents" }

// due is a sorted set of the agents whose user messages wait for a reply
// (or whose paused run has every answer), scored by the Unix millisecond
// their waiting began: append_user.lua and answer_call.lua add an agent, a
// settle that finds nothing waiting (lua/log.lua) removes it,
// and Leases.Due lists those of its agents whose lease nobody holds.
func (k keyspace) due() string { return k.prefix + "due" }

// replica is the liveness key of one replica epoch (see presence).
func (k keyspace) replica(epoch string) string { return k.prefix + "replica:" + epoch }

// Messages on an agent's channels start with one byte that says what
// follows. Events go on its channel, cancels on its control channel, and
// deletions on both.
const (
	msgEvent   = 'e' // a protobuf AgentEvent, persisted (seq > 0) or ephemeral
	msgDeleted = 'd' // the agent was deleted; nothing follows
	msgCancel  = 'c' // CancelRun: the run id follows
)
